"""The Telegram side of the Mini App, for tests: init data signed exactly as Telegram signs it,
and a stand-in `window.Telegram.WebApp` for the browser (telegram-web-app.js cannot load there).

The stand-in records what the page asks of Telegram on `window.__tg`: a test reads
`__tg.calls`, presses `__tg.pressMainButton()` / `__tg.pressBackButton()`, and answers the QR
scanner with `__tg.scan(text)` (or gives `scan_result` up front). Our server is never stood in
for: the page talks to the real app over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

LIGHT_THEME = {
    "bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579", "link_color": "#2481cc",
    "button_color": "#2481cc", "button_text_color": "#ffffff", "secondary_bg_color": "#f1f1f4",
}
DARK_THEME = {
    "bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499", "link_color": "#6ab3f3",
    "button_color": "#5288c1", "button_text_color": "#ffffff", "secondary_bg_color": "#232e3c",
}


def sign_init_data(bot_token: str, user: dict[str, Any], auth_date: datetime, **extra: str) -> str:
    """Init data for `user`, signed at `auth_date` with `bot_token` as Telegram signs it: the
    fields sorted as `key=value` lines, HMAC-SHA256 under HMAC-SHA256("WebAppData", token)."""
    fields = {
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(auth_date.timestamp())),
        **extra,
    }
    check_string = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def telegram_user(telegram_id: int, first_name: str = "Ada", language_code: str = "en") -> dict[str, Any]:
    return {"id": telegram_id, "first_name": first_name, "language_code": language_code}


def tma(init_data: str) -> dict[str, str]:
    """The Authorization header a Mini App call carries."""
    return {"Authorization": f"tma {init_data}"}


_STAND_IN = """
(() => {
  const config = %(config)s;
  const listeners = {};
  const record = (name, args) => { window.__tg.calls.push({name, args: Array.from(args || [])}); };
  const button = (name) => {
    const handlers = [];
    return {
      text: "", isVisible: false, isActive: true, isProgressVisible: false,
      setText(text) { record(name + ".setText", [text]); this.text = text; return this; },
      show() { record(name + ".show"); this.isVisible = true; return this; },
      hide() { record(name + ".hide"); this.isVisible = false; return this; },
      enable() { this.isActive = true; return this; },
      disable() { this.isActive = false; return this; },
      showProgress() { this.isProgressVisible = true; return this; },
      hideProgress() { this.isProgressVisible = false; return this; },
      setParams(params) { Object.assign(this, params); return this; },
      onClick(fn) { handlers.push(fn); return this; },
      offClick(fn) { const at = handlers.indexOf(fn); if (at >= 0) handlers.splice(at, 1); return this; },
      _press() { record(name + ".press"); handlers.slice().forEach((fn) => fn()); },
    };
  };
  const newer = (version) => {
    const a = config.version.split(".").map(Number), b = String(version).split(".").map(Number);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0);
    }
    return true;
  };
  let scanCallback = null;
  const webApp = {
    initData: config.initData,
    initDataUnsafe: config.initDataUnsafe,
    version: config.version,
    platform: "tdesktop",
    colorScheme: config.colorScheme,
    themeParams: config.themeParams,
    isExpanded: false,
    isVersionAtLeast: newer,
    ready() { record("ready"); },
    expand() { record("expand"); this.isExpanded = true; },
    close() { record("close"); },
    onEvent(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    offEvent(event, fn) { const list = listeners[event] || []; const at = list.indexOf(fn); if (at >= 0) list.splice(at, 1); },
    openLink(url) { record("openLink", [url]); },
    openTelegramLink(url) { record("openTelegramLink", [url]); },
    showAlert(message, callback) { record("showAlert", [message]); if (callback) setTimeout(callback, 0); },
    showConfirm(message, callback) { record("showConfirm", [message]); if (callback) setTimeout(() => callback(window.__tg.confirm), 0); },
    showPopup(params, callback) { record("showPopup", [params]); if (callback) setTimeout(() => callback(window.__tg.popupButton), 0); },
    showScanQrPopup(params, callback) {
      record("showScanQrPopup", [params]);
      scanCallback = callback;
      if (window.__tg.scanResult !== null) { const text = window.__tg.scanResult; setTimeout(() => window.__tg.scan(text), 0); }
    },
    closeScanQrPopup() { record("closeScanQrPopup"); scanCallback = null; },
    MainButton: button("MainButton"),
    BackButton: button("BackButton"),
    HapticFeedback: {
      impactOccurred(style) { record("HapticFeedback.impactOccurred", [style]); },
      notificationOccurred(type) { record("HapticFeedback.notificationOccurred", [type]); },
      selectionChanged() { record("HapticFeedback.selectionChanged"); },
    },
  };
  window.__tg = {
    calls: [],
    scanResult: config.scanResult,
    confirm: true,
    popupButton: "ok",
    pressMainButton() { webApp.MainButton._press(); },
    pressBackButton() { webApp.BackButton._press(); },
    // The scanner reads `text`: the page's callback gets it, as Telegram's would.
    scan(text) {
      const callback = scanCallback;
      if (!callback) throw new Error("the QR scanner is not open");
      record("scanned", [text]);
      if (callback(text) === true) { scanCallback = null; (listeners.scanQrPopupClosed || []).forEach((fn) => fn()); }
    },
    called(name) { return window.__tg.calls.filter((call) => call.name === name); },
  };
  window.Telegram = {WebApp: webApp};
})();
"""


def stand_in_script(
    init_data: str, *, scan_result: str | None = None, color_scheme: str = "light", version: str = "8.0"
) -> str:
    """JavaScript for `page.add_init_script`: `window.Telegram.WebApp` as a Telegram client of
    `version` would give it, with `init_data`."""
    from urllib.parse import parse_qsl

    unsafe: dict[str, Any] = {}
    for key, value in parse_qsl(init_data):
        unsafe[key] = json.loads(value) if value.startswith("{") else value
    config = {
        "initData": init_data,
        "initDataUnsafe": unsafe,
        "version": version,
        "colorScheme": color_scheme,
        "themeParams": DARK_THEME if color_scheme == "dark" else LIGHT_THEME,
        "scanResult": scan_result,
    }
    return _STAND_IN % {"config": json.dumps(config)}
