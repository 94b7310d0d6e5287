/* The till in a staff member's pocket (owners and cashiers): scan the member's card (Telegram's
   scanner where the client has it, else type the number), record the sale for the staff
   member's store, redeem a coupon or reward code, refund a sale of today. The page makes one
   order id per sale, so a double tap records once; every rule is the server's. */
(function () {
  "use strict";
  var STORE_KEY = "loyalty.till.store";

  function newId(prefix) {
    var random = window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    return prefix + "-" + random;
  }

  LoyaltyApp.registerScreen("till", {
    tab: { icon: "⌨", wordKey: "till.tab", order: 90 },
    when: function (me) {
      return !!(me && me.staff && (me.staff.role === "owner" || me.staff.role === "cashier"));
    },
    render: function (container, ctx) {
      var el = ctx.el, t = ctx.t;
      var sale = { member: null, qr: null, orderId: newId("sale") };
      var store = null; // the code of an owner's picked store; null: their own
      var refundIds = {};

      var result = el("p", { "data-role": "till-result", role: "status" });
      var storeLine = el("div", { class: "section", "data-role": "till-store" });
      var memberInput = el("input", { inputmode: "numeric", autocomplete: "off", placeholder: t("till.member_placeholder"), "data-role": "till-member-input" });
      var memberBox = el("div", { class: "section", "data-role": "till-member", hidden: true });
      var amountInput = el("input", { inputmode: "decimal", autocomplete: "off", placeholder: t("till.amount_placeholder"), "data-role": "till-amount" });
      var recordButton = el("button", { type: "button", "data-role": "till-record", text: t("till.record"), onclick: record });
      var codeInput = el("input", { autocomplete: "off", placeholder: t("till.coupon_code"), "data-role": "till-code" });
      var todayList = el("div", { "data-role": "till-today" });

      var scan = ctx.canScan()
        ? el("button", { type: "button", "data-role": "till-scan", text: t("till.scan"), onclick: scanCard })
        : null;

      container.replaceChildren(
        el("h1", { text: t("till.title") }),
        storeLine,
        el("div", { class: "section" }, [
          scan,
          el("label", { text: scan ? t("till.or_type") : t("till.member_placeholder") }),
          el("div", { class: "field" }, [memberInput, el("button", { type: "button", class: "secondary", text: t("till.look_up"), "data-role": "till-look-up", onclick: function () { lookUp(memberInput.value); } })]),
        ]),
        memberBox,
        el("div", { class: "section" }, [
          el("label", { text: t("till.amount") }),
          amountInput,
          el("p", {}, [recordButton]),
          el("label", { text: t("till.coupon_code") }),
          el("div", { class: "field" }, [codeInput, el("button", { type: "button", class: "secondary", "data-role": "till-redeem", text: t("till.redeem"), onclick: redeem })]),
        ]),
        result,
        el("h2", { text: t("till.today") }),
        todayList
      );

      function say(text, isError) {
        result.textContent = text;
        result.className = isError ? "error" : "ok";
        ctx.haptic(isError ? "error" : "success");
      }

      function failed(error) {
        say((error && error.message) || t("app.error"), true);
      }

      function withStore(body) {
        if (store) body.store = store;
        return body;
      }

      function scanCard() {
        ctx.scanQr(t("till.scan")).then(function (text) {
          if (text) lookUp(text);
        });
      }

      function lookUp(text) {
        text = String(text || "").trim();
        if (!text) return;
        return ctx.api("/till/lookup", { method: "POST", body: withStore({ qr: text }) }).then(function (member) {
          sale.member = member;
          sale.qr = text;
          memberBox.hidden = false;
          var coupons = (member.coupons || []).map(function (coupon) {
            return el("div", { class: "row", "data-coupon": coupon.code }, [
              el("span", { text: coupon.name }),
              el("button", { type: "button", class: "secondary", text: coupon.code, onclick: function () { codeInput.value = coupon.code; } }),
            ]);
          });
          memberBox.replaceChildren.apply(memberBox, [
            el("p", { "data-role": "till-member-name", text: t("till.member", { name: member.first_name || member.number, tier: member.tier_name, points: member.balance }) }),
            member.blocked ? el("p", { class: "error", text: t("app.blocked") }) : null,
            coupons.length ? el("h2", { text: t("till.coupons") }) : null,
          ].filter(Boolean).concat(coupons));
          result.textContent = "";
        }, failed);
      }

      function amount() {
        var minor = ctx.parseMoney(amountInput.value, ctx.me.currency);
        if (minor === null || minor <= 0) { say(t("till.bad_amount"), true); return null; }
        return minor;
      }

      function record() {
        if (!sale.qr) { say(t("till.scan"), true); return; }
        var minor = amount();
        if (minor === null) return;
        recordButton.disabled = true;
        // The same order id until the sale is done: a second tap, or a retry after a lost
        // answer, gets the first answer back instead of a second sale.
        return ctx.api("/till/purchases", { method: "POST", body: withStore({ qr: sale.qr, amount_minor: minor, order_id: sale.orderId }) })
          .then(function (done) {
            say(t("till.recorded", { amount: ctx.money(done.amount_minor, done.currency), points: done.points_earned + done.bonus_points }));
            nextSale();
            loadToday();
          }, failed)
          .then(function () { recordButton.disabled = false; });
      }

      function redeem() {
        var code = codeInput.value.trim();
        if (!code) return;
        var isReward = /^rw/i.test(code);
        var body;
        if (isReward) {
          body = withStore({ code: code });
        } else {
          var minor = amount();
          if (minor === null) return;
          body = withStore({ code: code, amount_minor: minor, order_id: sale.orderId, qr: sale.qr });
        }
        return ctx.api(isReward ? "/till/rewards/redeem" : "/till/coupons/redeem", { method: "POST", body: body }).then(function (done) {
          var what = isReward ? done.reward : done.code + " −" + ctx.money(done.discount_minor, done.currency);
          say(t("till.redeemed", { what: what }));
          codeInput.value = "";
        }, failed);
      }

      function nextSale() {
        sale = { member: null, qr: null, orderId: newId("sale") };
        memberBox.hidden = true;
        memberInput.value = "";
        amountInput.value = "";
      }

      function refund(purchase, amountField) {
        var minor = null;
        if (amountField.value.trim()) {
          minor = ctx.parseMoney(amountField.value, purchase.currency);
          if (minor === null || minor <= 0) { say(t("till.bad_amount"), true); return; }
        }
        var key = purchase.order_id + ":" + (minor === null ? "all" : minor);
        refundIds[key] = refundIds[key] || newId("refund");
        var body = withStore({ order_id: purchase.order_id, refund_id: refundIds[key] });
        if (minor !== null) body.amount_minor = minor;
        return ctx.api("/till/refunds", { method: "POST", body: body }).then(function (done) {
          delete refundIds[key];
          say(t("till.refunded", { amount: ctx.money(done.amount_minor, done.currency) }));
          loadToday();
        }, failed);
      }

      function loadToday() {
        var query = store ? "?store=" + encodeURIComponent(store) : "";
        return ctx.api("/till/today" + query).then(function (today) {
          if (!today.purchases.length) {
            todayList.replaceChildren(el("p", { class: "muted", text: t("till.nothing_today") }));
            return;
          }
          todayList.replaceChildren.apply(todayList, today.purchases.map(function (purchase) {
            var left = purchase.amount_minor - purchase.refunded_minor;
            var amountField = el("input", { inputmode: "decimal", placeholder: t("till.refund_amount"), "aria-label": t("till.refund_amount") });
            return el("div", { class: "section", "data-order": purchase.order_id }, [
              el("div", { class: "row" }, [
                el("span", { text: purchase.member_number }),
                el("strong", { text: ctx.money(purchase.amount_minor, purchase.currency) }),
              ]),
              left > 0 ? el("div", { class: "field" }, [amountField, el("button", { type: "button", class: "secondary", text: t("till.refund"), onclick: function () { refund(purchase, amountField); } })]) : null,
            ]);
          }));
        }, function () { todayList.replaceChildren(); });
      }

      function drawStores() {
        return ctx.api("/till/stores").then(function (answer) {
          if (answer.fixed) {
            storeLine.replaceChildren(el("span", { class: "muted", text: t("till.store") + ": " }), el("strong", { text: answer.stores[0].name }));
            return;
          }
          if (!answer.stores.length) {
            storeLine.replaceChildren(el("p", { class: "error", text: t("till.no_store") }));
            return;
          }
          var remembered = sessionStorage.getItem(STORE_KEY);
          store = answer.stores.some(function (s) { return s.code === remembered; }) ? remembered : answer.stores[0].code;
          var select = el("select", {
            "data-role": "till-store-select", "aria-label": t("till.pick_store"),
            onchange: function () { store = select.value; sessionStorage.setItem(STORE_KEY, store); loadToday(); },
          }, answer.stores.map(function (s) { return el("option", { value: s.code, selected: s.code === store, text: s.name }); }));
          storeLine.replaceChildren(el("label", { text: t("till.pick_store") }), select);
        });
      }

      return drawStores().then(loadToday);
    },
  });
})();
