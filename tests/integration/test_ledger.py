"""The points ledger against a real database: credits, debits, lots, expiry and the checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import LedgerEntry, LotDebit, Member, PointLot
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.errors import InsufficientPoints, LedgerInconsistent
from loyalty.ledger import (
    DebitResult,
    ExpiringPoints,
    available,
    check_consistency,
    credit,
    debit,
    expire_due,
    expire_member,
    expiry_schedule,
)
from tests.utils.append_only import guard_lifted
from tests.utils.members import till_member

MONTH_END = datetime(2026, 12, 1, tzinfo=timezone.utc)  # the clock starts on 2026-11-24
LATER = datetime(2027, 3, 1, tzinfo=timezone.utc)
MUCH_LATER = datetime(2027, 6, 1, tzinfo=timezone.utc)


async def earn(
    uow: UnitOfWork, member: Member, points: int, *, at: datetime, expires_at: datetime
) -> PointLot:
    entry = await credit(
        uow, member, points=points, kind="earn", at=at, expires_at=expires_at, actor="test"
    )
    lot = await uow.session.scalar(select(PointLot).where(PointLot.entry_id == entry.id))
    assert lot is not None
    return lot


async def rows(uow: UnitOfWork, model: Any, member_id: int) -> list[Any]:
    if model is LotDebit:
        statement = (
            select(LotDebit)
            .join(LedgerEntry, LedgerEntry.id == LotDebit.entry_id)
            .where(LedgerEntry.member_id == member_id)
        )
    else:
        statement = select(model).where(model.member_id == member_id)
    return list(await uow.session.scalars(statement.order_by(model.id)))


async def balance(uow_factory: UnitOfWorkFactory, member_id: int) -> int:
    async with uow_factory() as uow:
        return int(
            await uow.session.scalar(select(Member.points_balance).where(Member.id == member_id))
        )


async def test_credit_appends_an_entry_and_a_lot_and_moves_the_balance(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        first = await credit(
            uow, locked, points=120, kind="earn", at=now, expires_at=LATER, actor="till"
        )
        second = await credit(
            uow,
            locked,
            points=30,
            kind="bonus",
            at=now,
            expires_at=MUCH_LATER,
            actor="rule",
            reason="signup",
        )
        await uow.commit()
    assert (first.points, first.balance_after, second.points, second.balance_after) == (
        120,
        120,
        30,
        150,
    )
    async with uow_factory() as uow:
        lots = await rows(uow, PointLot, member.id)
        assert [(lot.entry_id, lot.points, lot.remaining, lot.expires_at) for lot in lots] == [
            (first.id, 120, 120, LATER),
            (second.id, 30, 30, MUCH_LATER),
        ]
        await check_consistency(uow, member.id)
    assert await balance(uow_factory, member.id) == 150


async def test_debit_takes_the_soonest_expiring_lot_first(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        late = await earn(uow, locked, 100, at=now, expires_at=MUCH_LATER)
        soon = await earn(uow, locked, 40, at=now, expires_at=LATER)
        result = await debit(uow, locked, points=70, kind="redeem", at=now, actor="member")
        await uow.commit()
    assert result.debited == 70 and result.shortfall == 0 and result.entry is not None
    assert (result.entry.points, result.entry.balance_after) == (-70, 70)
    async with uow_factory() as uow:
        debits = await rows(uow, LotDebit, member.id)
        assert [(d.lot_id, d.points) for d in debits] == [(soon.id, 40), (late.id, 30)]
        lots = {lot.id: lot.remaining for lot in await rows(uow, PointLot, member.id)}
        assert lots == {late.id: 70, soon.id: 0}
        await check_consistency(uow, member.id)


async def test_same_expiry_goes_by_the_order_earned(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        older = await earn(uow, locked, 10, at=now, expires_at=LATER)
        newer = await earn(uow, locked, 10, at=now, expires_at=LATER)
        await debit(uow, locked, points=15, kind="redeem", at=now, actor="member")
        assert [(d.lot_id, d.points) for d in await rows(uow, LotDebit, member.id)] == [
            (older.id, 10),
            (newer.id, 5),
        ]


async def test_clawback_takes_from_the_purchase_lot_first(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        old = await earn(uow, locked, 50, at=now, expires_at=LATER)
        purchase_lot = await earn(uow, locked, 30, at=now, expires_at=MUCH_LATER)
        result = await debit(
            uow,
            locked,
            points=45,
            kind="clawback",
            at=now,
            actor="till",
            allow_partial=True,
            prefer_lot_ids=[purchase_lot.id],
        )
        assert result.debited == 45 and result.shortfall == 0
        assert [(d.lot_id, d.points) for d in await rows(uow, LotDebit, member.id)] == [
            (purchase_lot.id, 30),
            (old.id, 15),
        ]
        await check_consistency(uow, member.id)


async def test_preferred_lots_that_are_spent_or_foreign_are_ignored(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    other = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        theirs = await earn(uow, await uow.lock_member(other.id), 50, at=now, expires_at=LATER)
        locked = await uow.lock_member(member.id)
        spent = await earn(uow, locked, 10, at=now, expires_at=LATER)
        mine = await earn(uow, locked, 20, at=now, expires_at=MUCH_LATER)
        await debit(
            uow, locked, points=10, kind="redeem", at=now, actor="member"
        )  # empties `spent`
        await debit(
            uow,
            locked,
            points=5,
            kind="clawback",
            at=now,
            actor="till",
            prefer_lot_ids=[theirs.id, spent.id, 999_999],
        )
        assert theirs.remaining == 50 and mine.remaining == 15
        await check_consistency(uow, member.id)
        await check_consistency(uow, other.id)


async def test_partial_debit_reports_the_shortfall(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 25, at=now, expires_at=LATER)
        result = await debit(
            uow, locked, points=40, kind="clawback", at=now, actor="till", allow_partial=True
        )
        assert (result.debited, result.shortfall) == (25, 15)
        assert (
            result.entry is not None
            and result.entry.points == -25
            and result.entry.balance_after == 0
        )
        assert locked.points_balance == 0

        nothing = await debit(
            uow, locked, points=40, kind="clawback", at=now, actor="till", allow_partial=True
        )
        assert nothing == DebitResult(entry=None, debited=0, shortfall=40)
        assert len(await rows(uow, LedgerEntry, member.id)) == 2  # the earn and one clawback
        await check_consistency(uow, member.id)


async def test_not_enough_points_is_refused_with_needed_and_available(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 25, at=now, expires_at=LATER)
        await uow.commit()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        with pytest.raises(InsufficientPoints) as refused:
            await debit(uow, locked, points=26, kind="redeem", at=now, actor="member")
        assert refused.value.details == {"needed": 26, "available": 25}
        assert len(await rows(uow, LedgerEntry, member.id)) == 1
    assert await balance(uow_factory, member.id) == 25


async def test_expired_lot_is_never_spent_even_before_the_sweep(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 60, at=now, expires_at=MONTH_END)
        fresh = await earn(uow, locked, 20, at=now, expires_at=LATER)
        await uow.commit()

    after_month_end = MONTH_END + timedelta(hours=1)
    async with uow_factory() as uow:
        assert await available(uow, member.id, at=after_month_end) == 20
        locked = await uow.lock_member(member.id)
        assert locked.points_balance == 80  # not swept yet
        with pytest.raises(InsufficientPoints) as refused:
            await debit(uow, locked, points=30, kind="redeem", at=after_month_end, actor="member")
        assert refused.value.details == {"needed": 30, "available": 20}

    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        result = await debit(
            uow, locked, points=15, kind="redeem", at=after_month_end, actor="member"
        )
        await uow.commit()
    async with uow_factory() as uow:
        entries = await rows(uow, LedgerEntry, member.id)
        assert [(e.kind, e.points, e.balance_after, e.actor) for e in entries] == [
            ("earn", 60, 60, "test"),
            ("earn", 20, 80, "test"),
            ("expire", -60, 20, "expiry"),
            ("redeem", -15, 5, "member"),
        ]
        assert result.entry is not None and result.entry.id == entries[-1].id
        assert [(d.lot_id, d.points) for d in await uow.ledger.debits_of_entry(entries[-1].id)] == [
            (fresh.id, 15)
        ]
        await check_consistency(uow, member.id)


async def test_expiry_removes_only_what_is_left_of_a_lot(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        first = await earn(uow, locked, 100, at=now, expires_at=MONTH_END)
        second = await earn(uow, locked, 50, at=now, expires_at=MONTH_END)
        kept = await earn(uow, locked, 10, at=now, expires_at=LATER)
        await debit(uow, locked, points=70, kind="redeem", at=now, actor="member")
        expired = await expire_member(uow, locked, at=MONTH_END)
        assert expired == 30 + 50
        entries = await rows(uow, LedgerEntry, member.id)
        assert [(e.kind, e.points) for e in entries][-1] == ("expire", -80)
        assert [(d.lot_id, d.points) for d in await uow.ledger.debits_of_entry(entries[-1].id)] == [
            (first.id, 30),
            (second.id, 50),
        ]
        assert (first.remaining, second.remaining, kept.remaining, locked.points_balance) == (
            0,
            0,
            10,
            10,
        )
        assert await expire_member(uow, locked, at=MONTH_END) == 0  # nothing left to expire
        await check_consistency(uow, member.id)


async def test_expire_due_sweeps_every_member_once(uow_factory, clock) -> None:
    now = clock.now()
    members = [await till_member(uow_factory, clock) for _ in range(5)]
    untouched = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        for points, member in enumerate(members, start=1):
            locked = await uow.lock_member(member.id)
            await earn(uow, locked, points * 10, at=now, expires_at=MONTH_END)
            await earn(uow, locked, 1, at=now, expires_at=LATER)
        await earn(uow, await uow.lock_member(untouched.id), 7, at=now, expires_at=LATER)
        await uow.commit()

    assert await expire_due(uow_factory, clock) == 0  # nothing is due yet
    clock.set(MONTH_END)
    assert await expire_due(uow_factory, clock, batch=2) == 10 + 20 + 30 + 40 + 50  # three pages
    assert await expire_due(uow_factory, clock, batch=2) == 0
    async with uow_factory() as uow:
        for member in members:
            assert (
                await uow.session.scalar(
                    select(Member.points_balance).where(Member.id == member.id)
                )
                == 1
            )
            assert [e.kind for e in await rows(uow, LedgerEntry, member.id)] == [
                "earn",
                "earn",
                "expire",
            ]
            await check_consistency(uow, member.id)
        assert [e.kind for e in await rows(uow, LedgerEntry, untouched.id)] == ["earn"]


async def test_available_and_expiry_schedule(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 10, at=now, expires_at=MONTH_END)
        await earn(uow, locked, 20, at=now, expires_at=LATER)
        await earn(uow, locked, 5, at=now, expires_at=LATER)
        spent = await earn(uow, locked, 3, at=now, expires_at=MUCH_LATER)
        await debit(
            uow, locked, points=3, kind="redeem", at=now, actor="member", prefer_lot_ids=[spent.id]
        )
        await uow.commit()
    async with uow_factory() as uow:
        assert await available(uow, member.id, at=now) == 35
        assert await expiry_schedule(uow, member.id, at=now) == [
            ExpiringPoints(expires_at=MONTH_END, points=10),
            ExpiringPoints(expires_at=LATER, points=25),
        ]
        assert await available(uow, member.id, at=MONTH_END) == 25  # expired at that instant
        assert await expiry_schedule(uow, member.id, at=MONTH_END) == [ExpiringPoints(LATER, 25)]
        assert await available(uow, member.id, at=MUCH_LATER) == 0
        assert await expiry_schedule(uow, member.id, at=MUCH_LATER) == []


@pytest.mark.parametrize(
    "tamper",
    [
        update(Member).values(points_balance=Member.points_balance + 1),
        update(PointLot).where(PointLot.remaining > 0).values(remaining=PointLot.remaining - 1),
        update(LedgerEntry)
        .where(LedgerEntry.kind == "redeem")
        .values(balance_after=LedgerEntry.balance_after + 1),
        update(LotDebit).values(points=LotDebit.points + 1),
    ],
    ids=["balance", "lot_remaining", "balance_after", "lot_debit"],
)
async def test_consistency_check_finds_hand_edits(uow_factory, clock, tamper) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 50, at=now, expires_at=LATER)
        await earn(uow, locked, 50, at=now, expires_at=MUCH_LATER)
        await debit(uow, locked, points=60, kind="redeem", at=now, actor="member")
        await uow.commit()
    async with uow_factory() as uow:
        await check_consistency(uow, member.id)
        # The ledger's own rows refuse an UPDATE (db/append_only.py): this edit is one made by
        # someone who lifted that guard first.
        async with guard_lifted(await uow.session.connection()):
            await uow.session.execute(tamper)
        with pytest.raises(LedgerInconsistent) as found:
            await check_consistency(uow, member.id)
        assert found.value.member_id == member.id and found.value.problems


async def test_debit_refuses_to_run_on_a_balance_that_disagrees_with_the_lots(
    uow_factory, clock
) -> None:
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await earn(uow, locked, 50, at=clock.now(), expires_at=LATER)
        locked.points_balance = 80  # a stale or hand-edited cache
        with pytest.raises(LedgerInconsistent):
            await debit(uow, locked, points=60, kind="redeem", at=clock.now(), actor="member")


# --- bad input: programming errors, nothing written ---------------------------------------------


@pytest.mark.parametrize("points", [0, -5, True, 1.5])
async def test_credit_of_no_or_negative_points_is_a_programming_error(
    uow_factory, clock, points
) -> None:
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        with pytest.raises(ValueError, match="positive integer"):
            await credit(
                uow, locked, points=points, kind="earn", at=clock.now(), expires_at=LATER, actor="t"
            )
        assert locked.points_balance == 0
        await uow.commit()
    await assert_nothing_written(uow_factory, member.id)


@pytest.mark.parametrize("points", [0, -5])
async def test_debit_of_no_or_negative_points_is_a_programming_error(
    uow_factory, clock, points
) -> None:
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        with pytest.raises(ValueError, match="positive integer"):
            await debit(
                uow,
                locked,
                points=points,
                kind="redeem",
                at=clock.now(),
                actor="t",
                allow_partial=True,
            )
        await uow.commit()
    await assert_nothing_written(uow_factory, member.id)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda uow, m, now: credit(
                uow, m, points=5, kind="redeem", at=now, expires_at=LATER, actor="t"
            ),
            "kind",
        ),
        (
            lambda uow, m, now: credit(
                uow, m, points=5, kind="earn", at=now, expires_at=now, actor="t"
            ),
            "expired",
        ),
        (
            lambda uow, m, now: credit(
                uow,
                m,
                points=5,
                kind="earn",
                at=now.replace(tzinfo=None),
                expires_at=LATER,
                actor="t",
            ),
            "timezone-aware",
        ),
        (lambda uow, m, now: debit(uow, m, points=5, kind="earn", at=now, actor="t"), "kind"),
        (lambda uow, m, now: debit(uow, m, points=5, kind="expire", at=now, actor="t"), "kind"),
        (
            lambda uow, m, now: debit(
                uow, m, points=5, kind="redeem", at=now.replace(tzinfo=None), actor="t"
            ),
            "timezone-aware",
        ),
    ],
    ids=[
        "credit_kind",
        "credit_born_expired",
        "credit_naive",
        "debit_kind",
        "debit_expire_kind",
        "debit_naive",
    ],
)
async def test_other_programming_errors_write_nothing(uow_factory, clock, call, message) -> None:
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        with pytest.raises(ValueError, match=message):
            await call(uow, locked, clock.now())
        await uow.commit()
    await assert_nothing_written(uow_factory, member.id)


async def test_a_member_from_another_unit_of_work_is_refused(uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock)  # loaded by a unit of work that has closed
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="lock_member"):
            await credit(
                uow, member, points=5, kind="earn", at=clock.now(), expires_at=LATER, actor="t"
            )
    await assert_nothing_written(uow_factory, member.id)


async def assert_nothing_written(uow_factory: UnitOfWorkFactory, member_id: int) -> None:
    async with uow_factory() as uow:
        for model in (LedgerEntry, PointLot, LotDebit):
            assert await rows(uow, model, member_id) == []
    assert await balance(uow_factory, member_id) == 0


# --- append-only --------------------------------------------------------------------------------


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_entries_and_lot_debits_are_only_ever_inserted(
    uow_factory, clock: FixedClock, engine
) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()
    with recorded_statements(engine) as statements:
        async with uow_factory() as uow:
            locked = await uow.lock_member(member.id)
            lot = await earn(uow, locked, 40, at=now, expires_at=MONTH_END)
            await earn(uow, locked, 40, at=now, expires_at=LATER)
            await debit(uow, locked, points=10, kind="redeem", at=now, actor="member")
            await debit(
                uow, locked, points=5, kind="clawback", at=now, actor="t", prefer_lot_ids=[lot.id]
            )
            await debit(uow, locked, points=5, kind="adjust", at=now, actor="staff")
            await uow.commit()
        clock.set(MONTH_END)
        assert await expire_due(uow_factory, clock) == 20
    writes = [s for s in statements if s.startswith(("update", "delete"))]
    assert writes, "the caches (lots, balance) are updated"
    for statement in writes:
        assert "ledger_entries" not in statement and "lot_debits" not in statement, statement
    async with uow_factory() as uow:
        assert int(await uow.session.scalar(select(func.count()).select_from(LotDebit))) == 4
        await check_consistency(uow, member.id)


async def test_expire_due_logs_and_skips_a_member_it_cannot_expire(
    uow_factory, clock, caplog
) -> None:
    broken, fine = await till_member(uow_factory, clock), await till_member(uow_factory, clock)
    now = clock.now()
    async with uow_factory() as uow:
        for member in (broken, fine):
            await earn(uow, await uow.lock_member(member.id), 30, at=now, expires_at=MONTH_END)
        await uow.commit()
        # Break the cache so that expiring it would drive the balance below zero.
        await uow.session.execute(
            text("UPDATE members SET points_balance = 10 WHERE id = :id"), {"id": broken.id}
        )
        await uow.commit()
    clock.set(MONTH_END)
    assert await expire_due(uow_factory, clock) == 30
    assert f"member {broken.id} failed" in caplog.text
    assert await balance(uow_factory, fine.id) == 0
    assert await balance(uow_factory, broken.id) == 10
