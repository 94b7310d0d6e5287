"""The points ledger: entries, lots and the debits that consume lots.

Writes only ever add rows to `ledger_entries` and `lot_debits`; `point_lots.remaining` and
`members.points_balance` are caches the rules in loyalty/ledger.py keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerEntry, LotDebit, Member, PointLot, Purchase, Refund, Reward, RewardRedemption, Store


@dataclass(frozen=True)
class HistoryLine:
    """A ledger entry with what it points at: the purchase's order and store, the refund, the
    reward redeemed."""

    entry: LedgerEntry
    order_id: str | None
    store_name: str | None
    refund_id: str | None
    redemption_code: str | None
    reward_code: str | None


@dataclass(frozen=True)
class DebitRow:
    """One lot debit with the members on both sides, for the consistency check."""

    id: int
    entry_id: int
    lot_id: int
    points: int
    entry_member_id: int
    lot_member_id: int


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- writes -------------------------------------------------------------------------------

    async def add_entry(self, entry: LedgerEntry) -> LedgerEntry:
        self._session.add(entry)
        await self._session.flush()  # the id is needed by the lot or the lot debits
        return entry

    def add_lot(self, lot: PointLot) -> None:
        self._session.add(lot)

    def add_debits(self, debits: Sequence[LotDebit]) -> None:
        self._session.add_all(debits)

    def holds(self, instance: object) -> bool:
        """Whether `instance` belongs to this unit of work's session (changes to it persist)."""
        return instance in self._session

    async def flush(self) -> None:
        # The session does not autoflush: queries after a change must see it.
        await self._session.flush()

    # --- reads for one member -------------------------------------------------------------------

    async def open_lots(self, member_id: int, *, at: datetime) -> Sequence[PointLot]:
        """Lots still usable at `at`, first to expire first (FIFO)."""
        statement = (
            select(PointLot)
            .where(
                PointLot.member_id == member_id, PointLot.expires_at > at, PointLot.remaining > 0
            )
            .order_by(PointLot.expires_at, PointLot.id)
        )
        return (await self._session.scalars(statement)).all()

    async def due_lots(self, member_id: int, *, at: datetime) -> Sequence[PointLot]:
        """Lots that expired by `at` with points still in them."""
        statement = (
            select(PointLot)
            .where(
                PointLot.member_id == member_id, PointLot.expires_at <= at, PointLot.remaining > 0
            )
            .order_by(PointLot.expires_at, PointLot.id)
        )
        return (await self._session.scalars(statement)).all()

    async def available(self, member_id: int, *, at: datetime) -> int:
        statement = select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            PointLot.member_id == member_id, PointLot.expires_at > at
        )
        return int(await self._session.scalar(statement) or 0)

    async def expiring(self, member_id: int, *, at: datetime) -> list[tuple[datetime, int]]:
        """(expires_at, points) of the usable lots, summed per expiry instant, soonest first."""
        statement = (
            select(PointLot.expires_at, func.sum(PointLot.remaining))
            .where(
                PointLot.member_id == member_id, PointLot.expires_at > at, PointLot.remaining > 0
            )
            .group_by(PointLot.expires_at)
            .order_by(PointLot.expires_at)
        )
        return [
            (expires_at, int(points))
            for expires_at, points in await self._session.execute(statement)
        ]

    async def adjusted_by(self, actor: str, *, since: datetime, until: datetime) -> int:
        """Points `actor` adjusted by hand in [since, until), added up as absolute values."""
        statement = select(func.coalesce(func.sum(func.abs(LedgerEntry.points)), 0)).where(
            LedgerEntry.kind == "adjust",
            LedgerEntry.actor == actor,
            LedgerEntry.at >= since,
            LedgerEntry.at < until,
        )
        return int(await self._session.scalar(statement) or 0)

    async def recent(self, member_id: int, *, limit: int) -> Sequence[LedgerEntry]:
        """The member's latest entries, newest first (the statement a member sees)."""
        statement = (
            select(LedgerEntry)
            .where(LedgerEntry.member_id == member_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        return (await self._session.scalars(statement)).all()

    # --- the expiry sweep ---------------------------------------------------------------------

    async def members_with_due_lots(
        self, *, at: datetime, after_member_id: int, limit: int
    ) -> list[int]:
        """One page of the members who hold expired points, by id (keyset paging)."""
        statement = (
            select(PointLot.member_id)
            .where(
                PointLot.expires_at <= at,
                PointLot.remaining > 0,
                PointLot.member_id > after_member_id,
            )
            .group_by(PointLot.member_id)
            .order_by(PointLot.member_id)
            .limit(limit)
        )
        return list((await self._session.scalars(statement)).all())

    # --- what the consistency check reads -------------------------------------------------------

    async def stored_balance(self, member_id: int) -> int | None:
        return await self._session.scalar(
            select(Member.points_balance).where(Member.id == member_id)
        )

    async def entries(self, member_id: int) -> Sequence[LedgerEntry]:
        statement = (
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return (await self._session.scalars(statement)).all()

    async def lots(self, member_id: int) -> Sequence[PointLot]:
        statement = select(PointLot).where(PointLot.member_id == member_id).order_by(PointLot.id)
        return (await self._session.scalars(statement)).all()

    async def debits_touching(self, member_id: int) -> list[DebitRow]:
        """Lot debits made by this member's entries or taken from this member's lots."""
        columns = (
            LotDebit.id,
            LotDebit.entry_id,
            LotDebit.lot_id,
            LotDebit.points,
            LedgerEntry.member_id,
            PointLot.member_id,
        )
        base = (
            select(*columns)
            .join(LedgerEntry, LedgerEntry.id == LotDebit.entry_id)
            .join(PointLot, PointLot.id == LotDebit.lot_id)
        )
        # Two indexed lookups rather than one OR, which would scan every debit.
        rows: dict[int, DebitRow] = {}
        for statement in (
            base.where(LedgerEntry.member_id == member_id),
            base.where(PointLot.member_id == member_id),
        ):
            for row in await self._session.execute(statement):
                rows[row[0]] = DebitRow(*row)
        return sorted(rows.values(), key=lambda debit: debit.id)

    async def debits_of_entry(self, entry_id: int) -> Sequence[LotDebit]:
        statement = select(LotDebit).where(LotDebit.entry_id == entry_id).order_by(LotDebit.id)
        return (await self._session.scalars(statement)).all()

    async def history(self, member_id: int, *, limit: int, before_id: int | None = None) -> list[HistoryLine]:
        """The member's latest `limit` entries, newest first, with what each points at; with
        `before_id`, those older than that entry (a keyset page: stable while new ones arrive)."""
        statement = (
            select(LedgerEntry, Purchase.order_id, Store.name, Refund.refund_id, RewardRedemption.code, Reward.code)
            .outerjoin(Purchase, Purchase.id == LedgerEntry.purchase_id)
            .outerjoin(Store, Store.id == Purchase.store_id)
            .outerjoin(Refund, Refund.id == LedgerEntry.refund_id)
            .outerjoin(RewardRedemption, RewardRedemption.id == LedgerEntry.redemption_id)
            .outerjoin(Reward, Reward.id == RewardRedemption.reward_id)
            .where(LedgerEntry.member_id == member_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            statement = statement.where(LedgerEntry.id < before_id)
        return [HistoryLine(*row) for row in (await self._session.execute(statement)).all()]
