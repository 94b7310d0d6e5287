"""The sums a promotion's evaluation is made of (loyalty/campaigns/evaluation.py): one aggregate
per figure and window, over every member or over one group of a campaign's recipients, summed in
the database. Windows are half-open, [start, end).

Purchases are counted as the campaign report counts them (db/repositories/campaign_effect.py):
in the program's currency, net of refunds, and a purchase refunded in full is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Campaign, CampaignRecipient, Coupon, Member, Purchase
from db.repositories.campaign_effect import GroupSums


@dataclass(frozen=True)
class Group:
    """Whose purchases: every member (campaign_id None), or a campaign's targeted group (every
    recipient not held out), or of the targeted, only those the message reached (reached)."""

    campaign_id: int | None = None
    reached: bool = False


def _counted(start: datetime, end: datetime, currency: str) -> list[ColumnElement[bool]]:
    return [
        Purchase.purchased_at >= start,
        Purchase.purchased_at < end,
        Purchase.currency == currency,
        Purchase.amount_minor > Purchase.refunded_minor,
    ]


def _recipients(group: Group) -> Select[Any]:
    statement = select(CampaignRecipient.member_id).where(CampaignRecipient.campaign_id == group.campaign_id)
    if group.reached:
        return statement.where(CampaignRecipient.status == "sent")
    return statement.where(CampaignRecipient.status != "held_out")


class EvaluationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def group_size(self, group: Group, *, joined_before: datetime) -> int:
        """A campaign group's members; every member who joined before `joined_before` when the
        group is everyone."""
        if group.campaign_id is None:
            statement = select(func.count()).select_from(Member).where(Member.created_at < joined_before)
        else:
            statement = select(func.count()).select_from(_recipients(group).subquery())
        return int(await self._session.scalar(statement) or 0)

    async def purchase_sums(
        self,
        group: Group,
        start: datetime,
        end: datetime,
        currency: str,
        *,
        bought_in: tuple[datetime, datetime] | None = None,
    ) -> GroupSums:
        """Buyers, purchases and net revenue of the group in [start, end); with `bought_in`,
        only of members who also bought in that span (who came back)."""
        conditions = _counted(start, end, currency)
        if group.campaign_id is not None:
            conditions.append(Purchase.member_id.in_(_recipients(group)))
        if bought_in is not None:
            earlier = Purchase.__table__.alias("earlier")
            conditions.append(
                exists().where(
                    earlier.c.member_id == Purchase.member_id,
                    earlier.c.purchased_at >= bought_in[0],
                    earlier.c.purchased_at < bought_in[1],
                    earlier.c.currency == currency,
                    earlier.c.amount_minor > earlier.c.refunded_minor,
                )
            )
        statement = select(
            func.count(distinct(Purchase.member_id)),
            func.count(Purchase.id),
            func.coalesce(func.sum(Purchase.amount_minor - Purchase.refunded_minor), 0),
        ).where(*conditions)
        buyers, purchases, revenue = (await self._session.execute(statement)).one()
        return GroupSums(int(buyers), int(purchases), int(revenue or 0))

    async def purchase_sums_by_status(
        self, campaign_id: int, start: datetime, end: datetime, currency: str
    ) -> dict[str, GroupSums]:
        """Buyers, purchases and net revenue in [start, end) of a campaign's recipients, per
        recipient status (held_out, sent, skipped, ...): one pass for every group, which add up,
        as a member has one row per campaign."""
        statement = (
            select(
                CampaignRecipient.status,
                func.count(distinct(Purchase.member_id)),
                func.count(Purchase.id),
                func.coalesce(func.sum(Purchase.amount_minor - Purchase.refunded_minor), 0),
            )
            .join(Purchase, Purchase.member_id == CampaignRecipient.member_id)
            .where(CampaignRecipient.campaign_id == campaign_id, *_counted(start, end, currency))
            .group_by(CampaignRecipient.status)
        )
        return {
            status: GroupSums(int(buyers), int(purchases), int(revenue or 0))
            for status, buyers, purchases, revenue in await self._session.execute(statement)
        }

    async def first_purchase_at(self) -> datetime | None:
        """When the program's first purchase was made (the index's first entry)."""
        return await self._session.scalar(select(func.min(Purchase.purchased_at)))

    async def registrations(self, start: datetime, end: datetime) -> int:
        """Members who joined in [start, end), erased since or not."""
        statement = select(func.count()).where(Member.created_at >= start, Member.created_at < end)
        return int(await self._session.scalar(statement) or 0)

    async def coupon_discount(self, start: datetime, end: datetime, *, campaign_id: int | None = None) -> int:
        """Money off given by coupons used in [start, end): every coupon, or a campaign's own."""
        statement = select(func.coalesce(func.sum(Coupon.discount_minor), 0)).where(
            Coupon.status == "used", Coupon.used_at >= start, Coupon.used_at < end
        )
        if campaign_id is not None:
            statement = statement.where(
                Coupon.id.in_(
                    select(CampaignRecipient.coupon_id).where(
                        CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.coupon_id.is_not(None)
                    )
                )
            )
        return int(await self._session.scalar(statement) or 0)

    async def campaigns_started(self, start: datetime, end: datetime, *, besides: int | None = None) -> int:
        """Campaigns that started in [start, end), but `besides`."""
        statement = select(func.count()).where(Campaign.started_at >= start, Campaign.started_at < end)
        if besides is not None:
            statement = statement.where(Campaign.id != besides)
        return int(await self._session.scalar(statement) or 0)
