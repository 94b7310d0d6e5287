/* Points history: the balance, what expires when, and every movement with its reason, older
   pages on demand (a keyset cursor from the server). */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("history", key, vars);

  function why(line) {
    const parts = [];
    if (line.order_id) parts.push(line.store ? w("order_at", { order: line.order_id, store: line.store }) : w("order", { order: line.order_id }));
    if (line.refund_id) parts.push(w("refund", { refund: line.refund_id }));
    if (line.reward) parts.push(w("reward", { reward: line.reward, code: line.redemption_code || "" }));
    if (line.reason) parts.push(line.reason);
    return parts.join(" · ");
  }

  function row(line) {
    const kind = kit.has("history", `kinds.${line.kind}`) ? w(`kinds.${line.kind}`) : line.kind;
    return el("li", { class: "line", dataset: { entry: line.id, kind: line.kind } },
      el("div", { class: "line-main" },
        el("span", { class: "line-kind" }, kind),
        el("span", { class: line.points > 0 ? "line-points plus" : "line-points minus" },
          `${line.points > 0 ? "+" : "−"}${kit.number(Math.abs(line.points))}`)),
      el("div", { class: "line-sub hint" },
        el("span", {}, kit.day(line.at)), " ", el("span", { class: "line-why" }, why(line))));
  }

  async function render(container) {
    const app = window.LoyaltyApp;
    kit.leave();
    const [points, first] = await Promise.all([app.api("/points"), app.api("/history")]);
    const expiring = points.expiring.length
      ? el("ul", { id: "expiring", class: "plain" },
          points.expiring.map((lot) => el("li", {}, w("expiring_line", { points: kit.number(lot.points), day: kit.day(lot.last_day) }))))
      : el("p", { id: "expiring", class: "hint" }, w("nothing_expiring"));
    const list = el("ul", { id: "history", class: "lines" });
    const more = el("button", { id: "history-more", class: "secondary", type: "button" }, w("more"));
    let cursor = null;
    function add(page) {
      list.append(...page.data.map(row));
      cursor = page.next_before;
      more.hidden = cursor === null;
    }
    more.addEventListener("click", async () => {
      more.disabled = true;
      try { add(await app.api(`/history?before=${encodeURIComponent(cursor)}`)); } finally { more.disabled = false; }
    });
    add(first);
    container.replaceChildren(
      el("section", { class: "screen history" },
        el("h2", {}, w("title")),
        el("p", { id: "balance", class: "big" }, w("balance", { points: kit.number(points.balance) })),
        points.available !== points.balance ? el("p", { class: "hint" }, w("available", { points: kit.number(points.available) })) : null,
        el("h3", {}, w("expiring_title")), expiring,
        first.data.length ? list : el("p", { id: "history-empty", class: "hint" }, w("empty")),
        more));
  }

  kit.register("history", { tab: { icon: "⭐", wordKey: "history.tab", order: 20 }, render });
})();
