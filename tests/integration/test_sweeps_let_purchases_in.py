"""The scheduler's member-by-member jobs never starve a purchase: on one connection, as a process
has on SQLite, a purchase issued while the tier review or the points expiry works on its first
member is recorded right after that member, not after the last. (The nudge sweeps' spans are
tested the same way in test_nudge_sweeps.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty import ledger, tiers
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from tests.utils.members import till_member

MEMBERS = 5


async def silver_members(factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    """Silver members with no purchases: the review marks each at risk."""
    ids = [(await till_member(factory, clock)).id for _ in range(MEMBERS)]
    async with factory() as uow:
        silver = await uow.program.tier_by_code("silver")
        assert silver is not None
        await uow.session.execute(update(Member).where(Member.id.in_(ids)).values(tier_id=silver.id))
        await uow.commit()


async def members_with_due_points(factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    now = clock.now()
    for _ in range(MEMBERS):
        member = await till_member(factory, clock)
        async with factory() as uow:
            locked = await uow.lock_member(member.id)
            await ledger.credit(uow, locked, points=10, kind="earn", at=now - timedelta(days=400),
                                expires_at=now - timedelta(days=1), actor="test")
            await uow.commit()


async def review(factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> object:
    return await tiers.review_tiers(factory, clock, settings)


async def expire(factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> object:
    return await ledger.expire_due(factory, clock)


JOBS = {
    "tier review": (silver_members, tiers, "review_member", review),
    "points expiry": (members_with_due_points, ledger, "expire_member", expire),
}


@pytest.mark.parametrize("job", JOBS)
async def test_a_purchase_during_a_member_by_member_job_waits_for_one_member(
    one_connection: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
    job: str,
) -> None:
    populate, module, per_member, run = JOBS[job]
    await populate(one_connection, clock)
    buyer = (await till_member(one_connection, clock)).member_number  # neither reviewed nor expiring
    order: list[str] = []
    member_open, purchase_asking = asyncio.Event(), asyncio.Event()
    original: Callable[..., Awaitable[Any]] = getattr(module, per_member)

    async def first_member_waits(*args: Any, **kwargs: Any) -> Any:
        order.append("member")  # its transaction holds the connection
        if not member_open.is_set():
            member_open.set()
            await purchase_asking.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, per_member, first_member_waits)

    async def purchase() -> None:
        await member_open.wait()
        async with one_connection() as uow:
            purchase_asking.set()  # the job goes on once this waits for the connection below
            request = PurchaseRequest(MemberRef(member_number=buyer), "during-job", "online", 100, "CNY")
            await record_purchase(
                uow, clock, settings, request, actor="test", idempotency=IdempotencyKey("test", "during-job", "x")
            )
            order.append("purchase")

    await asyncio.gather(run(one_connection, clock, settings), purchase())
    assert order == ["member", "purchase", *["member"] * (MEMBERS - 1)]


async def test_the_jobs_still_do_their_work(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await silver_members(uow_factory, clock)
    await members_with_due_points(uow_factory, clock)
    assert (await tiers.review_tiers(uow_factory, clock, settings)).at_risk == MEMBERS
    assert await ledger.expire_due(uow_factory, clock) == 10 * MEMBERS
