"""The page itself: index.html and the headers it is served with.

Its Content-Security-Policy runs our own scripts and Telegram's telegram-web-app.js, nothing
else (no inline script); Telegram shows the page in a frame of its web clients, so framing is
allowed to Telegram's web origins only."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "index.html"
TELEGRAM_SCRIPT_ORIGIN = "https://telegram.org"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' {TELEGRAM_SCRIPT_ORIGIN}",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors https://web.telegram.org",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
