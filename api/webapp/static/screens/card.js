/* The member's card: number, tier, balance, and a QR that changes every minute. The QR holds a
   short-lived signed token, not the member number: a screenshot passed around stops working. */
(function () {
  "use strict";
  var REFRESH_MS = 60 * 1000;

  LoyaltyApp.registerScreen("card", {
    tab: { icon: "▣", wordKey: "card.tab", order: 10 },
    render: function (container, ctx) {
      var el = ctx.el;
      var qr = el("img", { class: "qr", alt: ctx.t("card.qr_alt"), "data-role": "card-qr" });
      var number = el("span", { "data-role": "card-number" });
      var tier = el("span", { "data-role": "card-tier" });
      var balance = el("span", { class: "big", "data-role": "card-balance" });
      var blocked = el("p", { class: "error", text: ctx.t("app.blocked"), hidden: true });
      container.replaceChildren(
        el("h1", { text: ctx.t("card.title") }),
        el("div", { class: "section center" }, [qr, el("p", { class: "muted", text: ctx.t("card.qr_hint") })]),
        blocked,
        el("div", { class: "section" }, [
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.balance") }), balance]),
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.tier") }), tier]),
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.number") }), number]),
        ])
      );

      function draw(card) {
        qr.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(card.qr_svg);
        qr.dataset.token = card.qr;
        number.textContent = card.number;
        tier.textContent = card.tier_name;
        balance.textContent = String(card.balance);
        blocked.hidden = !card.blocked;
      }

      function load() {
        return ctx.api("/card").then(draw);
      }

      ctx.every(REFRESH_MS, load);
      return load();
    },
  });
})();
