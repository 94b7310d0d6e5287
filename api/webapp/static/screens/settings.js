/* Settings: the language, the message topics to mute, and the member's data: a download of
   the chat's JSON export, or deleting the membership, asked twice as the chat asks. */
(function () {
  "use strict";
  const kit = window.ScreenKit;
  const { el } = kit;
  const w = (key, vars) => kit.say("settings", key, vars);

  function save(blob, name) {
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  async function render(container) {
    const app = window.LoyaltyApp;
    kit.leave();
    const current = await app.api("/settings");
    const message = el("p", { id: "settings-message", role: "status", class: "hint" });
    const failed = (error) => { message.className = "warn"; message.textContent = kit.refusal("settings", error); };

    const languages = el("div", { id: "languages", class: "choices" }, current.locales.map((locale) =>
      el("button", {
        type: "button", class: locale === current.locale ? "chosen" : "secondary", dataset: { locale },
        "aria-pressed": locale === current.locale ? "true" : "false",
        on: { click: async () => {
          try {
            await app.api("/settings/language", { method: "PUT", body: { locale } });
            await app.start(); // the whole app speaks the new language
          } catch (error) { failed(error); }
        } },
      }, w(`languages.${locale}`))));

    const topics = el("ul", { id: "topics", class: "plain toggles" }, current.topics.map((item) => {
      const box = el("input", { type: "checkbox", dataset: { topic: item.topic }, checked: item.on });
      box.addEventListener("change", async () => {
        box.disabled = true;
        try {
          const after = await app.api(`/settings/topics/${encodeURIComponent(item.topic)}`, { method: "PUT", body: { on: box.checked } });
          box.checked = after.topics.find((t) => t.topic === item.topic).on;
          message.className = "hint";
          message.textContent = w("saved");
        } catch (error) { box.checked = !box.checked; failed(error); } finally { box.disabled = false; }
      });
      return el("li", {}, el("label", {}, box, " ", w(`topic_names.${item.topic}`)));
    }));

    const exportButton = el("button", { type: "button", id: "export", class: "secondary", on: { click: async () => {
      try {
        const data = await app.api("/privacy/export");
        const name = `my-data-${data.profile.member_number}-${String(data.exported_at).slice(0, 10)}.json`;
        save(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }), name);
        message.className = "hint";
        message.textContent = w("exported", { file: name });
      } catch (error) { failed(error); }
    } } }, w("export"));

    const erase = el("div", { id: "erase-box" });
    const eraseButton = el("button", { type: "button", id: "erase", class: "danger", on: { click: async () => {
      if (!(await kit.confirm(w("erase_ask")))) return; // the first "yes"
      try {
        const lost = await app.api("/privacy/erase/ask", { method: "POST" });
        erase.replaceChildren(
          el("p", { id: "erase-losses", class: "warn" }, w("erase_losses", {
            points: kit.number(lost.points), coupons: kit.number(lost.coupons), codes: kit.number(lost.reward_codes), tier: lost.tier,
          })),
          el("button", { type: "button", id: "erase-confirm", class: "danger", on: { click: async () => { // the second
            try {
              await app.api("/privacy/erase", { method: "POST", body: { confirmation: lost.confirmation } });
              kit.leave();
              container.replaceChildren(el("section", { class: "screen settings" }, el("p", { id: "erased", class: "big" }, w("erased"))));
            } catch (error) { failed(error); }
          } } }, w("erase_confirm")),
          el("button", { type: "button", id: "erase-keep", class: "secondary", on: { click: () => erase.replaceChildren() } }, w("keep")));
      } catch (error) { failed(error); }
    } } }, w("erase"));

    container.replaceChildren(el("section", { class: "screen settings" },
      el("h2", {}, w("title")),
      el("h3", {}, w("language")), languages,
      el("h3", {}, w("topics")), topics, el("p", { class: "hint" }, w("topics_hint")),
      el("h3", {}, w("data")), exportButton, eraseButton, erase, message));
  }

  kit.register("settings", { tab: { icon: "⚙️", wordKey: "settings.tab", order: 90 }, render });
})();
