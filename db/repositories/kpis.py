"""The dashboard's numbers: the raw sums a day's roll-up is built from, the roll-ups themselves,
tier moves and anonymous sales (loyalty/kpis)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AnonymousSale,
    Campaign,
    KpiBitmap,
    KpiDaily,
    KpiDay,
    KpiSnapshot,
    LedgerEntry,
    LedgerKind,
    LotDebit,
    Member,
    PointLot,
    Purchase,
    Refund,
    TierChange,
)

# Rows per INSERT: PostgreSQL takes at most 32,767 bound parameters a statement.
_INSERT_BATCH = 2000


class KpiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- raw tables: what one day is built from --------------------------------------------------

    async def first_activity(self) -> datetime | None:
        """The earliest moment anything the dashboard counts happened (a member joined, a
        purchase, a ledger movement)."""
        firsts = [
            await self._session.scalar(select(func.min(Member.created_at))),
            await self._session.scalar(select(func.min(Purchase.purchased_at))),
            await self._session.scalar(select(func.min(LedgerEntry.at))),
        ]
        known = [moment for moment in firsts if moment is not None]
        return min(known) if known else None

    async def first_anonymous_day(self) -> date | None:
        return await self._session.scalar(select(func.min(AnonymousSale.day)))

    async def joined(self, start: datetime, end: datetime) -> list[int]:
        statement = select(Member.id).where(Member.created_at >= start, Member.created_at < end)
        return list((await self._session.scalars(statement)).all())

    async def members_at(self, end: datetime) -> int:
        """Members enrolled before `end` and not erased by then."""
        statement = select(func.count()).select_from(Member).where(
            Member.created_at < end, or_(Member.erased_at.is_(None), Member.erased_at >= end)
        )
        return int(await self._session.scalar(statement) or 0)

    async def purchases_by_member(
        self, start: datetime, end: datetime, currency: str
    ) -> list[tuple[int | None, int, int, int]]:
        """(store id or None for online, member id, purchases, amount) of purchases made in
        [start, end) in `currency`."""
        statement = (
            select(Purchase.store_id, Purchase.member_id, func.count(), func.sum(Purchase.amount_minor))
            .where(Purchase.purchased_at >= start, Purchase.purchased_at < end, Purchase.currency == currency)
            .group_by(Purchase.store_id, Purchase.member_id)
        )
        rows = (await self._session.execute(statement)).all()
        return [(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows]

    async def refunds_by_store(self, start: datetime, end: datetime, currency: str) -> list[tuple[int | None, int]]:
        """(store id of the purchase or None, amount) of refunds made in [start, end) of
        purchases in `currency`."""
        statement = (
            select(Purchase.store_id, func.sum(Refund.amount_minor))
            .join(Purchase, Purchase.id == Refund.purchase_id)
            .where(Refund.refunded_at >= start, Refund.refunded_at < end, Purchase.currency == currency)
            .group_by(Purchase.store_id)
        )
        return [(row[0], int(row[1])) for row in (await self._session.execute(statement)).all()]

    async def ledger_by_kind(self, start: datetime, end: datetime) -> list[tuple[str, bool, int]]:
        """(kind, credit?, points summed) of the ledger movements in [start, end)."""
        credit = LedgerEntry.points > 0
        statement = (
            select(LedgerEntry.kind, credit, func.sum(LedgerEntry.points))
            .where(LedgerEntry.at >= start, LedgerEntry.at < end)
            .group_by(LedgerEntry.kind, credit)
        )
        return [(row[0], bool(row[1]), int(row[2])) for row in (await self._session.execute(statement)).all()]

    async def outstanding_at(self, end: datetime) -> int:
        """Points held by members at `end`: every movement before it, added up (the ledger is
        append-only, so this is the sum of the balances as they were then)."""
        statement = select(func.sum(LedgerEntry.points)).where(LedgerEntry.at < end)
        return int(await self._session.scalar(statement) or 0)

    async def tier_moves(self, start: datetime, end: datetime) -> tuple[int, int]:
        """(moves up, moves down) in [start, end)."""
        up = func.sum(case((TierChange.to_rank > TierChange.from_rank, 1), else_=0))
        down = func.sum(case((TierChange.to_rank < TierChange.from_rank, 1), else_=0))
        row = (await self._session.execute(
            select(up, down).where(TierChange.at >= start, TierChange.at < end)
        )).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def ranks_at(self, end: datetime, members: int | None = None) -> dict[int, int]:
        """Members (enrolled, not erased) per tier rank at `end`, read from their latest move
        before it; a member never moved is in the entry tier (rank 0). `members`: how many
        there are at `end`, when known (else counted)."""
        latest = (
            select(TierChange.member_id, func.max(TierChange.id).label("change_id"))
            .where(TierChange.at < end)
            .group_by(TierChange.member_id)
            .subquery("latest_moves")
        )
        statement = (
            select(TierChange.to_rank, func.count())
            .join(latest, latest.c.change_id == TierChange.id)
            .join(Member, Member.id == TierChange.member_id)
            .where(Member.created_at < end, or_(Member.erased_at.is_(None), Member.erased_at >= end))
            .where(TierChange.to_rank != 0)
            .group_by(TierChange.to_rank)
        )
        ranks = {int(row[0]): int(row[1]) for row in (await self._session.execute(statement)).all()}
        total = members if members is not None else await self.members_at(end)
        ranks[0] = total - sum(ranks.values())
        return ranks

    async def anonymous_on(self, day: date, currency: str) -> list[tuple[int | None, int, int]]:
        """(store id or None, amount, sales) reported for `day` in `currency`."""
        statement = select(AnonymousSale.store_id, AnonymousSale.amount_minor, AnonymousSale.sales).where(
            AnonymousSale.day == day, AnonymousSale.currency == currency
        )
        return [(row[0], int(row[1]), int(row[2])) for row in (await self._session.execute(statement)).all()]

    async def lots_earned(self, start: datetime, end: datetime) -> int:
        """Points put into lots earned in [start, end)."""
        issued = await self._session.scalar(
            select(func.sum(PointLot.points)).where(PointLot.earned_at >= start, PointLot.earned_at < end)
        )
        return int(issued or 0)

    async def expired_by_lot(self, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """(when the lot was earned, points) of what expired in [start, end), per lot."""
        statement = (
            select(PointLot.earned_at, func.sum(LotDebit.points))
            .join(LotDebit, LotDebit.lot_id == PointLot.id)
            .join(LedgerEntry, LedgerEntry.id == LotDebit.entry_id)
            .where(LedgerEntry.at >= start, LedgerEntry.at < end, LedgerEntry.kind == LedgerKind.EXPIRE)
            .group_by(PointLot.id, PointLot.earned_at)
        )
        return [(row[0], int(row[1])) for row in (await self._session.execute(statement)).all()]

    async def members_erased(self, start: datetime, end: datetime) -> int:
        statement = select(func.count()).select_from(Member).where(Member.erased_at >= start, Member.erased_at < end)
        return int(await self._session.scalar(statement) or 0)

    async def daily_totals(self, prefix: str, last: date, scope: int) -> dict[str, int]:
        """Every metric starting with `prefix`, summed over all days up to `last`."""
        statement = (
            select(KpiDaily.metric, func.sum(KpiDaily.value))
            .where(KpiDaily.metric.startswith(prefix, autoescape=True), KpiDaily.day <= last, KpiDaily.scope == scope)
            .group_by(KpiDaily.metric)
        )
        return {row[0]: int(row[1]) for row in (await self._session.execute(statement)).all()}

    async def campaigns_started(self, start: datetime, end: datetime) -> list[int]:
        statement = (
            select(Campaign.id)
            .where(Campaign.started_at >= start, Campaign.started_at < end)
            .order_by(Campaign.started_at, Campaign.id)
        )
        return list((await self._session.scalars(statement)).all())

    # --- roll-ups ---------------------------------------------------------------------------------

    async def first_built_day(self) -> date | None:
        return await self._session.scalar(select(func.min(KpiDay.day)))

    async def built_days(self, first: date, last: date) -> set[date]:
        statement = select(KpiDay.day).where(KpiDay.day >= first, KpiDay.day <= last)
        return set((await self._session.scalars(statement)).all())

    async def store_day(
        self,
        day: date,
        *,
        built_at: datetime,
        daily: Iterable[tuple[int, str, int]],
        snapshots: Iterable[tuple[str, int]],
        bitmaps: Iterable[tuple[int, str, bytes]],
    ) -> None:
        """Replace everything stored for `day` and mark it built."""
        for table in (KpiDaily, KpiSnapshot, KpiBitmap, KpiDay):
            await self._session.execute(delete(table).where(table.day == day))
        await self._insert(KpiDaily, [{"day": day, "scope": s, "metric": m, "value": v} for s, m, v in daily])
        await self._insert(KpiSnapshot, [{"day": day, "metric": m, "value": v} for m, v in snapshots])
        await self._insert(KpiBitmap, [{"day": day, "scope": s, "name": n, "bitmap": b} for s, n, b in bitmaps])
        self._session.add(KpiDay(day=day, built_at=built_at))
        await self._session.flush()

    async def _insert(self, table: type[KpiDaily | KpiSnapshot | KpiBitmap], rows: list[dict[str, object]]) -> None:
        for first in range(0, len(rows), _INSERT_BATCH):
            await self._session.execute(table.__table__.insert(), rows[first : first + _INSERT_BATCH])  # type: ignore[attr-defined]

    async def daily(
        self, first: date, last: date, scopes: Sequence[int], metrics: Sequence[str] | None = None
    ) -> list[tuple[date, int, str, int]]:
        statement = select(KpiDaily.day, KpiDaily.scope, KpiDaily.metric, KpiDaily.value).where(
            KpiDaily.day >= first, KpiDaily.day <= last, KpiDaily.scope.in_(list(scopes))
        )
        if metrics is not None:
            statement = statement.where(KpiDaily.metric.in_(list(metrics)))
        return [(row[0], int(row[1]), row[2], int(row[3])) for row in (await self._session.execute(statement)).all()]

    async def snapshots(self, days: Sequence[date]) -> list[tuple[date, str, int]]:
        statement = select(KpiSnapshot.day, KpiSnapshot.metric, KpiSnapshot.value).where(
            KpiSnapshot.day.in_(list(days))
        )
        return [(row[0], row[1], int(row[2])) for row in (await self._session.execute(statement)).all()]

    async def delete_bitmap(self, day: date, scope: int, name: str) -> None:
        await self._session.execute(
            delete(KpiBitmap).where(KpiBitmap.day == day, KpiBitmap.scope == scope, KpiBitmap.name == name)
        )

    async def add_bitmap(self, day: date, scope: int, name: str, data: bytes) -> None:
        self._session.add(KpiBitmap(day=day, scope=scope, name=name, bitmap=data))
        await self._session.flush()

    async def snapshots_with_prefix(self, day: date, prefix: str) -> dict[str, int]:
        statement = select(KpiSnapshot.metric, KpiSnapshot.value).where(
            KpiSnapshot.day == day, KpiSnapshot.metric.startswith(prefix, autoescape=True)
        )
        return {row[0]: int(row[1]) for row in (await self._session.execute(statement)).all()}

    async def add_snapshots(self, day: date, snapshots: dict[str, int]) -> None:
        """Add these snapshots to a stored day. One already there is left as it is: two readers
        scoring the same day at once store the same numbers."""
        existing = set(
            (await self._session.scalars(select(KpiSnapshot.metric).where(
                KpiSnapshot.day == day, KpiSnapshot.metric.in_(list(snapshots))
            ))).all()
        )
        rows = [{"day": day, "metric": m, "value": v} for m, v in snapshots.items() if m not in existing]
        if not rows:
            return
        try:
            async with self._session.begin_nested():
                await self._insert(KpiSnapshot, rows)
        except IntegrityError:
            pass  # stored meanwhile by another reader

    async def bitmaps(
        self, first: date, last: date, scopes: Sequence[int], names: Sequence[str]
    ) -> list[tuple[date, int, str, bytes]]:
        statement = select(KpiBitmap.day, KpiBitmap.scope, KpiBitmap.name, KpiBitmap.bitmap).where(
            and_(KpiBitmap.day >= first, KpiBitmap.day <= last),
            KpiBitmap.scope.in_(list(scopes)),
            KpiBitmap.name.in_(list(names)),
        )
        return [(row[0], int(row[1]), row[2], bytes(row[3])) for row in (await self._session.execute(statement)).all()]

    # --- writes of the rules -------------------------------------------------------------------

    def add_tier_change(self, *, member_id: int, from_rank: int, to_rank: int, at: datetime) -> None:
        self._session.add(TierChange(member_id=member_id, from_rank=from_rank, to_rank=to_rank, at=at))

    async def anonymous_sale(self, store_id: int | None, day: date) -> AnonymousSale | None:
        store = AnonymousSale.store_id.is_(None) if store_id is None else AnonymousSale.store_id == store_id
        statement = select(AnonymousSale).where(store, AnonymousSale.day == day).with_for_update()
        return (await self._session.scalars(statement)).one_or_none()

    async def put_anonymous_sale(self, sale: AnonymousSale) -> AnonymousSale | None:
        """Store the day's report of a store, replacing the one it had: returns the row replaced
        (updated in place, as it was before) or None. Two first reports racing: the one that
        loses the insert replaces the winner's."""
        existing = await self.anonymous_sale(sale.store_id, sale.day)
        if existing is None:
            try:
                async with self._session.begin_nested():
                    self._session.add(sale)
                return None
            except IntegrityError:
                existing = await self.anonymous_sale(sale.store_id, sale.day)
                assert existing is not None
        replaced = AnonymousSale(
            store_id=existing.store_id, day=existing.day, amount_minor=existing.amount_minor,
            currency=existing.currency, sales=existing.sales, reported_at=existing.reported_at,
            reported_by=existing.reported_by,
        )
        existing.amount_minor, existing.currency, existing.sales = sale.amount_minor, sale.currency, sale.sales
        existing.reported_at, existing.reported_by = sale.reported_at, sale.reported_by
        await self._session.flush()
        return replaced
