/* Coupons: the member's usable coupons, soonest-ending first, each with what it is worth and
   where it works (the chat's /coupons wording), and its code with a QR for the till. */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("coupons", key, vars);

  function worth(c) {
    let text;
    if (c.kind === "percent_off") text = w("percent_off", { value: kit.number(c.value) });
    else if (c.kind === "amount_off") text = w("amount_off", { money: kit.money(c.value, c.currency) });
    else if (c.kind === "free_item") text = w("free_item", { money: kit.money(c.value, c.currency) });
    else text = w("points_multiplier", { value: kit.number(c.value / 100) });
    return c.min_spend_minor ? text + w("min_spend", { money: kit.money(c.min_spend_minor, c.currency) }) : text;
  }

  function where(c) {
    if (c.stores.length) {
      return w("at_stores", { stores: c.stores.slice(0, 3).join(", ") }) + (c.stores.length > 3 ? w("and_more", { count: c.stores.length - 3 }) : "");
    }
    if (c.cities.length) return w("in_cities", { cities: c.cities.join(", ") });
    return w("everywhere");
  }

  function when(c, today) {
    return (c.valid_from > today ? w("from", { day: kit.day(c.valid_from) }) : "") + w("until", { day: kit.day(c.valid_until) });
  }

  async function showList(container) {
    const app = window.LoyaltyApp;
    kit.leave();
    const found = await app.api("/coupons");
    container.replaceChildren(el("section", { class: "screen coupons" },
      el("h2", {}, w("title")),
      found.data.length
        ? el("ul", { id: "coupons", class: "cards" }, found.data.map((c) =>
            el("li", { class: "coupon", dataset: { coupon: c.id } },
              el("div", { class: "coupon-name" }, c.name),
              el("div", { class: "coupon-worth" }, worth(c)),
              el("div", { class: "hint" }, when(c, found.today), ", ", where(c)),
              el("button", { type: "button", class: "secondary show-code", on: { click: () => showCoupon(container, c.id, found.today) } }, w("show_code")))))
        : el("p", { id: "coupons-empty", class: "hint" }, w("empty"))));
  }

  async function showCoupon(container, id, today) {
    const app = window.LoyaltyApp;
    const message = el("p", { class: "warn", role: "alert" });
    let c;
    try {
      c = await app.api(`/coupons/${encodeURIComponent(id)}`);
    } catch (error) {
      message.textContent = kit.refusal("coupons", error);
      container.prepend(message);
      return;
    }
    kit.leave();
    kit.showBack(() => showList(container));
    container.replaceChildren(el("section", { class: "screen coupons" },
      el("div", { id: "coupon-code", class: "code-box", dataset: { code: c.code } },
        el("h2", {}, c.name),
        el("p", { class: "coupon-worth" }, worth(c)),
        kit.qr(c.code, c.qr_svg),
        el("p", { class: "code" }, w("code", { code: c.code })),
        el("p", { class: "hint" }, w("hint")),
        el("p", { class: "hint" }, when(c, today), ", ", where(c)),
        c.description ? el("p", {}, c.description) : null),
      el("button", { type: "button", class: "secondary", on: { click: () => showList(container) } }, w("back"))));
  }

  kit.register("coupons", { tab: { icon: "🎟", wordKey: "coupons.tab", order: 50 }, render: showList });
})();
