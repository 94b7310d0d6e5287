"""Purchases, their lines and refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerEntry, Member, PointLot, Purchase, PurchaseLine, Refund


class PurchaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, purchase: Purchase, lines: list[PurchaseLine]) -> Purchase:
        self._session.add(purchase)
        await self._session.flush()
        for line in lines:
            line.purchase_id = purchase.id
            self._session.add(line)
        return purchase

    async def by_order(self, channel: str, order_id: str) -> Purchase | None:
        statement = select(Purchase).where(Purchase.channel == channel, Purchase.order_id == order_id)
        return (await self._session.scalars(statement)).one_or_none()

    async def count_for_member(self, member_id: int) -> int:
        statement = select(func.count()).select_from(Purchase).where(Purchase.member_id == member_id)
        return int(await self._session.scalar(statement) or 0)

    async def purchased_since(self, member_id: int, since: datetime) -> bool:
        """Whether the member bought anything at or after `since`: a win-back whose member came
        back meanwhile has nothing left to say."""
        statement = (
            select(Purchase.id)
            .where(Purchase.member_id == member_id, Purchase.purchased_at >= since)
            .limit(1)
        )
        return (await self._session.scalar(statement)) is not None

    async def earn_lot_ids(self, purchase_id: int) -> list[int]:
        """The lots this purchase's points went into, so a refund takes those back first."""
        statement = (
            select(PointLot.id)
            .join(LedgerEntry, LedgerEntry.id == PointLot.entry_id)
            .where(LedgerEntry.purchase_id == purchase_id)
            .order_by(PointLot.id)
        )
        return list((await self._session.scalars(statement)).all())

    def add_refund(self, refund: Refund) -> None:
        self._session.add(refund)

    async def refund_by_id(self, refund_id: str) -> Refund | None:
        return (await self._session.scalars(select(Refund).where(Refund.refund_id == refund_id))).one_or_none()

    async def rung_up_by(self, staff_id: int, store_id: int, since: datetime, *, limit: int) -> list[tuple[Purchase, str]]:
        """The purchases a staff member recorded at a store since `since`, newest first, each
        with its member's number: the pocket till's "today"."""
        statement = (
            select(Purchase, Member.member_number)
            .join(Member, Member.id == Purchase.member_id)
            # purchased_at first: its index finds the day's rows (a till's purchases are dated
            # when recorded); staff_id has none of its own, and needs none over one day.
            .where(Purchase.purchased_at >= since, Purchase.created_at >= since)
            .where(Purchase.staff_id == staff_id, Purchase.store_id == store_id)
            .order_by(Purchase.created_at.desc(), Purchase.id.desc())
            .limit(limit)
        )
        return [(purchase, number) for purchase, number in (await self._session.execute(statement)).all()]
