"""The Mini App in a real browser (Debian's chromium driven by Playwright), opened as Telegram
opens it: a stand-in `window.Telegram.WebApp` (tests/utils/webapp.py) supplies init data signed
with the sandbox bot's token, and records what the page asks of Telegram. The page talks to the
real app over HTTP; the member's chat is the sandbox Bot API's.

Nothing sleeps: the card's minute refresh is run from the test (LoyaltyApp.runTimers) after the
injected clock moves, and Playwright's `expect` waits for what the page must reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect
from pydantic import SecretStr

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.browser import Tab
from tests.utils.members import chat_member
from tests.utils.webapp import sign_init_data, stand_in_script, telegram_user

pytestmark = pytest.mark.asyncio(loop_scope="module")

TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
MEMBER = 9101
WAIT_MS = 10_000


@pytest_asyncio.fixture(loop_scope="module")
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    return settings.model_copy(update={"bot_token": SecretStr(sandbox.token), "bot_api_url": sandbox.base_url})


async def open_app(page: Page, base_url: str, init_data: str, **stand_in: str | None) -> None:
    await page.add_init_script(stand_in_script(init_data, **stand_in))  # type: ignore[arg-type]
    await page.goto(base_url + "/app/")


async def test_a_member_sees_their_card_and_its_qr_changes_every_minute(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, sandbox: SandboxServer
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    page = tab.page
    await open_app(page, base_url, sign_init_data(sandbox.token, telegram_user(MEMBER), clock.now()))

    await expect(page.locator('[data-role="card-number"]')).to_have_text(member.member_number, timeout=WAIT_MS)
    qr = page.locator('[data-role="card-qr"]')
    first = await qr.get_attribute("data-token")
    assert first and len(first) == 29

    clock.advance(timedelta(seconds=60))
    await page.evaluate("LoyaltyApp.runTimers()")

    await expect(qr).not_to_have_attribute("data-token", first, timeout=WAIT_MS)
    assert tab.script_errors == []
    assert tab.blocked == [TELEGRAM_SCRIPT]  # Telegram's own script, and nothing else, from outside
