/* The Mini App's core: talks to Telegram's WebApp object and to our /app/api, draws the tab bar
   and shows one screen at a time. Screens live in static/screens/<name>.js, each calling
   LoyaltyApp.registerScreen; the core holds no rule of the program, only the page's plumbing.

   A screen: registerScreen(name, {
     tab: {icon, wordKey, order},   // the tab bar's entry ("card.tab" is a key of the words)
     when(me),                      // optional: whether this caller gets the screen (default: members)
     render(container, ctx),        // draws into container; may be async
   })
   ctx: {api, t, money, me, words, every(ms, fn), onLeave(fn), mainButton(text, fn), backButton(fn),
         scanQr(hint), haptic(kind), supports(version), tg} — timers, buttons and handlers a screen
   sets through ctx end when another screen is shown. */
(function () {
  "use strict";

  var tg = (window.Telegram && window.Telegram.WebApp) || null;
  var screens = {};
  var current = null; // {name, cleanups: []}
  var state = { me: null, words: {}, locale: "en" };

  function initData() {
    return (tg && tg.initData) || "";
  }

  function supports(version) {
    return !!(tg && typeof tg.isVersionAtLeast === "function" && tg.isVersionAtLeast(version));
  }

  /* An error answer of /app/api: status, code ("qr_expired", "not_a_member", ...), detail. */
  function ApiError(status, code, detail, body) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = detail;
    this.body = body;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /* A call to /app/api<path> ("/me", "/card"), signed with the init data; resolves to the JSON
     answer, rejects with ApiError (status 0: no connection). */
  function api(path, options) {
    options = options || {};
    var headers = { Authorization: "tma " + initData() };
    var init = { method: options.method || "GET", headers: headers, cache: "no-store" };
    if (options.headers) Object.keys(options.headers).forEach(function (name) { headers[name] = options.headers[name]; });
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    var url = new URL("api" + (path.charAt(0) === "/" ? path : "/" + path), document.baseURI);
    return fetch(url, init).then(
      function (response) {
        return response.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (response.ok) return body;
          var detail = body && body.detail;
          var code = body && body.code;
          if (Array.isArray(detail)) { // a validation error: [{loc, msg, type}]
            code = code || (detail[0] && detail[0].type);
            detail = detail.map(function (d) { return d.msg; }).join("; ");
          }
          throw new ApiError(response.status, code || "http_" + response.status, detail || response.statusText, body);
        });
      },
      function () { throw new ApiError(0, "offline", t("app.offline"), null); }
    );
  }

  /* The word for key in the caller's language, "{name}" placeholders filled from values. */
  function t(key, values) {
    var text = state.words[key];
    if (text === undefined) return key;
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values[name] === undefined ? whole : String(values[name]);
    });
  }

  function intlLocale() {
    return state.locale === "zh_CN" ? "zh-CN" : "en";
  }

  /* Minor units of a currency as the reader writes money: money(64000, "CNY") -> "¥640.00". */
  function money(minor, currency) {
    currency = currency || (state.me && state.me.currency) || "CNY";
    var format = new Intl.NumberFormat(intlLocale(), { style: "currency", currency: currency, currencyDisplay: "narrowSymbol" });
    var digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(minor / Math.pow(10, digits));
  }

  /* An amount typed by a person ("12.5", "12,50") in minor units of currency, or null. */
  function parseMoney(text, currency) {
    currency = currency || "CNY";
    var digits = new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits;
    var clean = String(text || "").trim().replace(",", ".");
    var pattern = digits > 0 ? new RegExp("^\\d{1,9}(\\.\\d{1," + digits + "})?$") : /^\d{1,12}$/;
    if (!pattern.test(clean)) return null;
    var parts = clean.split(".");
    var fraction = (parts[1] || "").padEnd(digits, "0");
    return parseInt(parts[0], 10) * Math.pow(10, digits) + (digits ? parseInt(fraction, 10) : 0);
  }

  function haptic(kind) {
    if (!tg || !tg.HapticFeedback || !supports("6.1")) return;
    if (kind === "success" || kind === "error" || kind === "warning") tg.HapticFeedback.notificationOccurred(kind);
    else tg.HapticFeedback.impactOccurred(kind || "light");
  }

  /* Telegram's QR scanner: resolves to the scanned text, or null when closed or not available
     in this client (the screen then offers typing instead). */
  function scanQr(hint) {
    return new Promise(function (resolve) {
      if (!canScan()) { resolve(null); return; }
      var done = false;
      function closed() {
        if (tg.offEvent) tg.offEvent("scanQrPopupClosed", closed);
        if (!done) { done = true; resolve(null); }
      }
      if (tg.onEvent) tg.onEvent("scanQrPopupClosed", closed);
      tg.showScanQrPopup({ text: hint || "" }, function (text) {
        if (done) return true;
        done = true;
        if (tg.offEvent) tg.offEvent("scanQrPopupClosed", closed);
        resolve(text);
        return true; // close the scanner
      });
    });
  }

  function canScan() {
    return !!(tg && typeof tg.showScanQrPopup === "function" && supports("6.4"));
  }

  function cleanup(fn) {
    if (current) current.cleanups.push(fn);
  }

  var timers = [];

  /* fn every ms while the screen shows. LoyaltyApp.runTimers() runs them at once (what a test
     does instead of waiting a minute). */
  function every(ms, fn) {
    var id = setInterval(fn, ms);
    timers.push(fn);
    cleanup(function () { clearInterval(id); timers.splice(timers.indexOf(fn), 1); });
    return id;
  }

  function runTimers() {
    return Promise.all(timers.slice().map(function (fn) { return fn(); }));
  }

  /* The MainButton, with text and handler, until the screen changes (or hidden with null). */
  function mainButton(text, onClick) {
    if (!tg || !tg.MainButton) return;
    var button = tg.MainButton;
    if (text === null) { button.hide(); return; }
    button.setText(text);
    button.show();
    button.enable();
    button.onClick(onClick);
    cleanup(function () { button.offClick(onClick); button.hide(); });
  }

  function backButton(onClick) {
    if (!tg || !tg.BackButton || !supports("6.1")) return;
    tg.BackButton.show();
    tg.BackButton.onClick(onClick);
    cleanup(function () { tg.BackButton.offClick(onClick); tg.BackButton.hide(); });
  }

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (name === "text") node.textContent = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function registerScreen(name, spec) {
    screens[name] = spec;
  }

  function visibleScreens() {
    return Object.keys(screens)
      .filter(function (name) {
        var spec = screens[name];
        return spec.when ? spec.when(state.me) : !!(state.me && state.me.member);
      })
      .sort(function (a, b) { return ((screens[a].tab || {}).order || 50) - ((screens[b].tab || {}).order || 50); });
  }

  function context() {
    return {
      api: api, t: t, money: money, parseMoney: parseMoney, me: state.me, words: state.words, tg: tg,
      every: every, onLeave: cleanup, mainButton: mainButton, backButton: backButton,
      scanQr: scanQr, canScan: canScan, haptic: haptic, supports: supports, el: el,
    };
  }

  function leave() {
    if (!current) return;
    current.cleanups.splice(0).forEach(function (fn) { try { fn(); } catch (e) { /* keep leaving */ } });
  }

  function show(name) {
    var spec = screens[name];
    if (!spec) return;
    leave();
    current = { name: name, cleanups: [] };
    document.querySelectorAll("#tabs button").forEach(function (button) {
      button.setAttribute("aria-selected", button.dataset.screen === name ? "true" : "false");
    });
    var container = document.getElementById("screen");
    container.replaceChildren();
    container.dataset.screen = name;
    var shown = current;
    Promise.resolve()
      .then(function () { return spec.render(container, context()); })
      .catch(function (error) { if (current === shown) showError(container, error); });
  }

  function drawTabs(names) {
    var nav = document.getElementById("tabs");
    nav.replaceChildren();
    names.forEach(function (name) {
      var tab = screens[name].tab || {};
      nav.appendChild(el("button", {
        type: "button", role: "tab", "data-screen": name,
        onclick: function () { if (!current || current.name !== name) { haptic("light"); show(name); } },
      }, [el("span", { class: "icon", "aria-hidden": "true", text: tab.icon || "•" }), el("span", { text: t(tab.wordKey || name) })]));
    });
    nav.hidden = names.length < 2;
  }

  /* Words for the refusals of /me, which brings none: the client's language, from Telegram. */
  function wordsWithoutMe() {
    if (Object.keys(state.words).length) return Promise.resolve();
    var user = tg && tg.initDataUnsafe && tg.initDataUnsafe.user;
    var query = user && user.language_code ? "?language_code=" + encodeURIComponent(user.language_code) : "";
    return fetch(new URL("api/words" + query, document.baseURI)).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (answer) {
      if (answer) { state.words = answer.words; state.locale = answer.locale; }
    }, function () { /* offline: the server's own words then */ });
  }

  function showError(container, error) {
    wordsWithoutMe().then(function () { drawError(container, error); });
  }

  function drawError(container, error) {
    var key = "app.error";
    if (error && error.code === "init_data_expired") key = "app.expired";
    else if (error && error.status === 401) key = "app.not_signed_in";
    else if (error && error.status === 503) key = "app.unavailable";
    else if (error && error.status === 0) key = "app.offline";
    container.replaceChildren(
      el("p", { class: "error", role: "alert", text: state.words[key] ? t(key) : (error && error.message) || key }),
      el("button", { type: "button", class: "secondary", text: state.words["app.retry"] ? t("app.retry") : "↻", onclick: start })
    );
  }

  function showJoin(container) {
    var join = state.me.join || {};
    var children = [el("h1", { text: t("app.join_title") }), el("p", { text: t("app.join_text") })];
    if (join.bot_url) {
      children.push(el("button", {
        type: "button", text: t("app.join_button"),
        onclick: function () {
          if (tg && tg.openTelegramLink && supports("6.1")) { tg.openTelegramLink(join.bot_url); tg.close(); }
          else window.location.href = join.bot_url;
        },
      }));
    } else {
      children.push(el("p", { class: "muted", text: t("app.join_open_chat") }));
    }
    container.replaceChildren.apply(container, children);
  }

  function applyTheme() {
    var root = document.documentElement;
    root.dataset.scheme = (tg && tg.colorScheme) || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var params = (tg && tg.themeParams) || {};
    Object.keys(params).forEach(function (key) {
      root.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), params[key]);
    });
  }

  /* Asks who we are, then shows the first screen this caller gets. Called again after a change
     that moves the member's balance or tier (LoyaltyApp.refresh). */
  function start() {
    var container = document.getElementById("screen");
    return api("/me").then(
      function (me) {
        state.me = me;
        state.words = me.words || {};
        state.locale = me.locale || "en";
        document.documentElement.lang = state.locale === "zh_CN" ? "zh-CN" : "en";
        document.title = t("app.title");
        window.LoyaltyApp.me = me;
        window.LoyaltyApp.words = state.words;
        var names = visibleScreens();
        drawTabs(names);
        if (!names.length) { leave(); current = null; showJoin(container); return; }
        show(current && names.indexOf(current.name) >= 0 ? current.name : names[0]);
      },
      function (error) { showError(container, error); }
    );
  }

  function refresh() {
    return api("/me").then(function (me) {
      state.me = me;
      window.LoyaltyApp.me = me;
    });
  }

  window.LoyaltyApp = {
    api: api, ApiError: ApiError, t: t, words: state.words, me: null, money: money, parseMoney: parseMoney,
    registerScreen: registerScreen, show: show, refresh: refresh, start: start, el: el, runTimers: runTimers,
    scanQr: scanQr, canScan: canScan, haptic: haptic, supports: supports, mainButton: mainButton, backButton: backButton,
    current: function () { return current && current.name; },
    tg: tg,
  };

  applyTheme();
  if (tg) {
    if (tg.onEvent) tg.onEvent("themeChanged", applyTheme);
    if (tg.ready) tg.ready();
    if (tg.expand) tg.expand();
  }
  // Deferred scripts run in order before DOMContentLoaded: every screen has registered by then.
  document.addEventListener("DOMContentLoaded", start);
})();
