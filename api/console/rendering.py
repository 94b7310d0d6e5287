"""Pages from the Jinja2 templates in api/console/templates, with the headers every console page
carries: a Content-Security-Policy that runs only the console's own scripts (no inline script:
chart data travels as JSON in a `<script type="application/json">` element), no framing, no
referrer (a sign-in link's token must not leak to another site), never cached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.console.deps import CSRF_FIELD, CSRF_HEADER
from api.console.texts import ConsoleTexts, preferred_locale
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.console_access import ConsoleUser

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def texts_for(settings: Settings, locale: str) -> ConsoleTexts:
    return ConsoleTexts(locale=locale, currency=settings.currency, zone=settings.zone)


def render(
    request: Request,
    template: str,
    *,
    settings: Settings,
    user: ConsoleUser | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    locale = user.locale if user is not None else preferred_locale(
        request.headers.get("accept-language"), settings.default_locale
    )
    texts = texts_for(settings, locale)
    context.setdefault("nav", None)
    context.setdefault("page", None)
    page = _environment.get_template(template).render(
        t=texts,
        user=user,
        settings=settings,
        locales=SUPPORTED_LOCALES,
        csrf_field=CSRF_FIELD,
        csrf_header=CSRF_HEADER,
        csrf_token=user.csrf_secret if user is not None else "",
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        program_name=settings.program_name,
        **context,
    )
    return HTMLResponse(page, status_code=status_code, headers=PAGE_HEADERS)
