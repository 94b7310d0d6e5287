/* Tier progress: the member's tier, what the next one takes ("¥640.00 more or 3 visits"), what
   keeps this one and by when, and every tier's benefits. The numbers are the server's. */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("tier", key, vars);

  function either(spendMinor, visits, currency) {
    const parts = [];
    if (spendMinor !== null && spendMinor !== undefined) parts.push(w("spend_more", { money: kit.money(spendMinor, currency) }));
    if (visits !== null && visits !== undefined) parts.push(w(visits === 1 ? "visits_more_one" : "visits_more_other", { count: kit.number(visits) }));
    return parts.join(w("or"));
  }

  /* What a tier asks in the window: spend, visits, or either. */
  function needs(tier, currency) {
    const parts = [];
    if (tier.min_spend_minor) parts.push(w("needs_spend", { money: kit.money(tier.min_spend_minor, currency) }));
    if (tier.min_visits) parts.push(w("needs_visits", { visits: kit.number(tier.min_visits) }));
    return parts.join(w("or"));
  }

  function benefits(tier) {
    const items = tier.benefits.length ? tier.benefits : [];
    return el("ul", { class: "plain benefits" },
      tier.earn_multiplier_pct !== 100 ? el("li", {}, w("earn_rate", { rate: kit.number(tier.earn_multiplier_pct / 100) })) : null,
      items.map((text) => el("li", {}, text)),
      !items.length && tier.earn_multiplier_pct === 100 ? el("li", { class: "hint" }, w("no_benefits")) : null);
  }

  async function render(container) {
    const app = window.LoyaltyApp;
    kit.leave();
    const p = await app.api("/tier");
    const next = p.next_tier
      ? el("p", { id: "to-next" }, w("to_next", { tier: p.next_tier.name }), " ",
          el("strong", {}, either(p.spend_to_next_minor, p.visits_to_next, p.currency)))
      : el("p", { id: "to-next" }, w("top"));
    const keepWhat = either(p.keep_spend_minor, p.keep_visits, p.currency);
    const keep = p.keep_by
      ? el("p", { id: "keep", class: p.at_risk ? "warn" : "" },
          p.at_risk ? w("at_risk") + " " : "",
          keepWhat && (p.keep_spend_minor || p.keep_visits)
            ? w("keep", { tier: p.tier.name, what: keepWhat, day: kit.day(p.keep_by) })
            : w("kept", { tier: p.tier.name, day: kit.day(p.keep_by) }))
      : null;
    const ladder = el("ol", { id: "ladder", class: "ladder" },
      p.tiers.map((tier) => el("li", { class: tier.code === p.tier.code ? "tier current" : "tier", dataset: { tier: tier.code } },
        el("div", { class: "tier-name" }, tier.name, tier.code === p.tier.code ? el("span", { class: "badge" }, w("you")) : null),
        tier.min_spend_minor || tier.min_visits ? el("div", { class: "hint" }, needs(tier, p.currency)) : null,
        benefits(tier))));
    container.replaceChildren(
      el("section", { class: "screen tier" },
        el("h2", {}, w("title")),
        el("p", { id: "tier-now", class: "big" }, w("current", { tier: p.tier.name })),
        next, keep,
        el("p", { class: "hint" }, w("window", { months: p.window_months, money: kit.money(p.spend_minor, p.currency), visits: kit.number(p.visits) })),
        el("h3", {}, w("ladder")), ladder));
  }

  kit.register("tier", { tab: { icon: "🏅", wordKey: "tier.tab", order: 30 }, render });
})();
