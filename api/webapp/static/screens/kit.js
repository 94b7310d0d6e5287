/* What the member screens share: building elements (text only, never HTML from data), filling
   the words' {placeholders}, numbers and days in the member's language, the sentence for an
   error the API answered, and Telegram's features only where the client has them. No rule of
   the program lives here: the server decides, the page shows. */
(function () {
  "use strict";

  const tg = () => (window.Telegram && window.Telegram.WebApp) || null;
  const app = () => window.LoyaltyApp;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* The words of one screen, from the flat words /me gives: say("history", "kinds.earn", {...})
     reads "history.kinds.earn". A missing word shows its key, so a gap is visible, not blank. */
  function say(screen, key, vars) {
    return app().t(`${screen}.${key}`, vars || {});
  }

  function has(screen, key) {
    return Object.prototype.hasOwnProperty.call(app().words || {}, `${screen}.${key}`);
  }

  function locale() {
    const chosen = (app().me && app().me.locale) || document.documentElement.lang || "en";
    return chosen.replace("_", "-");
  }

  function number(value) {
    return new Intl.NumberFormat(locale()).format(value);
  }

  /* A calendar day ("2026-12-31") as the member's language writes it. */
  function day(iso) {
    const [year, month, date] = String(iso).slice(0, 10).split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" })
      .format(new Date(Date.UTC(year, month - 1, date)));
  }

  /* A moment's wall-clock time where it was said (the store's own zone): "22:00". */
  function clockTime(iso) {
    const match = /T(\d\d):(\d\d)/.exec(String(iso));
    return match ? `${match[1]}:${match[2]}` : "";
  }

  function money(minor, currency) {
    return app().money(minor, currency);
  }

  /* The sentence for a refused call, from the screen's [errors] words by the API's code or
     reason; "other" when there is none. */
  function refusal(screen, error, vars) {
    const body = (error && error.body) || {};
    for (const key of [body.reason, body.code, Array.isArray(body.detail) && body.detail[0] && body.detail[0].type]) {
      if (key && has(screen, `errors.${key}`)) return say(screen, `errors.${key}`, Object.assign({}, body, vars));
    }
    return say(screen, "errors.other");
  }

  function supports(version) {
    const webApp = tg();
    return Boolean(webApp && webApp.isVersionAtLeast && webApp.isVersionAtLeast(version));
  }

  function haptic(kind) {
    const webApp = tg();
    if (supports("6.1") && webApp.HapticFeedback) webApp.HapticFeedback.notificationOccurred(kind);
  }

  function openLink(url) {
    const webApp = tg();
    if (webApp && webApp.openLink) webApp.openLink(url);
    else window.open(url, "_blank", "noopener");
  }

  /* Ask a yes/no question the Telegram way where the client can (6.2+). */
  function confirm(text) {
    const webApp = tg();
    if (supports("6.2") && webApp.showConfirm) return new Promise((resolve) => webApp.showConfirm(text, resolve));
    return Promise.resolve(window.confirm(text));
  }

  /* One key per confirmation: a double press, or a retry of a lost answer, sends it again and
     the server redeems once. */
  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* The QR a till scans, as the server drew it (api/webapp/qr.py, the card's drawing). */
  function qr(text, svg) {
    return el("img", {
      class: "qr", alt: text, dataset: { payload: text },
      src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg),
    });
  }

  /* The BackButton while a detail is shown (6.1+), and the main button of a confirmation. */
  let backHandler = null;
  function showBack(handler) {
    const webApp = tg();
    hideBack();
    if (!supports("6.1") || !webApp.BackButton) return false;
    backHandler = handler;
    webApp.BackButton.onClick(handler);
    webApp.BackButton.show();
    return true;
  }
  function hideBack() {
    const webApp = tg();
    if (webApp && webApp.BackButton && backHandler) {
      webApp.BackButton.offClick(backHandler);
      webApp.BackButton.hide();
    }
    backHandler = null;
  }

  let mainHandler = null;
  function showMain(text, handler) {
    const webApp = tg();
    hideMain();
    if (!webApp || !webApp.MainButton) return false;
    mainHandler = handler;
    webApp.MainButton.setText(text);
    webApp.MainButton.onClick(handler);
    webApp.MainButton.enable();
    webApp.MainButton.show();
    return true;
  }
  function hideMain() {
    const webApp = tg();
    if (webApp && webApp.MainButton) {
      if (mainHandler) webApp.MainButton.offClick(mainHandler);
      webApp.MainButton.hide();
    }
    mainHandler = null;
  }
  /* Leaving a screen takes its buttons with it. */
  function leave() {
    hideBack();
    hideMain();
  }

  function busy(on) {
    const webApp = tg();
    if (!webApp || !webApp.MainButton) return;
    if (on) {
      webApp.MainButton.disable();
      if (webApp.MainButton.showProgress) webApp.MainButton.showProgress(false);
    } else {
      if (webApp.MainButton.hideProgress) webApp.MainButton.hideProgress();
      webApp.MainButton.enable();
    }
  }

  /* registerScreen, with this kit's Telegram buttons taken away when another screen shows. */
  function register(name, spec) {
    app().registerScreen(name, Object.assign({}, spec, {
      render(container, ctx) {
        ctx.onLeave(leave);
        return spec.render(container, ctx);
      },
    }));
  }

  window.ScreenKit = {
    register,
    el, say, has, locale, number, day, clockTime, money, refusal, supports, haptic, openLink,
    confirm, newKey, qr, showBack, hideBack, showMain, hideMain, leave, busy,
  };
})();
