"""What a campaign reached and what it changed: delivery, and the targeted group against the
hold-out group over the attribution window.

The comparison is intent-to-treat: "targeted" is every recipient who was not held out, whether
the message reached them or not (skipped, failed and cancelled rows included). Only that group
was chosen the same way as the hold-out (at random, by the seed), so only it compares fairly;
counting just the members reached would credit the campaign with the difference between
members who can be reached and members who cannot.

- Window: from the moment the campaign started to `attribution_days` later, cut at now while it
  is still open. A campaign that never started has no window and measures nothing. An
  occurrence of a recurring campaign ends where the next one starts, if that is sooner: a
  purchase is credited to the latest member day before it, never to two.
- Purchases count in the program's currency, net of what was refunded (whenever the refund
  came); a purchase refunded in full is no sale and makes nobody a buyer. Purchases in another
  currency are left out and counted, so the merchant sees what the figures do not cover.
- Lift is relative: conversion targeted / conversion hold-out - 1, with a 95% confidence
  interval by Katz's log method for a ratio of two proportions. Without a buyer in either group
  (or with an empty group) there is not enough data and the three are None.
- Incremental revenue: (revenue per targeted member - revenue per held-out member) x targeted
  members, the revenue the campaign added if the hold-out shows what would have happened
  anyway.
- Coupon cost: the money off given by this campaign's own coupons used inside the window.
  Points a coupon added are not money: they are reported apart, as points. ROI =
  (incremental revenue - coupon cost) / coupon cost, None without a cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

from db.repositories.campaign_effect import GroupSums
from db.uow import UnitOfWork
from loyalty.campaigns.service import Progress, get_campaign, progress
from loyalty.clock import Clock
from loyalty.config import Settings

CONFIDENCE = 0.95
_Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959963984540054
_INSTANT = timedelta(microseconds=1)  # the finest step of a stored time


@dataclass(frozen=True)
class GroupEffect:
    """One group's behaviour inside the window."""

    members: int
    buyers: int  # members with at least one counted purchase
    conversion: float  # buyers / members; 0.0 for an empty group
    purchases: int
    revenue_minor: int  # net of refunds, in the report's currency
    revenue_per_member_minor: float
    coupons_redeemed: int  # any coupon the group's members used in the window, to compare


@dataclass(frozen=True)
class Report:
    campaign_id: int
    progress: Progress  # delivery: sent, failed, skipped by reason, deferred, held out, ...
    window_start: datetime | None  # when the campaign started; None: it never did
    window_end: datetime | None  # start + attribution days, or just before the next occurrence
    # of a recurring campaign started, if sooner (the window may still be open)
    currency: str
    targeted: GroupEffect
    holdout: GroupEffect
    lift: float | None  # relative conversion lift
    lift_low: float | None  # its 95% confidence interval
    lift_high: float | None
    incremental_revenue_minor: int | None  # None while a group is empty
    coupon_cost_minor: int
    roi: float | None  # None without a coupon cost
    # Beyond the figures above: what they were measured up to and what they leave out.
    measured_until: datetime | None = None  # min(window_end, now)
    campaign_coupons_redeemed: int = 0  # this campaign's coupons used in the window
    coupon_bonus_points: int = 0  # points those coupons added (not money, so not in the cost)
    other_currency_purchases: int = 0  # recipients' purchases in the window left out

    @property
    def window_open(self) -> bool:
        return self.measured_until is not None and self.measured_until != self.window_end


@dataclass(frozen=True)
class Lift:
    value: float
    low: float
    high: float


