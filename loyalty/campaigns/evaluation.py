"""How a promotion did, as a merchant is used to judging one, beside what the hold-out says.

A campaign (or a range of local days) is looked at over three windows of equal length: before,
during and after. For a campaign, during is its attribution window as the report takes it
(loyalty/campaigns/report.py: from its start, `attribution_days` long, ended early by the next
occurrence of a recurring campaign), before is as long and ends where it starts, after is as
long and starts where it ends. For a range of days (settings.timezone, both ends included, as
loyalty.kpis.model.Period), during is the range, before the same number of days just before it,
after the same number just after it.

Whose figures: for a campaign, its targeted group (every recipient not held out, reached or
not: the group the report compares with the hold-out); for a range, every member. Purchases
count in the program's currency, net of refunds, a purchase refunded in full counting for
nothing (as the report counts them). A window is measured up to now while it is still open.

Per window (WindowFigures):

- new_registrations: members who joined in the window, program-wide (a campaign's recipients
  all joined before it started); growth_rate = new_registrations / members who had joined
  before the window (None without any).
- members: the group's size (a range: every member who had joined by the window's end, or by
  now while it is open).
- buyers (members with a counted purchase), purchases, revenue_minor (net);
  buyer_share = buyers / members; spend_per_member = revenue / members;
  purchase_frequency = purchases / buyers; average_order_value = revenue / purchases (None
  where they divide by nothing).
- participants, participation_rate = participants / members, conversion_rate = buyers among
  the participants / participants. Who "took part": for a campaign, the targeted members its
  message reached (sent), the same members in every window, so conversion before is how those
  same people bought before it reached them; for a range, members who bought, so participation
  is buyer_share, and conversion (buyers / participants) would be 1 by definition: None.
- coupon_cost_minor: money off given by coupons used in the window: a campaign's own coupons,
  or, for a range, every coupon.

retention: the share of the during window's buyers who bought again in the after window;
None until the after window has ended (or without during buyers).

The naive effect is during - before for the same group: the revenue gained, the change in
buyers, the lift in buyer share (during / before - 1) and ROI = (revenue gained - coupon cost
during) / coupon cost (None without a cost). It is what a merchant sees without a hold-out, and
it credits the promotion with everything else that changed between the two windows.

The causal effect is the campaign report's, targeted against the randomly chosen hold-out over
the same during window: lift with its 95 % interval, incremental revenue, coupon cost, ROI;
plus holdout_drift, the hold-out's own change in buyer share from before to during: what
happened anyway. Roughly, 1 + naive lift = (1 + causal lift) x (1 + holdout drift). A range has
no hold-out, so no causal effect.

Reasons why the two may differ (machine-readable, in this order; the console words them):

- window_open: the during or after window has not ended, figures will still move;
- no_holdout: nothing to compare with (a range, or a campaign with a 0 % hold-out);
- holdout_small: the hold-out is too small to read a lift below READABLE_MDE (at the group's
  buyer share before: loyalty/campaigns/power.py);
- holdout_moved: the hold-out's buyer share moved by SHIFT or more on its own;
- trend: buyers were already moving by SHIFT or more before: the before window against the
  window as long before it (when that one had buyers);
- seasonality: a year earlier (52 weeks, so the same weekdays), the same group's buyers moved
  by SHIFT or more from the before window to the during window (when there were buyers then);
- other_campaigns: another campaign started in one of the three windows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from db.repositories.campaign_effect import GroupSums
from db.repositories.evaluation import Group
from db.uow import UnitOfWork
from loyalty.campaigns.power import READABLE_MDE, minimum_detectable_effect
from loyalty.campaigns.report import Report, campaign_report
from loyalty.campaigns.service import get_campaign
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import CampaignStateConflict
from loyalty.kpis.model import Period

# A change in buyers this large (relative) is worth a reason: below it, chance.
SHIFT = 0.10
_INSTANT = timedelta(microseconds=1)
_YEAR = timedelta(weeks=52)  # a year back on the same weekdays

WindowName = Literal["before", "during", "after"]


class Reason(enum.StrEnum):
    WINDOW_OPEN = "window_open"
    NO_HOLDOUT = "no_holdout"
    HOLDOUT_SMALL = "holdout_small"
    HOLDOUT_MOVED = "holdout_moved"
    TREND = "trend"
    SEASONALITY = "seasonality"
    OTHER_CAMPAIGNS = "other_campaigns"


@dataclass(frozen=True)
class WindowFigures:
    name: WindowName
    start: datetime  # included
    end: datetime  # excluded
    first_day: date  # local days it covers (settings.timezone)
    last_day: date
    measured_until: datetime  # min(end, now)
    complete: bool  # it has ended
    new_registrations: int
    growth_rate: float | None
    members: int
    buyers: int
    purchases: int
    revenue_minor: int
    buyer_share: float | None
    spend_per_member_minor: float | None
    purchase_frequency: float | None
    average_order_value_minor: float | None
    participants: int
    participation_rate: float | None
    conversion_rate: float | None
    coupon_cost_minor: int


@dataclass(frozen=True)
class NaiveEffect:
    """During against before, for the same group."""

    revenue_gain_minor: int
    buyers_change: int
    lift: float | None  # buyer share during / before - 1
    coupon_cost_minor: int  # during
    roi: float | None  # (revenue gain - coupon cost) / coupon cost


@dataclass(frozen=True)
class CausalEffect:
    """Targeted against the hold-out over the during window (the campaign report)."""

    targeted_members: int
    holdout_members: int
    targeted_conversion: float
    holdout_conversion: float
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    incremental_revenue_minor: int | None
    coupon_cost_minor: int
    roi: float | None
    holdout_drift: float | None  # the hold-out's buyer share during / before - 1


@dataclass(frozen=True)
class Evaluation:
    campaign_id: int | None  # None: a range of days
    currency: str
    computed_at: datetime
    before: WindowFigures
    during: WindowFigures
    after: WindowFigures
    retention: float | None
    naive: NaiveEffect
    causal: CausalEffect | None  # None for a range
    reasons: tuple[Reason, ...]

    @property
    def windows(self) -> tuple[WindowFigures, WindowFigures, WindowFigures]:
        return self.before, self.during, self.after


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime

    def shifted(self, by: timedelta) -> _Span:
        return _Span(self.start + by, self.end + by)


# --- the two ways in --------------------------------------------------------------------------


async def evaluate_campaign(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int) -> Evaluation:
    """A started campaign's evaluation as of now (CampaignNotFound for an unknown id,
    CampaignStateConflict for one that never started: it has no window). Reads only."""
    campaign = await get_campaign(uow, campaign_id)
    report = await campaign_report(uow, clock, settings, campaign_id)
    if report.window_start is None or report.window_end is None:
        raise CampaignStateConflict(f"campaign {campaign_id} has not started: nothing to evaluate", reason=campaign.status)
    during = _Span(report.window_start, report.window_end + _INSTANT)
    length = during.end - during.start
    spans = (_Span(during.start - length, during.start), during, _Span(during.end, during.end + length))
    targeted = Group(campaign_id)
    return await _evaluate(uow, clock, settings, spans, targeted, report=report)


async def evaluate_range(uow: UnitOfWork, clock: Clock, settings: Settings, start: date, end: date) -> Evaluation:
    """Local days start..end (both included) of every member, against the days as many before
    and after (InvalidPeriod for a range that cannot be evaluated). Reads only."""
    zone = settings.zone
    period = Period.asked(start, end, today=clock.now().astimezone(zone).date(), may_run_past_today=True)
    after = Period(period.end + timedelta(days=1), period.end + timedelta(days=period.days))

    def span(days: Period) -> _Span:
        return _Span(
            datetime.combine(days.start, time(), zone),
            datetime.combine(days.end + timedelta(days=1), time(), zone),
        )

    spans = (span(period.previous()), span(period), span(after))
    return await _evaluate(uow, clock, settings, spans, Group(), report=None)


# --- the figures ------------------------------------------------------------------------------


async def _evaluate(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    spans: tuple[_Span, _Span, _Span],
    group: Group,
    *,
    report: Report | None,
) -> Evaluation:
    now = clock.now()
    names: tuple[WindowName, WindowName, WindowName] = ("before", "during", "after")
    # A campaign's groups were chosen when it started: the same in every window, counted once.
    sizes = (
        (
            await uow.evaluation.group_size(group, joined_before=now),
            await uow.evaluation.group_size(Group(group.campaign_id, reached=True), joined_before=now),
        )
        if group.campaign_id is not None
        else None
    )
    # Up to now, now included (as the report counts); a window still to come measures nothing.
    measured = [_Span(span.start, max(min(span.end, now + _INSTANT), span.start)) for span in spans]
    sums = [await _sums(uow, settings, group, span) for span in measured]
    before, during, after = [
        await _window(uow, settings, name, span, group, window_sums, sizes, now=now)
        for name, span, window_sums in zip(names, spans, sums, strict=True)
    ]
    retention = None
    if after.complete and during.buyers:
        came_back = await uow.evaluation.purchase_sums(
            group, after.start, after.end, settings.currency, bought_in=(during.start, during.measured_until)
        )
        retention = came_back.buyers / during.buyers
    naive = NaiveEffect(
        revenue_gain_minor=during.revenue_minor - before.revenue_minor,
        buyers_change=during.buyers - before.buyers,
        lift=_ratio_change(during.buyer_share, before.buyer_share),
        coupon_cost_minor=during.coupon_cost_minor,
        roi=_roi(during.revenue_minor - before.revenue_minor, during.coupon_cost_minor),
    )
    causal = _causal(report, holdout_before=sums[0].held_out) if report is not None else None
    reasons = await _reasons(uow, settings, spans, group, before, during, after, causal)
    return Evaluation(
        campaign_id=group.campaign_id,
        currency=settings.currency,
        computed_at=now,
        before=before,
        during=during,
        after=after,
        retention=retention,
        naive=naive,
        causal=causal,
        reasons=reasons,
    )


async def _window(
    uow: UnitOfWork,
    settings: Settings,
    name: WindowName,
    span: _Span,
    group: Group,
    window_sums: _Sums,
    sizes: tuple[int, int] | None,
    *,
    now: datetime,
) -> WindowFigures:
    """One window's figures; `sizes`: a campaign's (targeted, reached), None for every member."""
    until = max(min(span.end, now + _INSTANT), span.start)
    repository = uow.evaluation
    sums = window_sums.group
    registrations = await repository.registrations(span.start, until)
    members_before = await repository.group_size(Group(), joined_before=span.start)
    if sizes is None:
        members = members_before + registrations
        participants, conversion = sums.buyers, None
    else:
        members, participants = sizes
        conversion = _share(window_sums.reached.buyers, participants)
    zone = settings.zone
    return WindowFigures(
        name=name,
        start=span.start,
        end=span.end,
        first_day=span.start.astimezone(zone).date(),
        last_day=(span.end - _INSTANT).astimezone(zone).date(),
        measured_until=max(min(span.end, now), span.start),
        complete=span.end <= now,
        new_registrations=registrations,
        growth_rate=_share(registrations, members_before),
        members=members,
        buyers=sums.buyers,
        purchases=sums.purchases,
        revenue_minor=sums.revenue_minor,
        buyer_share=_share(sums.buyers, members),
        spend_per_member_minor=_share(sums.revenue_minor, members),
        purchase_frequency=_share(sums.purchases, sums.buyers),
        average_order_value_minor=_share(sums.revenue_minor, sums.purchases),
        participants=participants,
        participation_rate=_share(participants, members),
        conversion_rate=conversion,
        coupon_cost_minor=await repository.coupon_discount(span.start, until, campaign_id=group.campaign_id),
    )


def _causal(report: Report, *, holdout_before: GroupSums) -> CausalEffect:
    size = report.holdout.members
    drift = (
        _ratio_change(_share(report.holdout.buyers, size), _share(holdout_before.buyers, size)) if size else None
    )
    return CausalEffect(
        targeted_members=report.targeted.members,
        holdout_members=size,
        targeted_conversion=report.targeted.conversion,
        holdout_conversion=report.holdout.conversion,
        lift=report.lift,
        lift_low=report.lift_low,
        lift_high=report.lift_high,
        incremental_revenue_minor=report.incremental_revenue_minor,
        coupon_cost_minor=report.coupon_cost_minor,
        roi=report.roi,
        holdout_drift=drift,
    )


async def _reasons(
    uow: UnitOfWork,
    settings: Settings,
    spans: tuple[_Span, _Span, _Span],
    group: Group,
    before: WindowFigures,
    during: WindowFigures,
    after: WindowFigures,
    causal: CausalEffect | None,
) -> tuple[Reason, ...]:
    reasons: list[Reason] = []
    if not (during.complete and after.complete):
        reasons.append(Reason.WINDOW_OPEN)
    if causal is None or not causal.holdout_members:
        reasons.append(Reason.NO_HOLDOUT)
    else:
        baseline = before.buyer_share or causal.holdout_conversion
        mde = minimum_detectable_effect(baseline, causal.targeted_members, causal.holdout_members)
        if mde is None or mde.relative > READABLE_MDE:
            reasons.append(Reason.HOLDOUT_SMALL)
        if _moved(causal.holdout_drift):
            reasons.append(Reason.HOLDOUT_MOVED)
    length = spans[1].end - spans[1].start
    earlier = spans[0].shifted(-length)
    # Spans before the program's first purchase are not summed: a young program has no year ago.
    first = await uow.evaluation.first_purchase_at()

    async def buyers_in(span: _Span) -> int:
        if first is None or first >= span.end:
            return 0
        return (await _sums(uow, settings, group, span)).group.buyers

    if _moved(_count_change(before.buyers, await buyers_in(earlier))):
        reasons.append(Reason.TREND)
    year_before = await buyers_in(spans[0].shifted(-_YEAR))
    year_during = await buyers_in(spans[1].shifted(-_YEAR))
    if _moved(_count_change(year_during, year_before)):
        reasons.append(Reason.SEASONALITY)
    # The next occurrence of a recurring campaign starts in its after window: that counts too,
    # as it moves the after figures and retention.
    others = await uow.evaluation.campaigns_started(spans[0].start, spans[2].end, besides=group.campaign_id)
    if others:
        reasons.append(Reason.OTHER_CAMPAIGNS)
    return tuple(reasons)


@dataclass(frozen=True)
class _Sums:
    group: GroupSums  # the evaluated group: a campaign's targeted members, or every member
    reached: GroupSums  # of the targeted, those the message reached (a range: the same as group)
    held_out: GroupSums  # a campaign's hold-out (a range: none)


async def _sums(uow: UnitOfWork, settings: Settings, group: Group, span: _Span) -> _Sums:
    if group.campaign_id is None:
        sums = await uow.evaluation.purchase_sums(group, span.start, span.end, settings.currency)
        return _Sums(sums, sums, GroupSums())
    by_status = await uow.evaluation.purchase_sums_by_status(group.campaign_id, span.start, span.end, settings.currency)
    targeted = [sums for status, sums in by_status.items() if status != "held_out"]
    return _Sums(
        GroupSums(
            buyers=sum(sums.buyers for sums in targeted),
            purchases=sum(sums.purchases for sums in targeted),
            revenue_minor=sum(sums.revenue_minor for sums in targeted),
        ),
        by_status.get("sent", GroupSums()),
        by_status.get("held_out", GroupSums()),
    )


def _share(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


def _ratio_change(now: float | None, then: float | None) -> float | None:
    if now is None or not then:
        return None
    return now / then - 1


def _count_change(now: int, then: int) -> float | None:
    return now / then - 1 if then else None


def _moved(change: float | None) -> bool:
    return change is not None and abs(change) >= SHIFT


def _roi(gain: int, cost: int) -> float | None:
    return (gain - cost) / cost if cost > 0 else None
