"""Debian's chromium driven by Playwright, for the browser tests and the README's screenshots:
where it is, how it is launched, and a tab that records what went wrong in it."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Route

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Without the networking flags chromium keeps trying to reach Google's services (updates, sync,
# field trials) and, on a network that drops those packets, hangs instead of failing fast.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Only the app under test may be reached: a page that needs a CDN fails here as it would offline.
NOT_LOCAL = re.compile(r"^(?!http://127\.0\.0\.1:\d+/)(https?|wss?)://")


def chromium_wanted() -> str:
    return os.environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM)


def chromium_path() -> Path | None:
    """The chromium to launch (CHROMIUM_PATH, or Debian's), or None when there is none."""
    path = Path(chromium_wanted())
    return path if path.is_file() and os.access(path, os.X_OK) else None


@dataclass
class Tab:
    """A page in a browser context of its own (no cookies shared), with what went wrong in it:
    uncaught script errors and requests that tried to leave 127.0.0.1."""

    page: Page
    script_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@asynccontextmanager
async def open_tab(browser: Browser, **context_options: Any) -> AsyncIterator[Tab]:
    """A tab in a new context; `context_options` are Playwright's (viewport, locale, ...)."""
    context = await browser.new_context(**context_options)
    tab = Tab(page=await context.new_page())

    async def refuse(route: Route) -> None:
        tab.blocked.append(route.request.url)
        await route.abort()

    await context.route(NOT_LOCAL, refuse)
    tab.page.on("pageerror", lambda error: tab.script_errors.append(str(error)))
    try:
        yield tab
    finally:
        await context.close()
