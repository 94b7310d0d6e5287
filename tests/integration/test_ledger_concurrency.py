"""Many transactions on one member at once, as tills, the chat and the expiry sweep make them.

Each task is its own unit of work that locks the member, changes points and commits, the way
every use case does. On PostgreSQL the member's row lock serialises them; on SQLite the
BEGIN IMMEDIATE of every transaction does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from sqlalchemy import func, select

from db.models import LedgerEntry, LotDebit, Member, PointLot
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.errors import InsufficientPoints
from loyalty.ledger import check_consistency, credit, debit, expire_due
from tests.utils.members import till_member

MONTH_END = datetime(2026, 12, 1, tzinfo=timezone.utc)  # the clock starts on 2026-11-24
LATER = datetime(2027, 6, 1, tzinfo=timezone.utc)

T = TypeVar("T")


async def all_of(tasks: list[Awaitable[T]]) -> list[T]:
    """Run concurrently; any error fails the test with its own traceback (`take` answers a
    refusal with False)."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type]


async def give(
    uow_factory: UnitOfWorkFactory,
    member_id: int,
    points: int,
    *,
    at: datetime,
    expires_at: datetime,
) -> None:
    async with uow_factory() as uow:
        member = await uow.lock_member(member_id)
        await credit(
            uow, member, points=points, kind="earn", at=at, expires_at=expires_at, actor="test"
        )
        await uow.commit()


async def take(
    uow_factory: UnitOfWorkFactory, member_id: int, points: int, *, at: datetime
) -> bool:
    """One redemption in its own transaction; False when refused for lack of points."""
    async with uow_factory() as uow:
        member = await uow.lock_member(member_id)
        try:
            await debit(uow, member, points=points, kind="redeem", at=at, actor="test")
        except InsufficientPoints:
            return False
        await uow.commit()
        return True


async def stored_balance(uow_factory: UnitOfWorkFactory, member_id: int) -> int:
    async with uow_factory() as uow:
        await check_consistency(uow, member_id)
        return int(
            await uow.session.scalar(select(Member.points_balance).where(Member.id == member_id))
        )


async def test_thirty_concurrent_redemptions_of_ten_from_two_hundred(
    uow_factory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    for month in range(4):  # four lots of 50 with different expiries, so debits cross lots
        await give(
            uow_factory, member.id, 50, at=now, expires_at=LATER + timedelta(days=31 * month)
        )

    outcomes = await all_of([take(uow_factory, member.id, 10, at=now) for _ in range(30)])

    assert outcomes.count(True) == 20 and outcomes.count(False) == 10
    assert await stored_balance(uow_factory, member.id) == 0
    async with uow_factory() as uow:
        # Every lot was spent exactly once: its debits add up to its points, no more.
        per_lot = await uow.session.execute(
            select(PointLot.points, func.sum(LotDebit.points))
            .join(LotDebit, LotDebit.lot_id == PointLot.id)
            .where(PointLot.member_id == member.id)
            .group_by(PointLot.id, PointLot.points)
        )
        assert [(points, int(debited)) for points, debited in per_lot] == [(50, 50)] * 4
        balances = await uow.session.scalars(
            select(LedgerEntry.balance_after)
            .where(LedgerEntry.member_id == member.id, LedgerEntry.kind == "redeem")
            .order_by(LedgerEntry.id)
        )
        assert list(balances) == list(range(190, -1, -10))


async def test_concurrent_credits_and_debits_add_up(uow_factory, clock: FixedClock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    await give(uow_factory, member.id, 100, at=now, expires_at=LATER)
    rng = random.Random(4)
    # (points, is_debit) in a shuffled order, so credits and debits interleave.
    work = [(rng.randint(1, 60), False) for _ in range(25)] + [
        (rng.randint(1, 80), True) for _ in range(35)
    ]
    rng.shuffle(work)

    outcomes = await all_of(
        [
            take(uow_factory, member.id, points, at=now)
            if is_debit
            else give(
                uow_factory, member.id, points, at=now, expires_at=LATER + timedelta(days=index)
            )
            for index, (points, is_debit) in enumerate(work)
        ]
    )

    credited = sum(points for points, is_debit in work if not is_debit)
    debited = [points for (points, is_debit), ok in zip(work, outcomes, strict=True) if is_debit and ok]
    refused = [points for (points, is_debit), ok in zip(work, outcomes, strict=True) if is_debit and not ok]
    assert debited and refused, "the mix should both succeed and run out"
    assert await stored_balance(uow_factory, member.id) == 100 + credited - sum(debited)
    async with uow_factory() as uow:
        redeemed = await uow.session.scalars(
            select(LedgerEntry.points).where(
                LedgerEntry.member_id == member.id, LedgerEntry.kind == "redeem"
            )
        )
        assert sorted(-points for points in redeemed) == sorted(debited)


async def test_expiry_sweeps_racing_redemptions_never_double_expire(
    uow_factory, clock: FixedClock, caplog
) -> None:
    caplog.set_level(logging.ERROR, logger="loyalty.ledger")
    now = clock.now()
    members = [await till_member(uow_factory, clock) for _ in range(8)]
    for member in members:
        await give(uow_factory, member.id, 70, at=now, expires_at=MONTH_END)
        await give(uow_factory, member.id, 30, at=now, expires_at=LATER)
    clock.set(MONTH_END + timedelta(minutes=5))
    later = clock.now()

    # Three sweeps (one in small pages) and four redemptions of 20 per member, all at once.
    sweeps = [
        expire_due(uow_factory, clock),
        expire_due(uow_factory, clock, batch=3),
        expire_due(uow_factory, clock),
    ]
    redemptions = [
        take(uow_factory, member.id, 20, at=later) for member in members for _ in range(4)
    ]
    outcomes = await all_of([*sweeps, *redemptions])

    expired_by_sweeps = sum(outcomes[: len(sweeps)])
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    async with uow_factory() as uow:
        for member in members:
            kinds = list(
                await uow.session.scalars(
                    select(LedgerEntry.kind)
                    .where(LedgerEntry.member_id == member.id)
                    .order_by(LedgerEntry.id)
                )
            )
            # Exactly one expiry per member, whether a sweep or a redemption got there first,
            # and only the 30 fresh points could be spent: one redemption of 20.
            assert kinds.count("expire") == 1 and kinds.count("redeem") == 1, kinds
            expired = await uow.session.scalar(
                select(LedgerEntry.points).where(
                    LedgerEntry.member_id == member.id, LedgerEntry.kind == "expire"
                )
            )
            assert expired == -70
    for member in members:
        assert await stored_balance(uow_factory, member.id) == 10
    assert expired_by_sweeps <= 70 * len(members)  # the rest was expired by the redemptions
    assert await expire_due(uow_factory, clock) == 0
