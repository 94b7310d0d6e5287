"""Random histories of earning, spending, claw-backs, adjustments, sweeps and time passing, run
against the real database and checked after every step against a plain-Python model.

Each example is one member in one unit of work that is never committed, so an example costs a
handful of queries per step and leaves nothing behind; the sequences are long instead of many.
A failure shrinks to a short list of steps such as `[Earn(points=1, months=1), Wait(days=40),
Redeem(points=1)]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import hypothesis
import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import LedgerEntry, Member, PointLot
from db.uow import UnitOfWork
from loyalty.clock import FixedClock
from loyalty.errors import InsufficientPoints
from loyalty.ledger import available, check_consistency, credit, debit, expire_member, lot_expiry
from tests.conftest import START
from tests.utils.members import till_member

ZONE = ZoneInfo("Asia/Shanghai")


# --- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Earn:
    points: int
    months: int  # expiry: end of the month this many months on


@dataclass(frozen=True)
class Redeem:
    points: int


@dataclass(frozen=True)
class Clawback:
    earn: int  # which earlier Earn's lot to prefer (modulo how many there were)
    points: int


@dataclass(frozen=True)
class Adjust:
    points: int  # taken away by staff


@dataclass(frozen=True)
class Sweep:
    pass


@dataclass(frozen=True)
class Wait:
    days: int


Step = Earn | Redeem | Clawback | Adjust | Sweep | Wait

points = st.integers(min_value=1, max_value=200)
earns = st.builds(Earn, points=points, months=st.integers(min_value=1, max_value=3))
steps = st.one_of(
    earns,
    earns,  # twice as likely as each other step, so balances build up and debits succeed
    st.builds(Redeem, points=points),
    st.builds(Clawback, earn=st.integers(min_value=0, max_value=40), points=points),
    st.builds(Adjust, points=st.integers(min_value=1, max_value=100)),
    st.just(Sweep()),
    st.builds(Wait, days=st.integers(min_value=1, max_value=100)),
)


# --- the model: lots as a list, FIFO as a sort ----------------------------------------------------


@dataclass
class ModelLot:
    lot_id: int  # the database id, to compare lot by lot
    expires_at: datetime
    remaining: int


@dataclass
class Model:
    lots: list[ModelLot] = field(default_factory=list)
    expired: int = 0

    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def available(self, at: datetime) -> int:
        return sum(lot.remaining for lot in self.lots if lot.expires_at > at)

    def expire(self, at: datetime) -> int:
        total = 0
        for lot in self.lots:
            if lot.expires_at <= at:
                total, lot.remaining = total + lot.remaining, 0
        self.expired += total
        return total

    def debit(self, points: int, at: datetime, *, partial: bool, prefer: int | None) -> int:
        """Points taken; raises InsufficientPoints like the ledger."""
        self.expire(at)
        have = self.available(at)
        if points > have and not partial:
            raise InsufficientPoints(needed=points, available=have)
        order = sorted(
            self.lots, key=lambda lot: (lot.lot_id != prefer, lot.expires_at, lot.lot_id)
        )
        left = taken = min(points, have)
        for lot in order:
            part = min(lot.remaining, left)
            lot.remaining, left = lot.remaining - part, left - part
        return taken


# --- running one history -------------------------------------------------------------------------


@dataclass
class Run:
    uow: UnitOfWork
    member: Member
    clock: FixedClock
    model: Model = field(default_factory=Model)
    earned_lots: list[int] = field(default_factory=list)

    async def apply(self, step: Step) -> None:
        now = self.clock.now()
        match step:
            case Earn(points=points, months=months):
                entry = await credit(
                    self.uow,
                    self.member,
                    points=points,
                    kind="earn",
                    at=now,
                    expires_at=lot_expiry(now, months=months, zone=ZONE),
                    actor="test",
                )
                lot = await self.uow.session.scalar(
                    select(PointLot).where(PointLot.entry_id == entry.id)
                )
                assert lot is not None
                self.model.lots.append(ModelLot(lot.id, lot.expires_at, points))
                self.earned_lots.append(lot.id)
            case Redeem(points=points):
                await self.debit(points, kind="redeem", partial=False, prefer=None)
            case Clawback(earn=index, points=points):
                prefer = (
                    self.earned_lots[index % len(self.earned_lots)] if self.earned_lots else None
                )
                await self.debit(points, kind="clawback", partial=True, prefer=prefer)
            case Adjust(points=points):
                await self.debit(points, kind="adjust", partial=False, prefer=None)
            case Sweep():
                assert await expire_member(self.uow, self.member, at=now) == self.model.expire(now)
            case Wait(days=days):
                self.clock.advance(timedelta(days=days))

    async def debit(self, points: int, *, kind: str, partial: bool, prefer: int | None) -> None:
        now = self.clock.now()
        before = {
            lot.lot_id: lot.remaining
            for lot in self.model.lots
            if lot.expires_at > now and lot.remaining
        }
        try:
            expected = self.model.debit(points, now, partial=partial, prefer=prefer)
        except InsufficientPoints as refused:
            with pytest.raises(InsufficientPoints) as raised:
                await debit(self.uow, self.member, points=points, kind=kind, at=now, actor="test")
            assert raised.value.details == refused.details
            return
        result = await debit(
            self.uow,
            self.member,
            points=points,
            kind=kind,
            at=now,
            actor="test",
            allow_partial=partial,
            prefer_lot_ids=[prefer] if prefer is not None else [],
        )
        assert (result.debited, result.shortfall) == (expected, points - expected)
        if result.entry is None:
            assert expected == 0
            return
        taken = {
            row.lot_id: row.points for row in await self.uow.ledger.debits_of_entry(result.entry.id)
        }
        assert sum(taken.values()) == expected
        self.assert_fifo(before, taken, prefer)

    def assert_fifo(
        self, before: dict[int, int], taken: dict[int, int], prefer: int | None
    ) -> None:
        """Checked on the database's own lot debits, not through the model: a debit touches only
        usable lots, and a lot other than the preferred one only once every lot expiring before
        it (other than the preferred one) was emptied by this debit."""
        expiry = {lot.lot_id: lot.expires_at for lot in self.model.lots}
        assert set(taken) <= set(before), f"took from an expired or empty lot: {taken} of {before}"
        fifo = sorted((lot for lot in before if lot != prefer), key=lambda lot: (expiry[lot], lot))
        for position, lot in enumerate(fifo):
            if lot in taken:
                for older in fifo[:position]:
                    assert taken.get(older) == before[older], (
                        f"lot {lot} used before older lot {older}"
                    )
            assert taken.get(lot, 0) <= before[lot]
        if prefer in before and set(taken) - {prefer}:
            assert taken.get(prefer) == before[prefer], "the preferred lot was not emptied first"

    async def check(self) -> None:
        now = self.clock.now()
        await check_consistency(self.uow, self.member.id)
        balance = self.member.points_balance
        assert balance >= 0
        assert balance == self.model.balance()
        assert await available(self.uow, self.member.id, at=now) == self.model.available(now)
        lots = await self.uow.session.execute(
            select(PointLot.id, PointLot.remaining).where(PointLot.member_id == self.member.id)
        )
        assert dict(lots.all()) == {lot.lot_id: lot.remaining for lot in self.model.lots}
        # Expiry took exactly what was left unspent in the expired lots, never a spent point.
        expired = await self.uow.session.scalar(
            select(func.coalesce(-func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.member_id == self.member.id, LedgerEntry.kind == "expire"
            )
        )
        assert expired == self.model.expired


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    # One database for all examples is the point: each example makes its own member.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Long histories cross several month ends; drawing the length first keeps them long (a plain
# st.lists averages a handful of steps) while still letting the length shrink.
@given(
    history=st.integers(min_value=1, max_value=120).flatmap(
        lambda n: st.lists(steps, min_size=n, max_size=n)
    )
)
async def test_ledger_agrees_with_the_model_after_every_step(
    uow_factory, history: list[Step]
) -> None:
    clock = FixedClock(START)
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        run = Run(uow=uow, member=await uow.lock_member(member.id), clock=clock)
        for number, step in enumerate(history, start=1):
            note(f"step {number}: {step} at {clock.now():%Y-%m-%d}")
            await run.apply(step)
            await run.check()