def relative_lift(
    buyers_targeted: int, members_targeted: int, buyers_holdout: int, members_holdout: int
) -> Lift | None:
    """conv_t / conv_h - 1 with its 95% interval (Katz log method); None without enough data.

    ln(RR) is close to normal with variance 1/a - 1/n1 + 1/c - 1/n2 (a, c the buyers, n1, n2 the
    members); the interval is taken there and brought back, so it is not symmetric around the
    lift, and never goes below -100%."""
    if min(buyers_targeted, members_targeted, buyers_holdout, members_holdout) <= 0:
        return None
    ratio = (buyers_targeted / members_targeted) / (buyers_holdout / members_holdout)
    se = math.sqrt(
        1 / buyers_targeted - 1 / members_targeted + 1 / buyers_holdout - 1 / members_holdout
    )
    log_ratio = math.log(ratio)
    return Lift(
        value=ratio - 1,
        low=math.exp(log_ratio - _Z * se) - 1,
        high=math.exp(log_ratio + _Z * se) - 1,
    )


async def campaign_report(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int) -> Report:
    """The campaign's report as of now (CampaignNotFound for an unknown id). Reads only."""
    campaign = await get_campaign(uow, campaign_id)
    delivery = await progress(uow, clock, campaign_id)
    now = clock.now()
    members = await uow.campaign_effect.members_by_group(campaign_id)
    start = campaign.started_at
    if start is None:
        empty = {group: _effect(count, GroupSums()) for group, count in members.items()}
        return Report(
            campaign_id=campaign_id,
            progress=delivery,
            window_start=None,
            window_end=None,
            currency=settings.currency,
            targeted=empty[False],
            holdout=empty[True],
            lift=None,
            lift_low=None,
            lift_high=None,
            incremental_revenue_minor=None,
            coupon_cost_minor=0,
            roi=None,
        )
    end = start + timedelta(days=campaign.attribution_days)
    next_start = await uow.campaigns.next_occurrence_start(campaign)
    if next_start is not None and next_start <= end:
        end = next_start - _INSTANT  # the window's ends are inclusive: the next one's start is its own
    until = min(end, now)
    sums = await uow.campaign_effect.purchases_by_group(campaign_id, start, until, settings.currency)
    redeemed = await uow.campaign_effect.coupons_used_by_group(campaign_id, start, until)
    targeted = _effect(members[False], sums.get(False, GroupSums()), redeemed.get(False, 0))
    holdout = _effect(members[True], sums.get(True, GroupSums()), redeemed.get(True, 0))
    lift = relative_lift(targeted.buyers, targeted.members, holdout.buyers, holdout.members)
    incremental = _incremental_revenue(targeted, holdout)
    cost, bonus_points, campaign_coupons = await uow.campaign_effect.campaign_coupon_cost(campaign_id, start, until)
    return Report(
        campaign_id=campaign_id,
        progress=delivery,
        window_start=start,
        window_end=end,
        currency=settings.currency,
        targeted=targeted,
        holdout=holdout,
        lift=lift.value if lift else None,
        lift_low=lift.low if lift else None,
        lift_high=lift.high if lift else None,
        incremental_revenue_minor=incremental,
        coupon_cost_minor=cost,
        roi=(incremental - cost) / cost if incremental is not None and cost > 0 else None,
        measured_until=until,
        campaign_coupons_redeemed=campaign_coupons,
        coupon_bonus_points=bonus_points,
        other_currency_purchases=await uow.campaign_effect.other_currency_purchases(
            campaign_id, start, until, settings.currency
        ),
    )


def _effect(members: int, sums: GroupSums, coupons_redeemed: int = 0) -> GroupEffect:
    return GroupEffect(
        members=members,
        buyers=sums.buyers,
        conversion=sums.buyers / members if members else 0.0,
        purchases=sums.purchases,
        revenue_minor=sums.revenue_minor,
        revenue_per_member_minor=sums.revenue_minor / members if members else 0.0,
        coupons_redeemed=coupons_redeemed,
    )


def _incremental_revenue(targeted: GroupEffect, holdout: GroupEffect) -> int | None:
    if not targeted.members or not holdout.members:
        return None
    per_member = targeted.revenue_per_member_minor - holdout.revenue_per_member_minor
    return round(per_member * targeted.members)
