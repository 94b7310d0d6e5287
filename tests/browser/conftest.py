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

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from db.engine import create_engine
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import reset_tables
from tests.utils.api import serve
from tests.utils.browser import CHROMIUM_FLAGS, Tab, chromium_path, chromium_wanted, open_tab


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.skip(
            f"no chromium at {chromium_wanted()}: install Debian's "
            "chromium (apt-get install chromium) or set CHROMIUM_PATH; browser tests skipped"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    """A tab of the module's browser, in a context of the test's own."""
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
