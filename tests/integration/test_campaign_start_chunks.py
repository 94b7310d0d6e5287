"""A campaign's start never holds purchases up for long (loyalty.campaigns.service). On SQLite it
writes its recipients a chunk at a time: a purchase waits for one chunk, not for the whole
audience, and a start that stops half-way is never called finished, and a later run finishes it,
every member once. On PostgreSQL it is one transaction that no purchase waits for, and a start
that stops half-way leaves nothing behind: the next run starts it again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from db.models import Campaign, CampaignRecipient
from db.repositories.campaigns import CampaignRepository
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from tests.utils.campaigns import add_members, campaign, campaign_coupons, make_campaign, recipients
from tests.utils.coupons import make_template
from tests.utils.members import till_member

CHUNK = 3
MEMBERS = 10  # four chunks
DEADLOCK_GUARD_SECONDS = 30  # never reached unless the purchase waits for the start: then the test fails


async def record(uow: Any, clock: FixedClock, settings: Settings, member_number: str) -> None:
    request = PurchaseRequest(MemberRef(member_number=member_number), "during-start", "online", 100, "CNY")
    await record_purchase(uow, clock, settings, request, actor="test", idempotency=IdempotencyKey("t", "start", "x"))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "START_CHUNK", CHUNK)
    monkeypatch.setattr(service, "START_BATCH", CHUNK)


async def test_a_purchase_during_a_campaign_start_waits_for_one_chunk_on_sqlite(
    one_connection: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL starts a campaign in one transaction: see the test below")
    await add_members(one_connection, clock, MEMBERS)
    campaign_id = await make_campaign(one_connection, clock, settings)
    buyer = (await till_member(one_connection, clock)).member_number  # in the audience too (skipped: no chat)
    order: list[str] = []
    chunk_open, purchase_asking = asyncio.Event(), asyncio.Event()
    add_recipients = CampaignRepository.add_recipients

    async def first_chunk_waits(self: CampaignRepository, rows: Any) -> None:
        await add_recipients(self, rows)  # the chunk's transaction holds the connection now
        order.append("chunk")
        if not chunk_open.is_set():
            chunk_open.set()
            await purchase_asking.wait()

    monkeypatch.setattr(CampaignRepository, "add_recipients", first_chunk_waits)

    async def purchase() -> None:
        await chunk_open.wait()
        async with one_connection() as uow:
            purchase_asking.set()  # the start goes on once this waits for the connection below
            await record(uow, clock, settings, buyer)
            order.append("purchase")

    started, _ = await asyncio.gather(service.start_due(one_connection, clock, settings), purchase())
    assert started == [campaign_id]
    assert order == ["chunk", "purchase", "chunk", "chunk", "chunk"]
    assert len(await recipients(one_connection, campaign_id)) == MEMBERS + 1
    assert (await campaign(one_connection, campaign_id)).audience_size == MEMBERS + 1


async def test_a_purchase_during_a_campaign_start_does_not_wait_for_it_on_postgresql(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one write lock: see the test above")
    await add_members(uow_factory, clock, MEMBERS)
    campaign_id = await make_campaign(uow_factory, clock, settings)
    buyer = (await till_member(uow_factory, clock)).member_number
    purchased = asyncio.Event()
    add_recipients = CampaignRepository.add_recipients

    async def first_chunk_waits(self: CampaignRepository, rows: Any) -> None:
        await add_recipients(self, rows)  # the start's transaction has written rows and holds its locks
        if not purchased.is_set():
            # Should the purchase wait for anything this transaction holds, this never ends.
            async with asyncio.timeout(DEADLOCK_GUARD_SECONDS):
                await purchased.wait()

    monkeypatch.setattr(CampaignRepository, "add_recipients", first_chunk_waits)

    async def purchase() -> None:
        async with uow_factory() as uow:
            await record(uow, clock, settings, buyer)
        purchased.set()

    started, _ = await asyncio.gather(service.start_due(uow_factory, clock, settings), purchase())
    assert started == [campaign_id]
    assert (await campaign(uow_factory, campaign_id)).audience_size == MEMBERS + 1


async def test_a_start_stopped_half_way_is_finished_later_every_member_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    members = await add_members(uow_factory, clock, MEMBERS)
    template = await make_template(uow_factory, clock, code="MDAY")
    campaign_id = await make_campaign(uow_factory, clock, settings, coupon_template=template.code, recurrence="monthly")
    add_recipients = CampaignRepository.add_recipients
    calls = 0

    async def crash_on_the_second_chunk(self: CampaignRepository, rows: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the process died")
        await add_recipients(self, rows)

    monkeypatch.setattr(CampaignRepository, "add_recipients", crash_on_the_second_chunk)
    assert await service.start_due(uow_factory, clock, settings) == []
    monkeypatch.setattr(CampaignRepository, "add_recipients", add_recipients)
    half = await campaign(uow_factory, campaign_id)
    if not database_url.startswith("sqlite"):
        # One transaction: nothing was kept, the claim included; the next run starts it again.
        assert (half.status, half.audience_size, await recipients(uow_factory, campaign_id)) == ("scheduled", None, {})
        assert await service.start_due(uow_factory, clock, settings) == [campaign_id]
        assert sorted(await recipients(uow_factory, campaign_id)) == members
        assert (await campaign(uow_factory, campaign_id)).audience_size == MEMBERS
        return
    assert (half.status, half.audience_size) == ("sending", None)
    assert sorted(await recipients(uow_factory, campaign_id)) == members[:CHUNK]

    # The sender drains what is there, and still does not call it finished.
    async with uow_factory() as uow:
        await uow.session.execute(
            update(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id).values(status="sent")
        )
        await uow.commit()
        assert not await service.finish_if_drained(uow, clock, campaign_id)
    # Not resumed while it may still be running elsewhere...
    assert await service.start_due(uow_factory, clock, settings) == []
    # ...but once it is clearly stopped, by two schedulers at once.
    clock.advance(service.START_RESUME_AFTER)
    first, second = await asyncio.gather(
        service.start_due(uow_factory, clock, settings), service.start_due(uow_factory, clock, settings)
    )
    assert sorted(first + second) == [campaign_id]
    rows = await recipients(uow_factory, campaign_id)
    assert sorted(rows) == members
    done = await campaign(uow_factory, campaign_id)
    assert done.audience_size == MEMBERS and done.status == "sending"
    coupons = await campaign_coupons(uow_factory, campaign_id)
    assert sorted(coupon.member_id for coupon in coupons) == sorted(
        member for member, row in rows.items() if row.status != "held_out" and row.coupon_id is not None
    )
    assert len({coupon.member_id for coupon in coupons}) == len(coupons), "one coupon per member"
    async with uow_factory() as uow:
        children = (await uow.session.scalars(select(Campaign).where(Campaign.parent_id == campaign_id))).all()
    assert len(children) == 1, "one next occurrence"
