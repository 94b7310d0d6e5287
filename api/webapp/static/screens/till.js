/* The till in a staff member's pocket (owners and cashiers): scan the member's card, record a
   purchase for the staff member's store, redeem a code, refund today's sale. */
(function () {
  "use strict";

  LoyaltyApp.registerScreen("till", {
    tab: { icon: "⌨", wordKey: "till.tab", order: 90 },
    when: function (me) {
      return !!(me && me.staff && (me.staff.role === "owner" || me.staff.role === "cashier"));
    },
    render: function (container, ctx) {
      container.replaceChildren(ctx.el("h1", { text: ctx.t("till.title") }));
    },
  });
})();
