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
      var invite = el("div", { class: "section", "data-role": "invite", hidden: true });
      container.replaceChildren(
        el("h1", { text: ctx.t("card.title") }),
        el("div", { class: "section center" }, [qr, el("p", { class: "muted", text: ctx.t("card.qr_hint") })]),
        blocked,
        el("div", { class: "section" }, [
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.balance") }), balance]),
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.tier") }), tier]),
          el("div", { class: "row" }, [el("span", { class: "muted", text: ctx.t("card.number") }), number]),
        ]),
        invite
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

      // While the merchant's referral program is on: the member's link, through Telegram's share
      // dialog (the chat's /invite gives the same link).
      function offerInvite(answer) {
        if (!answer.share_url) return;
        invite.replaceChildren(
          el("p", { class: "muted", text: ctx.t("card.invite_hint") }),
          el("button", {
            type: "button", class: "secondary", text: ctx.t("card.invite"), "data-role": "invite-share",
            onclick: function () {
              if (ctx.tg && ctx.tg.openTelegramLink && ctx.supports("6.1")) ctx.tg.openTelegramLink(answer.share_url);
              else window.location.href = answer.share_url;
            },
          })
        );
        invite.hidden = false;
      }

      ctx.every(REFRESH_MS, load);
      ctx.api("/invite").then(offerInvite, function () { /* the card stands without it */ });
      return load();
    },
  });
})();
