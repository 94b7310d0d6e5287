"""A generated population for the KPI tests (members, purchases at several stores, refunds,
ledger movements, expiry, tier moves, anonymous sales), written straight to the tables, and the
dashboard's figures computed from it in plain Python: the reference `dashboard()` must match."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from sqlalchemy import select

from db.models import (
    AnonymousSale,
    LedgerEntry,
    LotDebit,
    Member,
    PointLot,
    Purchase,
    Refund,
    Store,
    Tier,
    TierChange,
)
from db.uow import UnitOfWorkFactory
from loyalty.kpis.model import Period

ZONE = ZoneInfo("Asia/Shanghai")
STORE_CODES = ("K-A", "K-B")
_numbers = itertools.count(1)


def local_noon(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(timezone.utc)


@dataclass(frozen=True)
class PurchaseSpec:
    member: int  # index into members
    day: int  # days before today
    hour: int  # local hour (0-23): days are local
    store: int | None  # index into STORE_CODES; None: online
    amount: int
    currency: str = "CNY"
    refund: int = 0
    refund_after: int = 0  # days after the purchase


@dataclass(frozen=True)
class LedgerSpec:
    member: int
    day: int
    kind: str  # earn, bonus, adjust, redeem, expire, clawback
    points: int  # positive: credits it, negative: debits it (kept within the balance)


@dataclass(frozen=True)
class Population:
    joined: tuple[int, ...]  # per member: days before today it enrolled
    erased: tuple[int | None, ...]  # per member: days before today it was erased, or None
    purchases: tuple[PurchaseSpec, ...]
    ledger: tuple[LedgerSpec, ...]
    moves: tuple[tuple[int, int, int], ...]  # (member, day, to rank)
    anonymous: tuple[tuple[int | None, int, int], ...]  # (store index, day, amount)


@st.composite
def populations(draw: st.DrawFn, days: int = 24) -> Population:
    count = draw(st.integers(1, 8))
    joined = tuple(draw(st.lists(st.integers(0, days), min_size=count, max_size=count)))
    erased = tuple(
        draw(st.one_of(st.none(), st.integers(0, joined[index]))) if draw(st.booleans()) and index % 3 == 2 else None
        for index in range(count)
    )
    purchases = []
    for _ in range(draw(st.integers(0, 14))):
        member = draw(st.integers(0, count - 1))
        last = erased[member] if erased[member] is not None else 0
        day = draw(st.integers(last, joined[member]))
        amount = draw(st.integers(1, 50_000))
        purchases.append(
            PurchaseSpec(
                member=member,
                day=day,
                hour=draw(st.integers(0, 23)),
                store=draw(st.sampled_from([None, 0, 1])),
                amount=amount,
                currency=draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"])),
                refund=draw(st.sampled_from([0, 0, amount, amount // 2 or 1])),
                refund_after=draw(st.integers(0, 3)),
            )
        )
    ledger = []
    for _ in range(draw(st.integers(0, 12))):
        member = draw(st.integers(0, count - 1))
        last = erased[member] if erased[member] is not None else 0
        kind = draw(st.sampled_from(["earn", "bonus", "adjust", "redeem", "expire", "clawback"]))
        points = draw(st.integers(1, 900))
        signed = points if kind in ("earn", "bonus") else -points if kind != "adjust" else draw(st.sampled_from([points, -points]))
        ledger.append(LedgerSpec(member, draw(st.integers(last, joined[member])), kind, signed))
    moves = tuple(
        (member, draw(st.integers(0, joined[member])), draw(st.integers(0, 3)))
        for member in draw(st.lists(st.integers(0, count - 1), max_size=5))
    )
    anonymous = tuple(
        (draw(st.sampled_from([None, 0, 1])), day, draw(st.integers(0, 90_000)))
        for day in draw(st.lists(st.integers(0, days), max_size=5, unique=True))
    )
    return Population(joined, erased, tuple(purchases), tuple(ledger), moves, anonymous)


@dataclass
class Written:
    """What went into the tables, in the shapes the reference reads."""

    members: list[tuple[int, datetime, datetime | None]] = field(default_factory=list)  # id, joined, erased
    purchases: list[tuple[int, int | None, datetime, int, str]] = field(default_factory=list)  # member, store, at, amount, currency
    refunds: list[tuple[int | None, datetime, int, str]] = field(default_factory=list)  # store, at, amount, currency
    ledger: list[tuple[int, datetime, str, int]] = field(default_factory=list)  # member, at, kind, points
    moves: list[tuple[int, datetime, int, int]] = field(default_factory=list)  # member, at, from, to
    anonymous: list[tuple[int | None, date, int]] = field(default_factory=list)
    lots: list[tuple[datetime, int]] = field(default_factory=list)  # earned at, points
    expired: list[tuple[datetime, datetime, int]] = field(default_factory=list)  # lot earned at, expired at, points
    stores: dict[str, int] = field(default_factory=dict)


async def write(uow_factory: UnitOfWorkFactory, population: Population, today: date) -> Written:
    """Write the population as the program would have left it (balances within the ledger,
    erased rows anonymous, a forfeit of what an erased member held)."""
    written = Written()
    async with uow_factory() as uow:
        session = uow.session
        tiers = {tier.rank: tier for tier in (await session.scalars(select(Tier))).all()}
        for code in STORE_CODES:
            store = Store(code=code, name=code, timezone="Asia/Shanghai", active=True, created_at=local_noon(today - timedelta(days=400)))
            session.add(store)
            await session.flush()
            written.stores[code] = store.id
        store_ids = [written.stores[code] for code in STORE_CODES]

        members: list[Member] = []
        for index, ago in enumerate(population.joined):
            at = local_noon(today - timedelta(days=ago), hour=index % 24)
            member = Member(
                member_number=f"K{next(_numbers):09d}", locale="en", enrolled_via="till", consent_version="test",
                consented_at=at, points_balance=0, tier_id=tiers[0].id, tier_since=at, created_at=at, updated_at=at,
            )
            session.add(member)
            members.append(member)
        await session.flush()

        # The ledger, in time order per member, each debit kept within the balance.
        balance: dict[int, int] = defaultdict(int)
        entries = sorted(
            population.ledger, key=lambda spec: (-spec.day, spec.member)
        )
        for number, spec in enumerate(entries):
            member = members[spec.member]
            at = local_noon(today - timedelta(days=spec.day), hour=(number * 5) % 24)
            if at < member.created_at:
                at = member.created_at + timedelta(minutes=1 + number)
            points = spec.points if spec.points > 0 else -min(-spec.points, balance[member.id])
            if points == 0:
                continue
            balance[member.id] += points
            entry = LedgerEntry(member_id=member.id, at=at, kind=spec.kind, points=points, balance_after=balance[member.id], actor="test")
            session.add(entry)
            await session.flush()
            written.ledger.append((member.id, at, spec.kind, points))
            if points > 0:
                session.add(PointLot(member_id=member.id, entry_id=entry.id, earned_at=at, expires_at=at + timedelta(days=400), points=points, remaining=points))
        await session.flush()
        # Expired points come out of the member's lots, oldest first, so breakage can be read.
        for member in members:
            lots = list((await session.scalars(select(PointLot).where(PointLot.member_id == member.id).order_by(PointLot.id))).all())
            debits = (await session.scalars(
                select(LedgerEntry).where(LedgerEntry.member_id == member.id, LedgerEntry.points < 0).order_by(LedgerEntry.at, LedgerEntry.id)
            )).all()
            for debit in debits:
                owed = -debit.points
                for lot in lots:
                    if owed == 0:
                        break
                    if lot.remaining == 0 or lot.earned_at > debit.at:
                        continue
                    taken = min(lot.remaining, owed)
                    lot.remaining -= taken
                    owed -= taken
                    session.add(LotDebit(entry_id=debit.id, lot_id=lot.id, points=taken))
                    if debit.kind == "expire":
                        written.expired.append((lot.earned_at, debit.at, taken))
            written.lots.extend((lot.earned_at, lot.points) for lot in lots)
        await session.flush()

        for index, member in enumerate(members):
            ago = population.erased[index]
            if ago is None:
                member.points_balance = balance[member.id]
                continue
            at = max(local_noon(today - timedelta(days=ago), hour=23), member.created_at + timedelta(hours=1))
            if balance[member.id]:
                session.add(LedgerEntry(member_id=member.id, at=at, kind="forfeit", points=-balance[member.id], balance_after=0, actor="test"))
                written.ledger.append((member.id, at, "forfeit", -balance[member.id]))
            member.erased_at = at
            written.members.append((member.id, member.created_at, at))
        for member in members:
            if member.erased_at is None:
                written.members.append((member.id, member.created_at, None))

        for spec in population.purchases:
            member = members[spec.member]
            at = local_noon(today - timedelta(days=spec.day), hour=spec.hour)
            if at < member.created_at:
                at = member.created_at + timedelta(minutes=5)
            if member.erased_at is not None and at >= member.erased_at:
                continue
            store_id = store_ids[spec.store] if spec.store is not None else None
            purchase = Purchase(
                member_id=member.id, order_id=f"K-{next(_numbers)}", channel="store" if store_id else "online",
                store_id=store_id, amount_minor=spec.amount, currency=spec.currency, purchased_at=at,
                points_earned=0, refunded_minor=spec.refund, created_at=at,
            )
            session.add(purchase)
            await session.flush()
            written.purchases.append((member.id, store_id, at, spec.amount, spec.currency))
            if spec.refund:
                refunded_at = at + timedelta(days=spec.refund_after)
                session.add(Refund(purchase_id=purchase.id, refund_id=f"R-{next(_numbers)}", amount_minor=spec.refund, points_clawed_back=0, refunded_at=refunded_at))
                written.refunds.append((store_id, refunded_at, spec.refund, spec.currency))

        last_rank: dict[int, int] = defaultdict(int)
        for member_index, ago, rank in sorted(population.moves, key=lambda move: (-move[1], move[0])):
            member = members[member_index]
            at = max(local_noon(today - timedelta(days=ago), hour=3), member.created_at + timedelta(minutes=2))
            if rank == last_rank[member.id]:
                continue
            session.add(TierChange(member_id=member.id, from_rank=last_rank[member.id], to_rank=rank, at=at))
            await session.flush()
            written.moves.append((member.id, at, last_rank[member.id], rank))
            last_rank[member.id] = rank

        for store, ago, amount in population.anonymous:
            store_id = store_ids[store] if store is not None else None
            day = today - timedelta(days=ago)
            session.add(AnonymousSale(store_id=store_id, day=day, amount_minor=amount, currency="CNY", sales=3, reported_at=local_noon(day), reported_by="test"))
            written.anonymous.append((store_id, day, amount))
        await uow.commit()
    return written


def bounds(period: Period) -> tuple[datetime, datetime]:
    start = datetime.combine(period.start, time(0), ZONE).astimezone(timezone.utc)
    end = datetime.combine(period.end + timedelta(days=1), time(0), ZONE).astimezone(timezone.utc)
    return start, end


def reference(written: Written, period: Period, store_id: int | None, *, now: datetime, point_cost: Decimal) -> dict[str, int | float | None]:
    """The figures of `period` computed directly from what was written."""
    start, end = bounds(period)
    end = min(end, now + timedelta(days=1))  # nothing is later than the test's data anyway

    def within(at: datetime) -> bool:
        return start <= at < end

    def members_at(moment: datetime) -> int:
        return sum(1 for _, joined, erased in written.members if joined < moment and (erased is None or erased >= moment))

    def in_scope(store: int | None) -> bool:
        return store_id is None or store == store_id

    purchases = [p for p in written.purchases if within(p[2]) and p[4] == "CNY" and in_scope(p[1])]
    refunds = sum(r[2] for r in written.refunds if within(r[1]) and r[3] == "CNY" and in_scope(r[0]))
    revenue = sum(p[3] for p in purchases) - refunds
    per_member: dict[int, int] = defaultdict(int)
    for purchase in purchases:
        per_member[purchase[0]] += 1
    active = len(per_member)
    repeat = sum(1 for count in per_member.values() if count >= 2)
    anonymous = [a for a in written.anonymous if period.start <= a[1] <= period.end and in_scope(a[0])]
    anonymous_total = sum(a[2] for a in anonymous)
    ledger = [entry for entry in written.ledger if within(entry[1])]

    def moved(kind: str, sign: int) -> int:
        return sum(abs(points) for _, _, entry_kind, points in ledger if entry_kind == kind and points * sign > 0)

    issued = moved("earn", 1) + moved("bonus", 1) + moved("adjust", 1) - moved("clawback", -1)
    redeemed = moved("redeem", -1)
    outstanding = sum(points for _, at, _, points in written.ledger if at < end)
    at_start = members_at(start)
    new = sum(1 for _, joined, _ in written.members if within(joined))

    def ratio(a: float, b: float) -> float | None:
        return a / b if b else None

    def money(amount: Decimal | float) -> int:
        return int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    aov = ratio(revenue, len(purchases))
    return {
        "members.total": members_at(end),
        "members.new": new,
        "members.active": active,
        "members.growth_rate": ratio(new, at_start),
        "spend.revenue": revenue,
        "spend.frequency": ratio(len(purchases), active),
        "spend.aov": None if aov is None else money(aov),
        "spend.repeat_rate": ratio(repeat, active),
        "spend.contribution": ratio(revenue, revenue + anonymous_total) if anonymous else None,
        "points.issued": issued,
        "points.redeemed": redeemed,
        "points.expired": moved("expire", -1),
        "points.outstanding": outstanding,
        "points.redemption_rate": ratio(redeemed, issued) if issued > 0 else None,
        "points.liability": money(outstanding * point_cost),
    }


def tiers_at(written: Written, moment: datetime) -> dict[int, int]:
    """Members (enrolled, not erased) per rank at `moment`."""
    ranks: dict[int, int] = defaultdict(int)
    for member, joined, erased in written.members:
        if joined >= moment or (erased is not None and erased < moment):
            continue
        moves = [move for move in written.moves if move[0] == member and move[1] < moment]
        ranks[moves[-1][3] if moves else 0] += 1
    return dict(ranks)


def breakage(written: Written, month: date, until: datetime) -> float | None:
    """Of the points earned in `month` (local), the share expired before `until`."""

    def in_month(at: datetime) -> bool:
        local = at.astimezone(ZONE)
        return (local.year, local.month) == (month.year, month.month)

    earned = sum(points for at, points in written.lots if in_month(at))
    lost = sum(points for at, expired_at, points in written.expired if in_month(at) and expired_at < until)
    return lost / earned if earned else None
