"""Referrals: the program's terms, each referred friend, invite links opened, the report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import (
    Coupon,
    CouponKind,
    CouponTemplate,
    Member,
    Purchase,
    Referral,
    ReferralOpen,
    ReferralProgram,
    ReferralStatus,
)

PROGRAM_ID = 1


@dataclass(frozen=True)
class Funnel:
    """One referrer's, or everyone's, referrals that joined in a period."""

    invited: int
    joined: int
    first_purchase: int
    rewarded: int
    held: int
    voided: int
    capped: int
    reward_points: int
    reward_coupon_value_minor: int  # face value of money coupons given to referrers and friends
    revenue_minor: int  # net purchases of the referred friends


class ReferralRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- terms and codes -----------------------------------------------------------------------

    async def program(self) -> ReferralProgram | None:
        return await self._session.get(ReferralProgram, PROGRAM_ID, populate_existing=True)

    def save_program(self, program: ReferralProgram) -> None:
        program.id = PROGRAM_ID
        self._session.add(program)

    async def referrer_by_code(self, code: str) -> Member | None:
        return (await self._session.scalars(select(Member).where(Member.referral_code == code))).one_or_none()

    async def code_taken(self, code: str) -> bool:
        return await self.referrer_by_code(code) is not None

    # --- referrals -----------------------------------------------------------------------------

    async def add(self, referral: Referral) -> Referral:
        self._session.add(referral)
        await self._session.flush()
        return referral

    async def get(self, referral_id: int) -> Referral | None:
        return await self._session.get(Referral, referral_id, populate_existing=True)

    async def of_friend(self, friend_id: int) -> Referral | None:
        statement = select(Referral).where(Referral.friend_id == friend_id).execution_options(populate_existing=True)
        return (await self._session.scalars(statement)).one_or_none()

    async def for_purchase(self, purchase_id: int) -> Referral | None:
        statement = select(Referral).where(Referral.purchase_id == purchase_id)
        return (await self._session.scalars(statement.execution_options(populate_existing=True))).one_or_none()

    async def joins_since(self, referrer_id: int, since: datetime, *, statuses: Collection[str] | None = None) -> int:
        statement = select(func.count()).select_from(Referral).where(
            Referral.referrer_id == referrer_id, Referral.joined_at >= since
        )
        if statuses is not None:
            statement = statement.where(Referral.status.in_(list(statuses)))
        return int(await self._session.scalar(statement) or 0)

    async def mark_suspicious(self, referrer_id: int, since: datetime) -> None:
        """Every referral of the referrer that joined since `since` and is not settled: those
        still waiting for a purchase are flagged, those already qualified are held."""
        burst = (Referral.referrer_id == referrer_id, Referral.joined_at >= since)
        await self._session.execute(
            update(Referral)
            .where(*burst, Referral.status == ReferralStatus.JOINED)
            .values(suspicious=True)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(Referral)
            .where(*burst, Referral.status == ReferralStatus.QUALIFIED)
            .values(suspicious=True, status=ReferralStatus.HELD)
            .execution_options(synchronize_session=False)
        )

    async def rewarded_count(self, referrer_id: int, since: datetime | None = None) -> int:
        statement = select(func.count()).select_from(Referral).where(
            Referral.referrer_id == referrer_id, Referral.status == ReferralStatus.REWARDED
        )
        if since is not None:
            statement = statement.where(Referral.settled_at >= since)
        return int(await self._session.scalar(statement) or 0)

    async def move(self, referral_id: int, *, before: Collection[str], after: str, **values: Any) -> bool:
        """One conditional UPDATE from one of the `before` statuses: two processes settling the
        same referral see one success."""
        result = await self._session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.status.in_(list(before)))
            .values(status=after, **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    async def set_reward_coupon(self, referral_id: int, coupon_id: int) -> None:
        await self._session.execute(
            update(Referral)
            .where(Referral.id == referral_id)
            .values(reward_coupon_id=coupon_id)
            .execution_options(synchronize_session=False)
        )

    async def listed(self, status: str | None, *, offset: int, limit: int) -> tuple[list[tuple[Referral, str, str]], int]:
        """Referrals (of one status, or all), newest first, each with the referrer's and the
        friend's member numbers; and how many there are."""
        referrer, friend = aliased(Member), aliased(Member)
        statement = (
            select(Referral, referrer.member_number, friend.member_number)
            .join(referrer, referrer.id == Referral.referrer_id)
            .join(friend, friend.id == Referral.friend_id)
        )
        counted = select(func.count()).select_from(Referral)
        if status is not None:
            statement = statement.where(Referral.status == status)
            counted = counted.where(Referral.status == status)
        rows = await self._session.execute(
            statement.order_by(Referral.joined_at.desc(), Referral.id.desc()).offset(offset).limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in rows], int(await self._session.scalar(counted) or 0)

    async def due(self, now: datetime, *, limit: int) -> list[int]:
        """Qualified referrals whose hold has passed, but not those of a blocked referrer: they
        wait until unblocked, and must not fill every batch ahead of the ones that can be paid."""
        statement = (
            select(Referral.id)
            .join(Member, Member.id == Referral.referrer_id)
            .where(Referral.status == ReferralStatus.QUALIFIED, Referral.hold_until <= now, Member.blocked_at.is_(None))
            .order_by(Referral.hold_until, Referral.id)
            .limit(limit)
        )
        return list((await self._session.scalars(statement)).all())

    def add_open(self, referrer_id: int, at: datetime) -> None:
        self._session.add(ReferralOpen(referrer_id=referrer_id, opened_at=at))

    # --- the report ----------------------------------------------------------------------------

    async def funnel(self, start: datetime, end: datetime, *, referrer_id: int | None = None) -> Funnel:
        counts = (await self._session.execute(self._counts(start, end, referrer_id))).one()
        opens = select(func.count()).select_from(ReferralOpen).where(
            ReferralOpen.opened_at >= start, ReferralOpen.opened_at < end
        )
        if referrer_id is not None:
            opens = opens.where(ReferralOpen.referrer_id == referrer_id)
        return Funnel(
            invited=int(await self._session.scalar(opens) or 0),
            joined=int(counts[0]),
            first_purchase=int(counts[1]),
            rewarded=int(counts[2]),
            held=int(counts[3]),
            voided=int(counts[4]),
            capped=int(counts[5]),
            reward_points=int(counts[6]),
            reward_coupon_value_minor=await self._coupon_value(start, end, referrer_id),
            revenue_minor=await self._revenue(start, end, referrer_id),
        )

    async def top_referrers(self, start: datetime, end: datetime, *, offset: int, limit: int) -> tuple[list[tuple[int, str]], int]:
        """(member id, member number) of the referrers with referrals joined in the period, most
        friends first, and how many referrers there are."""
        joined = func.count(Referral.id)
        grouped = (
            select(Referral.referrer_id, Member.member_number, joined.label("joined"))
            .join(Member, Member.id == Referral.referrer_id)
            .where(Referral.joined_at >= start, Referral.joined_at < end)
            .group_by(Referral.referrer_id, Member.member_number)
        )
        total = await self._session.scalar(select(func.count()).select_from(grouped.subquery()))
        rows = await self._session.execute(
            grouped.order_by(joined.desc(), Referral.referrer_id).offset(offset).limit(limit)
        )
        return [(row[0], row[1]) for row in rows], int(total or 0)

    def _cohort(self, start: datetime, end: datetime, referrer_id: int | None) -> Select[Any]:
        statement = select(Referral.id).where(Referral.joined_at >= start, Referral.joined_at < end)
        if referrer_id is not None:
            statement = statement.where(Referral.referrer_id == referrer_id)
        return statement

    def _counts(self, start: datetime, end: datetime, referrer_id: int | None) -> Select[Any]:
        statement = select(
            func.count(),
            func.count(Referral.purchase_id),
            *(func.coalesce(func.sum(case((Referral.status == s, 1), else_=0)), 0) for s in _COUNTED),
            func.coalesce(func.sum(Referral.reward_points), 0),
        ).where(Referral.joined_at >= start, Referral.joined_at < end)
        if referrer_id is not None:
            statement = statement.where(Referral.referrer_id == referrer_id)
        return statement

    async def _coupon_value(self, start: datetime, end: datetime, referrer_id: int | None) -> int:
        cohort = self._cohort(start, end, referrer_id).subquery()
        total = 0
        for column in (Referral.reward_coupon_id, Referral.friend_coupon_id):
            statement = (
                select(func.coalesce(func.sum(CouponTemplate.value), 0))
                .select_from(Referral)
                .join(Coupon, Coupon.id == column)
                .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
                .where(
                    Referral.id.in_(select(cohort.c.id)),
                    CouponTemplate.kind.in_([CouponKind.AMOUNT_OFF, CouponKind.FREE_ITEM]),
                )
            )
            total += int(await self._session.scalar(statement) or 0)
        return total

    async def _revenue(self, start: datetime, end: datetime, referrer_id: int | None) -> int:
        cohort = self._cohort(start, end, referrer_id).subquery()
        statement = (
            select(func.coalesce(func.sum(Purchase.amount_minor - Purchase.refunded_minor), 0))
            .select_from(Purchase)
            .join(Referral, Referral.friend_id == Purchase.member_id)
            .where(Referral.id.in_(select(cohort.c.id)), Purchase.purchased_at < end)
        )
        return int(await self._session.scalar(statement) or 0)


# The statuses the report counts, in Funnel's order after joined and first purchase.
_COUNTED: Sequence[str] = (
    ReferralStatus.REWARDED,
    ReferralStatus.HELD,
    ReferralStatus.VOIDED,
    ReferralStatus.CAPPED,
)
