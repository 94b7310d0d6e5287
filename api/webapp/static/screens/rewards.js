/* Rewards: the catalogue with each reward's cost and whether the member can have it; a reward's
   page where Telegram's MainButton says "Redeem for 300 points" and pressing it redeems (one
   idempotency key per confirmation: a double press redeems once); then the code and its QR for
   the till. The member's unused codes are listed below the catalogue. */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("rewards", key, vars);
  const points = (n) => w("price", { points: kit.number(n) });

  function status(offer) {
    if (offer.reason === "tier") return w("needs_tier", { tier: offer.required_tier || "" });
    if (offer.reason === "out_of_stock") return w("out_of_stock");
    if (offer.reason === "insufficient_points") return w("short", { points: kit.number(offer.points_short) });
    return offer.stock !== null ? w("in_stock", { count: kit.number(offer.stock) }) : "";
  }

  function card(offer, open) {
    return el("li", { class: offer.can_redeem ? "reward" : "reward unavailable", dataset: { reward: offer.id } },
      el("button", { type: "button", class: "row", on: { click: () => open(offer.id) } },
        el("span", { class: "reward-name" }, offer.name),
        el("span", { class: "reward-price" }, points(offer.points_price)),
        el("span", { class: "hint reward-status" }, status(offer))));
  }

  function codeView(redeemed, heading) {
    return el("div", { id: "reward-code", class: "code-box", dataset: { code: redeemed.code } },
      el("p", { class: "ok" }, heading),
      el("h3", {}, redeemed.reward),
      kit.qr(redeemed.code, redeemed.qr_svg),
      el("p", { class: "code" }, w("code", { code: redeemed.code })),
      redeemed.balance !== undefined ? el("p", { class: "hint" }, w("balance_after", { points: kit.number(redeemed.balance) })) : null);
  }

  async function showCatalogue(container) {
    const app = window.LoyaltyApp;
    kit.leave();
    const [page, codes] = await Promise.all([app.api("/rewards"), app.api("/rewards/codes")]);
    const open = (id) => showReward(container, id);
    container.replaceChildren(
      el("section", { class: "screen rewards" },
        el("h2", {}, w("title")),
        el("p", { id: "rewards-available", class: "big" }, w("available", { points: kit.number(page.available) })),
        page.data.length
          ? el("ul", { id: "catalogue", class: "cards" }, page.data.map((offer) => card(offer, open)))
          : el("p", { class: "hint" }, w("empty")),
        el("h3", {}, w("my_codes")),
        codes.length
          ? el("ul", { id: "my-codes", class: "cards" }, codes.map((own) =>
              el("li", { dataset: { redemption: own.id } },
                el("button", { type: "button", class: "row", on: { click: () => showCode(container, own.id) } },
                  el("span", {}, own.reward), el("span", { class: "hint" }, own.code)))))
          : el("p", { class: "hint" }, w("no_codes"))));
  }

  async function showCode(container, id) {
    const own = await window.LoyaltyApp.api(`/rewards/codes/${encodeURIComponent(id)}`);
    kit.leave();
    kit.showBack(() => showCatalogue(container));
    container.replaceChildren(el("section", { class: "screen rewards" }, codeView(own, w("redeemed")), back(container)));
  }

  function back(container) {
    return el("button", { type: "button", class: "secondary", id: "rewards-back", on: { click: () => showCatalogue(container) } }, w("back"));
  }

  async function showReward(container, id) {
    const app = window.LoyaltyApp;
    const offer = await app.api(`/rewards/${encodeURIComponent(id)}`);
    kit.leave();
    kit.showBack(() => showCatalogue(container));
    const message = el("p", { id: "reward-message", class: "warn", role: "alert" });
    const section = el("section", { class: "screen rewards", id: "reward", dataset: { reward: offer.id } },
      el("h2", {}, offer.name),
      offer.description ? el("p", {}, offer.description) : null,
      el("p", { class: "big" }, points(offer.points_price)),
      offer.cash_value_minor ? el("p", { class: "hint" }, w("worth", { money: kit.money(offer.cash_value_minor, offer.currency) })) : null,
      el("p", { class: "hint" }, status(offer)),
      message, back(container));
    container.replaceChildren(section);
    if (!offer.can_redeem) return;
    const key = kit.newKey(); // made once for this confirmation
    let pending = null;
    const press = () => {
      // A second press while the first is on its way waits for the same answer.
      pending = pending || redeem(container, offer, key, message).finally(() => { pending = null; });
      return pending;
    };
    if (!kit.showMain(w("redeem_for", { points: kit.number(offer.points_price) }), press)) {
      message.textContent = w("no_button");
    } else {
      section.insertBefore(el("p", { class: "hint" }, w("confirm_hint")), message);
    }
  }

  async function redeem(container, offer, key, message) {
    const app = window.LoyaltyApp;
    kit.busy(true);
    try {
      const redeemed = await app.api(`/rewards/${encodeURIComponent(offer.id)}/redeem`, {
        method: "POST", body: { points_price: offer.points_price }, headers: { "Idempotency-Key": key },
      });
      kit.haptic("success");
      kit.hideMain();
      container.replaceChildren(el("section", { class: "screen rewards" },
        codeView(redeemed, redeemed.replayed ? w("already") : w("redeemed")), back(container)));
    } catch (error) {
      kit.busy(false);
      kit.haptic("error");
      message.textContent = kit.refusal("rewards", error);
      const body = (error && error.body) || {};
      if (body.code !== "idempotency_conflict" && body.reason !== "price_changed") return;
      kit.hideMain(); // this confirmation cannot go through: look again
    }
  }

  kit.register("rewards", { tab: { icon: "🎁", wordKey: "rewards.tab", order: 40 }, render: showCatalogue });
})();
