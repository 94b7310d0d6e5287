"""An owner's care of one member in a real browser: find them by phone, adjust their points with
a reason (the member's chat in the sandbox receives the message the bot sends), download their
data, erase them after typing their number again."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from bot.app import build_bot
from bot.notifier import NotificationSender
from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.browser import Tab
from tests.utils.console import add_staff, new_link
from tests.utils.members import chat_member

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER = 8201


async def test_an_owner_finds_a_member_adjusts_their_points_exports_and_erases_them(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    page = tab.page
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    async with SandboxServer() as sandbox:
        user = sandbox.add_user("Lin", language_code="en")
        conv = sandbox.conversation(user)
        member = await chat_member(uow_factory, clock, telegram_id=user.id, phone="+8613800138123")
        number = member.member_number

        await page.goto(base_url + await new_link(uow_factory, clock, settings, OWNER))
        await page.locator('[data-nav="members"]').click()
        await page.locator("#q").fill("138 0013 8123")
        await page.locator("#search").click()
        await page.locator(f'#results [data-member="{number}"] a').click()
        await expect(page.locator("#member")).to_have_attribute("data-member", number)
        await expect(page.locator('[data-field="phone"]')).to_have_text("+86 138****8123")

        await page.locator("#adjust-points").fill("ten")
        await page.locator("#adjust-reason").fill("welcome gift")
        await page.locator("#adjust").click()
        await expect(page.locator('.problem[data-field="points"]')).to_have_text("Type a whole number of points, such as 50 or -20.")
        await expect(page.locator("#adjust-reason")).to_have_value("welcome gift")
        await page.locator("#adjust-points").fill("150")
        await page.locator("#adjust").click()
        await expect(page.locator("#done")).to_have_attribute("data-done", "adjusted")
        await expect(page.locator("#balance")).to_have_attribute("data-balance", "150")
        await expect(page.locator('#history [data-kind="adjust"] [data-field="why"]')).to_contain_text("welcome gift")

        bot = build_bot(sandbox.token, sandbox.base_url)
        try:
            mark = conv.mark()
            assert await NotificationSender(bot, uow_factory, clock, settings).drain_once() == 1
            [told] = await conv.collect_since(mark, "the adjustment")
        finally:
            await bot.session.close()
        assert "+150 points" in told.text and "150" in told.text

    async with page.expect_download() as downloading:
        await page.locator("#export").click()
    download = await downloading.value
    assert download.suggested_filename == f"member-{number}.json"
    exported = json.loads((await download.path()).read_text(encoding="utf-8"))
    assert exported["profile"]["member_number"] == number and exported["profile"]["points_balance"] == 150

    await page.locator("#erase-confirmation").fill(number)
    await page.locator("#erase").click()
    await expect(page.locator("#done")).to_have_attribute("data-done", "erased")
    async with uow_factory() as uow:
        erased = await uow.session.scalar(select(Member.erased_at).where(Member.id == member.id))
    assert erased is not None
    assert tab.script_errors == [] and tab.blocked == []
