"""The Mini App's points screens: the history with the reason of every movement, what expires
when, and the tier: where the member stands, what the next tier takes, what keeps this one.

The routes only translate: the member is the caller's (never a parameter), and the rules are
loyalty/points.py and loyalty/tiers.py, as /points in the chat uses them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ClockDep, SettingsDep, UowDep
from api.webapp.auth import MemberCaller
from api.webapp.own import member_of
from db.models import Tier
from loyalty import points, tiers
from loyalty.i18n import localized

router = APIRouter()

LAST_MOMENT = timedelta(microseconds=1)
MAX_ENTRY_ID = 2**63 - 1


class ExpiringPublic(BaseModel):
    points: int
    last_day: date  # the last day they can be used, in the program's time zone


class PointsPublic(BaseModel):
    balance: int
    available: int  # spendable now: lots expired by now are not
    expiring: list[ExpiringPublic]


class HistoryLinePublic(BaseModel):
    id: int
    at: datetime
    kind: str  # earn, bonus, redeem, expire, adjust, clawback, reversal
    points: int  # signed
    balance_after: int
    order_id: str | None
    store: str | None
    refund_id: str | None
    reward: str | None  # the reward's name in the member's language
    redemption_code: str | None
    reason: str | None  # what staff wrote for an adjustment, a bonus's name


class HistoryPublic(BaseModel):
    data: list[HistoryLinePublic]
    next_before: int | None  # pass as `before` for the next (older) page; None: no more


class TierPublic(BaseModel):
    code: str
    name: str
    rank: int
    min_spend_minor: int
    min_visits: int
    earn_multiplier_pct: int
    benefits: list[str]


class TierProgressPublic(BaseModel):
    currency: str
    tier: TierPublic
    next_tier: TierPublic | None
    spend_to_next_minor: int | None  # None: the next tier is not reached by spend
    visits_to_next: int | None
    keep_spend_minor: int | None
    keep_visits: int | None
    keep_by: date | None  # None at the entry tier
    at_risk: bool
    spend_minor: int  # in the window now
    visits: int
    window_months: int
    tiers: list[TierPublic]  # the whole ladder, lowest first


def _tier(tier: Tier, locale: str) -> TierPublic:
    benefits = tier.benefits.get(locale) or tier.benefits.get("en") or []
    return TierPublic(
        code=tier.code,
        name=localized(tier.names, locale),
        rank=tier.rank,
        min_spend_minor=tier.min_spend_minor,
        min_visits=tier.min_visits,
        earn_multiplier_pct=tier.earn_multiplier_pct,
        benefits=list(benefits),
    )


@router.get("/points", summary="The caller's balance and what expires when")
async def my_points(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> PointsPublic:
    summary = await points.points_summary(uow, member_of(caller), now=clock.now(), settings=settings)
    return PointsPublic(
        balance=summary.balance,
        available=summary.available,
        # Shown as the last day the points can be used, not the instant they lapse (midnight after).
        expiring=[
            ExpiringPublic(points=lot.points, last_day=(lot.expires_at - LAST_MOMENT).astimezone(settings.zone).date())
            for lot in summary.expiring
        ],
    )


@router.get("/history", summary="The caller's points movements, newest first, a page at a time")
async def my_history(
    caller: MemberCaller,
    uow: UowDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ENTRY_ID, description="next_before of the previous page")] = None,
) -> HistoryPublic:
    page = await points.history_page(uow, member_of(caller), before_id=before)
    return HistoryPublic(
        data=[
            HistoryLinePublic(
                id=line.entry.id,
                at=line.entry.at,
                kind=line.entry.kind,
                points=line.entry.points,
                balance_after=line.entry.balance_after,
                order_id=line.order_id,
                store=line.store_name,
                refund_id=line.refund_id,
                reward=localized(page.reward_names[line.reward_code], caller.locale)
                if line.reward_code in page.reward_names
                else line.reward_code,
                redemption_code=line.redemption_code,
                reason=line.entry.reason,
            )
            for line in page.lines
        ],
        next_before=page.next_before,
    )


@router.get("/tier", summary="The caller's tier, what the next one takes and what keeps this one")
async def my_tier(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> TierProgressPublic:
    progress = await tiers.tier_progress(uow, member_of(caller), now=clock.now(), settings=settings)
    ladder = sorted(await uow.program.tiers(), key=lambda tier: tier.rank)
    return TierProgressPublic(
        currency=settings.currency,
        tier=_tier(progress.tier, caller.locale),
        next_tier=_tier(progress.next_tier, caller.locale) if progress.next_tier else None,
        spend_to_next_minor=progress.spend_to_next_minor,
        visits_to_next=progress.visits_to_next,
        keep_spend_minor=progress.keep_spend_minor,
        keep_visits=progress.keep_visits,
        keep_by=progress.keep_by.astimezone(settings.zone).date() if progress.keep_by else None,
        at_risk=progress.at_risk,
        spend_minor=progress.stats.spend_minor,
        visits=progress.stats.visits,
        window_months=settings.tier_window_months,
        tiers=[_tier(tier, caller.locale) for tier in ladder],
    )
