"""Fixtures of the tests that drive a real browser: Debian's chromium, launched by Playwright
through `executable_path` (Playwright's own browser downloads are never used), one per module,
against the app served over real HTTP on 127.0.0.1.

Playwright's connection to the browser belongs to the event loop that started it, so a module of
browser tests runs in one event loop (`pytestmark = pytest.mark.asyncio(loop_scope="module")`),
and the async fixtures its tests use (the database engine, the served app) run in that loop too:
this file gives them `loop_scope="module"` while keeping them per test. A module's own async
fixtures need the same (`@pytest_asyncio.fixture(loop_scope="module")`): asyncpg refuses a
connection used from another loop, where aiosqlite would let it pass."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from db.engine import create_engine
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import reset_tables
from tests.utils.api import serve

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


def chromium_path() -> Path | None:
    path = Path(os.environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM))
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.skip(
            f"no chromium at {os.environ.get('CHROMIUM_PATH', DEFAULT_CHROMIUM)}: install Debian's "
            "chromium (apt-get install chromium) or set CHROMIUM_PATH; browser tests skipped"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


@dataclass
class Tab:
    """A page in a fresh browser context (no cookies shared between tests), with what went wrong
    in it: uncaught script errors and requests that tried to leave 127.0.0.1."""

    page: Page
    script_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@asynccontextmanager
async def open_tab(browser: Browser, **context_options: Any) -> AsyncIterator[Tab]:
    """A tab in a context of its own; `context_options` are Playwright's (viewport, locale, ...)."""
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


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    async with open_tab(browser) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def engine(database_url: str, seed_rows: dict[str, list[dict[str, object]]]) -> AsyncIterator[AsyncEngine]:
    """tests/conftest.py's `engine`, in the module's event loop."""
    engine = create_engine(database_url)
    await reset_tables(engine, seed_rows)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def base_url(settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> AsyncIterator[str]:
    """The app, with the test's database and clock, served over HTTP; its base URL."""
    async with serve(create_app(settings, uow_factory=uow_factory, clock=clock)) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="module")
async def other_tab(browser: Browser) -> AsyncIterator[Tab]:
    """A second context, with cookies of its own: someone else, or the same person on another device."""
    async with open_tab(browser) as opened:
        yield opened
