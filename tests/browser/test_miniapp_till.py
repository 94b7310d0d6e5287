"""The Mini App in a real browser (Debian's chromium driven by Playwright), opened as Telegram
opens it: a stand-in `window.Telegram.WebApp` (tests/utils/webapp.py) supplies init data signed
with the sandbox bot's token, and records what the page asks of Telegram. The page talks to the
real app over HTTP; the member's chat is the sandbox Bot API's.

Nothing sleeps: the card's minute refresh is run from the test (LoyaltyApp.runTimers) after the
injected clock moves, and Playwright's `expect` waits for what the page must reach."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Page, Response, expect
from pydantic import SecretStr

from bot.app import build_bot
from bot.notifier import NotificationSender
from db.uow import UnitOfWorkFactory
from loyalty import staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.browser import Tab, open_tab
from tests.utils.coupons import add_store
from tests.utils.members import chat_member
from tests.utils.referrals import set_terms
from tests.utils.webapp import sign_init_data, stand_in_script, telegram_user

pytestmark = pytest.mark.asyncio(loop_scope="module")

TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
MEMBER = 9101
STAFF = 9201
WAIT_MS = 10_000
FIRST_SCREEN_BUDGET = 100 * 1024


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
    await set_terms(uow_factory, clock)  # the referral program is on: the card offers the invite
    page = tab.page
    ours: list[Response] = []
    page.on("response", lambda response: ours.append(response) if response.url.startswith(base_url) else None)
    await open_app(page, base_url, sign_init_data(sandbox.token, telegram_user(MEMBER), clock.now()))

    await expect(page.locator('[data-role="card-number"]')).to_have_text(member.member_number, timeout=WAIT_MS)
    qr = page.locator('[data-role="card-qr"]')
    first = await qr.get_attribute("data-token")
    assert first and len(first) == 29
    # The first screen's weight: everything of ours the page loaded until the card showed (the
    # page, its styles and scripts, and the answers of /me and /card), as the network carried it.
    loaded = {response.url: len(await response.body()) for response in list(ours)}
    assert any(url.endswith("/static/app.js") for url in loaded) and any(url.endswith("/api/card") for url in loaded)
    assert sum(loaded.values()) < FIRST_SCREEN_BUDGET, loaded

    clock.advance(timedelta(seconds=60))
    await page.evaluate("LoyaltyApp.runTimers()")

    await expect(qr).not_to_have_attribute("data-token", first, timeout=WAIT_MS)

    # Inviting a friend opens Telegram's share dialog with the member's own link.
    await page.locator('[data-role="invite-share"]').click()
    shared = await page.evaluate("__tg.called('openTelegramLink').map((call) => call.args[0])")
    assert len(shared) == 1 and shared[0].startswith("https://t.me/share/url?url=")
    assert f"{sandbox.bot.username}%3Fstart%3Dref_" in shared[0]
    assert tab.script_errors == []
    assert tab.blocked == [TELEGRAM_SCRIPT]  # Telegram's own script, and nothing else, from outside


async def test_a_cashier_scans_the_members_qr_records_a_sale_and_the_receipt_reaches_the_members_chat(
    tab: Tab, other_tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock,
    sandbox: SandboxServer, settings: Settings,
) -> None:
    ada = sandbox.add_user("Ada", language_code="en")
    member = await chat_member(uow_factory, clock, telegram_id=ada.id)
    await add_store(uow_factory, clock, "S1")
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=STAFF, role="cashier", name="Cai", store_code="S1")
    await open_app(tab.page, base_url, sign_init_data(sandbox.token, telegram_user(ada.id), clock.now()))
    qr = tab.page.locator('[data-role="card-qr"]')
    await expect(qr).to_have_attribute("data-token", re.compile(r"^[A-Z2-7]{29}$"), timeout=WAIT_MS)
    token = await qr.get_attribute("data-token")

    till = other_tab.page
    await open_app(
        till, base_url, sign_init_data(sandbox.token, telegram_user(STAFF, "Cai"), clock.now()), scan_result=token
    )
    await expect(till.locator('[data-role="till-store"]')).to_contain_text("S1", timeout=WAIT_MS)
    await till.locator('[data-role="till-scan"]').click()
    await expect(till.locator('[data-role="till-member-name"]')).to_contain_text(member.member_number, timeout=WAIT_MS)
    await till.locator('[data-role="till-amount"]').fill("32.00")
    await till.locator('[data-role="till-record"]').click()
    await expect(till.locator('[data-role="till-result"]')).to_contain_text("¥32.00", timeout=WAIT_MS)
    await expect(till.locator("[data-order]")).to_have_count(1, timeout=WAIT_MS)
    assert await till.evaluate("__tg.called('showScanQrPopup').length") == 1

    bot = build_bot(sandbox.token, sandbox.base_url)
    try:
        assert await NotificationSender(bot, uow_factory, clock, settings).drain_once() == 1
    finally:
        await bot.session.close()
    [receipt] = sandbox.messages(ada.id)
    async with uow_factory() as uow:
        after = await uow.members.by_number(member.member_number)
    assert after is not None and after.points_balance > 0
    assert str(after.points_balance) in (receipt.text or "")
    assert tab.script_errors == [] and other_tab.script_errors == []
    assert other_tab.blocked == [TELEGRAM_SCRIPT]


async def test_a_member_calling_the_till_and_tampered_init_data_are_refused_in_the_page_in_the_dark_theme(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, sandbox: SandboxServer
) -> None:
    await chat_member(uow_factory, clock, telegram_id=MEMBER)
    page = tab.page
    await open_app(page, base_url, sign_init_data(sandbox.token, telegram_user(MEMBER), clock.now()), color_scheme="dark")
    await expect(page.locator('[data-role="card-qr"]')).to_have_attribute("data-token", re.compile("."), timeout=WAIT_MS)
    # Telegram's dark theme, through its --tg-theme-* colours.
    assert await page.evaluate("document.documentElement.dataset.scheme") == "dark"
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(23, 33, 43)"

    # No Till tab for a member, and the till's routes refuse them even when called by hand.
    assert await page.locator('[data-screen="till"]').count() == 0
    status = await page.evaluate(
        "LoyaltyApp.api('/till/lookup', {method: 'POST', body: {qr: 'x'}}).then(() => 200, (e) => e.code)"
    )
    assert status == "not_till_staff"

    # Tampered init data: the page says to open it from the chat, and shows nothing of anyone.
    tampered = sign_init_data(sandbox.token, telegram_user(MEMBER), clock.now()).replace("hash=", "hash=0")
    async with open_tab(tab.page.context.browser) as other:  # type: ignore[arg-type]
        await open_app(other.page, base_url, tampered)
        await expect(other.page.locator('[role="alert"]')).to_contain_text("Open this page from the bot", timeout=WAIT_MS)


async def test_on_a_client_without_the_scanner_the_cashier_types_the_number(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, sandbox: SandboxServer
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    await add_store(uow_factory, clock, "S1")
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=STAFF, role="cashier", name="Cai", store_code="S1")
    page = tab.page
    # Telegram added the QR scanner in Web App version 6.4.
    await open_app(page, base_url, sign_init_data(sandbox.token, telegram_user(STAFF), clock.now()), version="6.2")

    await expect(page.locator('[data-role="till-member-input"]')).to_be_visible(timeout=WAIT_MS)
    assert await page.locator('[data-role="till-scan"]').count() == 0
    await page.locator('[data-role="till-member-input"]').fill(member.member_number)
    await page.locator('[data-role="till-look-up"]').click()
    await expect(page.locator('[data-role="till-member-name"]')).to_contain_text(member.member_number, timeout=WAIT_MS)
    await page.locator('[data-role="till-amount"]').fill("12,5")
    await page.locator('[data-role="till-record"]').click()

    await expect(page.locator('[data-role="till-result"]')).to_contain_text("¥12.50", timeout=WAIT_MS)
    assert await page.evaluate("__tg.called('showScanQrPopup').length") == 0
    assert tab.script_errors == []
