/* Stores: by city and name, or nearest first once the member lets the device share its location
   (Telegram's LocationManager on 8.0+, else the browser's geolocation); each with whether it is
   open and until when, its hours, and directions opened with Telegram.WebApp.openLink. */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("stores", key, vars);
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function where() {
    const webApp = window.Telegram && window.Telegram.WebApp;
    if (kit.supports("8.0") && webApp.LocationManager) {
      const manager = webApp.LocationManager;
      return new Promise((resolve) => {
        const ask = () => manager.getLocation((place) => resolve(place ? { latitude: place.latitude, longitude: place.longitude } : null));
        if (manager.isInited) ask();
        else manager.init(ask);
      });
    }
    if (!navigator.geolocation) return Promise.resolve(null);
    return new Promise((resolve) => navigator.geolocation.getCurrentPosition(
      (position) => resolve({ latitude: position.coords.latitude, longitude: position.coords.longitude }),
      () => resolve(null), { timeout: 15000, maximumAge: 60000 }));
  }

  function distance(metres) {
    if (metres === null || metres === undefined) return null;
    return metres < 1000 ? w("distance_m", { distance: kit.number(Math.round(metres)) })
      : w("distance_km", { distance: new Intl.NumberFormat(kit.locale(), { maximumFractionDigits: 1 }).format(metres / 1000) });
  }

  function openness(store) {
    if (store.open_now) return store.closes_at ? w("open_until", { time: kit.clockTime(store.closes_at) }) : w("open");
    if (!store.opens_at) return w("closed");
    const today = store.opens_at.slice(0, 10) === new Date().toISOString().slice(0, 10);
    return w("closed_until", { time: today ? kit.clockTime(store.opens_at) : `${kit.day(store.opens_at)} ${kit.clockTime(store.opens_at)}` });
  }

  function hours(store) {
    if (!store.hours) return null;
    return el("details", { class: "hours" }, el("summary", {}, w("hours")),
      el("ul", { class: "plain" }, DAYS.filter((d) => store.hours[d]).map((d) =>
        el("li", {}, `${w(`days.${d}`)} ${store.hours[d].map((span) => span.join("–")).join(", ")}`))));
  }

  function card(store) {
    return el("li", { class: "store", dataset: { store: store.id } },
      el("div", { class: "store-name" }, store.name, store.distance_m !== null ? el("span", { class: "hint distance" }, " · ", distance(store.distance_m)) : null),
      el("div", { class: "hint" }, [store.city, store.address].filter(Boolean).join(" · ")),
      el("div", { class: store.open_now ? "ok open" : "warn open" }, openness(store)),
      hours(store),
      store.directions_url
        ? el("button", { type: "button", class: "secondary directions", on: { click: () => kit.openLink(store.directions_url) } }, w("directions"))
        : null);
  }

  async function show(container, place, refused) {
    const app = window.LoyaltyApp;
    kit.leave();
    const query = place ? `?latitude=${encodeURIComponent(place.latitude)}&longitude=${encodeURIComponent(place.longitude)}` : "";
    const found = await app.api(`/stores${query}`);
    const near = el("button", { type: "button", id: "stores-near", on: { click: async () => {
      near.disabled = true;
      const here = await where();
      await show(container, here, here === null);
    } } }, w("use_location"));
    container.replaceChildren(el("section", { class: "screen stores" },
      el("h2", {}, w("title")),
      found.nearest_first ? el("p", { class: "hint", id: "stores-order" }, w("nearest")) : near,
      refused ? el("p", { class: "hint" }, w("location_refused")) : null,
      found.data.length ? el("ul", { id: "stores", class: "cards" }, found.data.map(card)) : el("p", { class: "hint" }, w("empty"))));
  }

  kit.register("stores", { tab: { icon: "📍", wordKey: "stores.tab", order: 60 }, render: (container) => show(container, null, false) });
})();
