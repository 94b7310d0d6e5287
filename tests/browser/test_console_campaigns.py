"""A marketer's campaign from the console in a real browser (Debian's chromium driven by
Playwright): the builder counts a tagged segment live, the campaign is created from the form,
the campaign runner starts and sends it to the members' chats in the sandbox Bot API, and the
campaign's page follows its progress by itself until the report shows what was sent.

Nothing sleeps: Playwright's `expect` waits for what the page must reach."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import expect

from bot.broadcast import BroadcastClient, BroadcastEngine
from db.models import Campaign
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.browser import Tab
from tests.utils.campaigns import add_member, recipients, tag
from tests.utils.console import add_staff, new_link

pytestmark = pytest.mark.asyncio(loop_scope="module")

MARKETER = 8201
SEGMENT = 8  # members tagged "vip", each with a chat
OTHERS = 3  # members outside the segment
# The page polls its progress every few seconds (api/console/campaigns.py POLL_SECONDS), and the
# preview waits for typing to pause: what they bring is waited for across several polls, as a
# busy machine may answer one late.
WAIT_MS = 20_000


async def draw_both_groups(uow_factory: UnitOfWorkFactory, campaign_id: int, segment: set[int]) -> None:
    """Give the campaign a seed whose draw holds some of the segment out and sends to the rest.
    Its own random seed leaves a group of 8 at 25 % empty one time in ten (0.75⁸), which would
    test nothing of the hold-out."""
    async with uow_factory() as uow:
        campaign = await uow.session.get(Campaign, campaign_id)
        assert campaign is not None
        for attempt in itertools.count():
            seed = f"mixed-{attempt}"
            held = sum(service.held_out(seed, member_id, campaign.holdout_pct) for member_id in segment)
            if 0 < held < len(segment):
                break
        campaign.seed = seed
        await uow.commit()


@pytest_asyncio.fixture(loop_scope="module")
async def telegram() -> AsyncIterator[tuple[SandboxServer, BroadcastClient]]:
    async with SandboxServer() as sandbox:
        client = BroadcastClient(sandbox.token, sandbox.base_url)
        try:
            yield sandbox, client
        finally:
            await client.close()


async def test_a_campaign_built_in_the_form_reaches_the_segments_chats_and_its_page_shows_the_report(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    telegram: tuple[SandboxServer, BroadcastClient],
) -> None:
    sandbox, client = telegram
    chats: dict[int, int] = {}
    for n in range(SEGMENT + OTHERS):
        chat = sandbox.add_user(f"Member {n}").id
        member_id = await add_member(uow_factory, clock, telegram_id=chat, points_balance=100 + n)
        if n < SEGMENT:
            await tag(uow_factory, clock, member_id, "vip")
            chats[member_id] = chat
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")
    page = tab.page
    await page.goto(base_url + await new_link(uow_factory, clock, settings, MARKETER))
    await page.locator("#new-campaign").click()

    await page.locator("#field-name").fill("VIP evening")
    await page.locator("#field-text-en").fill("Hi {{ name }}, you have {{ points }} points. VIP evening tonight!")
    await page.locator('input[name="tags"]').fill("vip")
    await page.locator("#field-holdout").fill("25")
    await page.locator("#field-holdout").blur()
    await expect(page.locator("#audience-count")).to_have_text(str(SEGMENT), timeout=WAIT_MS)
    await expect(page.locator("#expected-holdout")).to_have_text(str(SEGMENT // 4), timeout=WAIT_MS)
    await expect(page.locator(".sample .bubble").first).to_contain_text("VIP evening tonight!", timeout=WAIT_MS)
    await page.locator("#create-campaign").click()

    await expect(page.locator("#campaign-name")).to_have_text("VIP evening")
    campaign_id = int(await page.locator("#campaign-name").get_attribute("data-campaign") or 0)
    await expect(page.locator("#progress")).to_have_attribute("data-status", "scheduled")

    await draw_both_groups(uow_factory, campaign_id, set(chats))

    # The scheduler's job starts it, then the sender sends it, while the page polls.
    assert await service.start_due(uow_factory, clock, settings) == [campaign_id]
    await expect(page.locator("#progress")).to_have_attribute("data-status", "sending", timeout=WAIT_MS)
    await BroadcastEngine(client, uow_factory, clock, settings).drain(campaign_id)

    rows = await recipients(uow_factory, campaign_id)
    assert set(rows) == set(chats), "the segment and nobody else"
    held = {member_id for member_id, row in rows.items() if row.status == "held_out"}
    sent = {member_id for member_id, row in rows.items() if row.status == "sent"}
    assert sent | held == set(chats) and held and sent
    for member_id, chat in chats.items():
        texts = [message.text or "" for message in sandbox.messages(chat)]
        if member_id in sent:
            assert len(texts) == 1 and "VIP evening tonight!" in texts[0], texts
        else:
            assert texts == []

    # Once over, the page reloads by itself to the report as it ended.
    await expect(page.locator("#progress")).to_have_attribute("data-status", "done", timeout=WAIT_MS)
    await expect(page.locator('[data-progress="sent"] .value')).to_have_text(str(len(sent)), timeout=WAIT_MS)
    await expect(page.locator('[data-kpi="campaign.reach"] .value')).to_have_text(str(len(sent)), timeout=WAIT_MS)
    await expect(page.locator('[data-group="holdout"]')).to_have_text(str(len(held)), timeout=WAIT_MS)
    assert tab.script_errors == []
    assert tab.blocked == []
