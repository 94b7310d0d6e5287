"""The sums a campaign report is made of (loyalty/campaigns/report.py): one aggregate per figure,
grouped by "held out or not", so a campaign of a million recipients is summed in the database,
never loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CampaignRecipient, Coupon, Purchase


@dataclass(frozen=True)
class GroupSums:
    """One group's purchases inside the window."""

    buyers: int = 0
    purchases: int = 0
    revenue_minor: int = 0


_HELD_OUT = case((CampaignRecipient.status == "held_out", 1), else_=0).label("held_out")


def _of_campaign(statement: Select[Any], campaign_id: int) -> Select[Any]:
    return statement.where(CampaignRecipient.campaign_id == campaign_id).group_by(_HELD_OUT)


def _in_window(column: Any, start: datetime, until: datetime) -> Any:
    return column.between(start, until)


class CampaignEffectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def members_by_group(self, campaign_id: int) -> dict[bool, int]:
        rows = await self._session.execute(_of_campaign(select(_HELD_OUT, func.count()), campaign_id))
        counts = {False: 0, True: 0}
        for held_out, count in rows:
            counts[bool(held_out)] = int(count)
        return counts

    async def purchases_by_group(
        self, campaign_id: int, start: datetime, until: datetime, currency: str
    ) -> dict[bool, GroupSums]:
        statement = _of_campaign(
            select(
                _HELD_OUT,
                func.count(distinct(Purchase.member_id)),
                func.count(Purchase.id),
                func.coalesce(func.sum(Purchase.amount_minor - Purchase.refunded_minor), 0),
            )
            .join(Purchase, Purchase.member_id == CampaignRecipient.member_id)
            .where(
                _in_window(Purchase.purchased_at, start, until),
                Purchase.currency == currency,
                Purchase.amount_minor > Purchase.refunded_minor,
            ),
            campaign_id,
        )
        return {
            bool(held_out): GroupSums(int(buyers), int(purchases), int(revenue))
            for held_out, buyers, purchases, revenue in await self._session.execute(statement)
        }

    async def other_currency_purchases(
        self, campaign_id: int, start: datetime, until: datetime, currency: str
    ) -> int:
        statement = (
            select(func.count(Purchase.id))
            .join(CampaignRecipient, CampaignRecipient.member_id == Purchase.member_id)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                _in_window(Purchase.purchased_at, start, until),
                Purchase.currency != currency,
            )
        )
        return int(await self._session.scalar(statement) or 0)

    async def coupons_used_by_group(
        self, campaign_id: int, start: datetime, until: datetime
    ) -> dict[bool, int]:
        statement = _of_campaign(
            select(_HELD_OUT, func.count(Coupon.id))
            .join(Coupon, Coupon.member_id == CampaignRecipient.member_id)
            .where(Coupon.status == "used", _in_window(Coupon.used_at, start, until)),
            campaign_id,
        )
        return {bool(held_out): int(count) for held_out, count in await self._session.execute(statement)}

    async def campaign_coupon_cost(
        self, campaign_id: int, start: datetime, until: datetime
    ) -> tuple[int, int, int]:
        """Money off and points given by the campaign's own coupons used in the window, and how
        many were used. A campaign's coupons are the ones its recipient rows point to."""
        statement = (
            select(
                func.coalesce(func.sum(Coupon.discount_minor), 0),
                func.coalesce(func.sum(Coupon.bonus_points), 0),
                func.count(Coupon.id),
            )
            .join(CampaignRecipient, CampaignRecipient.coupon_id == Coupon.id)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                Coupon.status == "used",
                _in_window(Coupon.used_at, start, until),
            )
        )
        cost, points, used = (await self._session.execute(statement)).one()
        # COALESCE(..., 0) is never NULL, though it takes the nullable column's type.
        return int(cost or 0), int(points or 0), int(used)
