"""The dashboard of a period: figures against the previous period, charts, tiers, cohorts,
segments and campaigns, read from the daily roll-ups (today live).

Charts over more than 90 days show weeks, not days: 7-day buckets from the period's first day
(the last one may be shorter), each labelled by its first day; a count in a bucket is the sum
of its days, a level (members, outstanding points) is the value as its last day ended.

RFM segments at a period's end that is today are those of the last night's roll-up: scoring
every buyer of the last year again on each view would cost more than the rest of the
dashboard, for a number that moves little in a day. A past day stored without segments has
them scored on the first view and stored (loyalty/kpis/segments.py); this is the one write. Breakage per month is the share of the
points earned that month that had expired by the period's end, read from the roll-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pyroaring import BitMap

from db.uow import UnitOfWork
from loyalty.campaigns.report import campaign_report
from loyalty.campaigns.rfm import RFM_SEGMENTS
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import StoreNotFound
from loyalty.kpis import definitions
from loyalty.kpis.bitmaps import repeat_buyers, union
from loyalty.kpis.days import (
    ALL_STORES,
    ANONYMOUS_AMOUNT,
    ANONYMOUS_REPORTS,
    BUYERS,
    EXPIRED_FROM,
    JOINED,
    LOTS_EARNED,
    MEMBERS_TOTAL,
    NEW_MEMBERS,
    OUTSTANDING,
    PURCHASES,
    REFUNDS,
    REVENUE,
    SEGMENT_PREFIX,
    TIER_DOWN,
    TIER_PREFIX,
    TIER_UP,
    TWICE,
    day_bounds,
    points_metric,
)
from loyalty.kpis.model import CampaignRow, CohortRow, Dashboard, Figure, Period, Series, Unit
from loyalty.kpis.months import stored_months
from loyalty.kpis.segments import has_segments, stored_segments
from loyalty.kpis.source import DaySource, days_between

WEEKLY_AFTER_DAYS = 90  # longer periods chart weeks
RETENTION_MONTHS: dict[int, int] = {30: 1, 90: 3, 365: 12}  # retained[days]: bought that month after joining
COHORT_MONTHS = 12

Daily = dict[date, dict[tuple[int, str], int]]
Snapshots = dict[date, dict[str, int]]


async def dashboard(
    uow: UnitOfWork, clock: Clock, settings: Settings, period: Period, store_code: str | None = None
) -> Dashboard:
    """The dashboard of `period` (local days in TIMEZONE), of one store or of all (None).
    StoreNotFound for an unknown store code."""
    now = clock.now()
    scope = ALL_STORES
    if store_code is not None:
        store = await uow.program.store_by_code(store_code)
        if store is None:
            raise StoreNotFound(f"no store {store_code!r}")
        scope = store.id
    source = DaySource(uow, settings, now=now)
    previous = period.previous()
    daily = await source.daily(previous.start, period.end, scope)
    # Levels are read at a few days only: each period's eve and end, and each chart bucket's end.
    ends = [previous.start - timedelta(days=1), period.start - timedelta(days=1), previous.end, period.end]
    ends += [group[-1] for group in buckets(period)]
    snapshots = await source.snapshots([min(day, source.today) for day in ends])
    totals = {
        "now": await _totals(source, settings, period, scope, daily, snapshots),
        "before": await _totals(source, settings, previous, scope, daily, snapshots),
    }
    figures = {
        key: Figure(key, unit, function(totals["now"]), function(totals["before"]))
        for key, (unit, function) in definitions.FIGURES.items()
    }
    end_snapshot = _at(snapshots, period.end, source.today)
    start_snapshot = snapshots.get(period.start - timedelta(days=1), {})
    start_segments = await _segments(uow, settings, period.start - timedelta(days=1), start_snapshot, now)
    end_segments = await _segments(uow, settings, min(period.end, source.today), end_snapshot, now)
    return Dashboard(
        period=period,
        store_code=store_code,
        currency=settings.currency,
        computed_at=now,
        figures=figures,
        charts=await _charts(uow, source, period, scope, daily, snapshots),
        tiers=await _tiers(uow, end_snapshot),
        tier_names={tier.code: dict(tier.names) for tier in await uow.program.tiers()},
        cohorts=await _cohorts(uow, source, period),
        segments={
            segment: (start_segments.get(SEGMENT_PREFIX + segment, 0), end_segments.get(SEGMENT_PREFIX + segment, 0))
            for segment in RFM_SEGMENTS
        },
        campaigns=await _campaigns(uow, clock, settings, period),
    )


async def _segments(
    uow: UnitOfWork, settings: Settings, day: date, snapshot: dict[str, int], now: datetime
) -> dict[str, int]:
    """The segments of a day: in its snapshot, or scored once and stored for a day the roll-up
    job stored without them (loyalty/kpis/segments.py). A day before any data has none."""
    if not snapshot or has_segments(snapshot):
        return snapshot
    return await stored_segments(uow, settings, day, now=now)


def _at(snapshots: Snapshots, day: date, today: date) -> dict[str, int]:
    return snapshots.get(min(day, today), {})


def _sum(daily: Daily, days: Sequence[date], scope: int, metric: str) -> int:
    return sum(daily.get(day, {}).get((scope, metric), 0) for day in days)


async def _totals(
    source: DaySource, settings: Settings, period: Period, scope: int, daily: Daily, snapshots: Snapshots
) -> definitions.Totals:
    days = days_between(period.start, period.end)
    buyers = await source.bitmaps(period.start, period.end, scope, BUYERS)
    twice = await source.bitmaps(period.start, period.end, scope, TWICE)
    in_order = [(buyers.get(day, BitMap()), twice.get(day, BitMap())) for day in days]
    end = _at(snapshots, period.end, source.today)

    def points(kind: str, credit: bool) -> int:
        return _sum(daily, days, ALL_STORES, points_metric(kind, credit))

    return definitions.Totals(
        members_at_start=snapshots.get(period.start - timedelta(days=1), {}).get(MEMBERS_TOTAL, 0),
        members_at_end=end.get(MEMBERS_TOTAL, 0),
        new_members=_sum(daily, days, ALL_STORES, NEW_MEMBERS),
        active_members=len(union(buyers.values())),
        repeat_buyers=len(repeat_buyers(in_order)),
        purchases=_sum(daily, days, scope, PURCHASES),
        revenue_minor=_sum(daily, days, scope, REVENUE),
        refunds_minor=_sum(daily, days, scope, REFUNDS),
        anonymous_minor=_sum(daily, days, scope, ANONYMOUS_AMOUNT),
        anonymous_reports=_sum(daily, days, scope, ANONYMOUS_REPORTS),
        points_credited=points("earn", True) + points("bonus", True) + points("adjust", True),
        points_clawed_back=points("clawback", False),
        points_redeemed=points("redeem", False),
        points_reversed=points("reversal", True),
        points_expired=points("expire", False),
        points_outstanding=end.get(OUTSTANDING, 0),
        point_cost_minor=settings.point_cost_minor,
    )


# --- charts ---------------------------------------------------------------------------------------


def buckets(period: Period) -> list[list[date]]:
    """The chart's x axis: days, or weeks from the first day over periods longer than 90 days."""
    days = days_between(period.start, period.end)
    size = 7 if period.days > WEEKLY_AFTER_DAYS else 1
    return [days[first : first + size] for first in range(0, len(days), size)]


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_of(period: Period) -> list[date]:
    months, month = [], month_start(period.start)
    while month <= period.end:
        months.append(month)
        month = add_months(month, 1)
    return months


async def _charts(
    uow: UnitOfWork, source: DaySource, period: Period, scope: int, daily: Daily, snapshots: Snapshots
) -> dict[str, Series]:
    today = source.today
    groups = buckets(period)
    labels = tuple(group[0].isoformat() for group in groups)

    def summed(metric: str, metric_scope: int = ALL_STORES) -> tuple[int | None, ...]:
        return tuple(_sum(daily, group, metric_scope, metric) if group[0] <= today else None for group in groups)

    def level(metric: str) -> tuple[int | None, ...]:
        return tuple(_at(snapshots, group[-1], today).get(metric) if group[0] <= today else None for group in groups)

    def points(kind: str, credit: bool) -> tuple[int | None, ...]:
        return summed(points_metric(kind, credit))

    def minus(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(None if x is None or y is None else x - y for x, y in zip(a, b, strict=True))

    def plus(*lines: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(None if None in values else sum(v for v in values if v is not None) for values in zip(*lines, strict=True))

    issued = minus(plus(points("earn", True), points("bonus", True), points("adjust", True)), points("clawback", False))
    months = months_of(period)
    period_days = set(days_between(period.start, period.end))
    month_days = [[day for day in period_days if month_start(day) == month] for month in months]
    # Breakage: of the points earned in each month (the whole month, in the period or not),
    # the share that had expired by the period's end (stored days, and today live).
    expired = await uow.kpis.daily_totals(EXPIRED_FROM, min(period.end, today - timedelta(days=1)), ALL_STORES)
    if period.end >= today:
        for (metric_scope, metric), value in daily.get(today, {}).items():
            if metric_scope == ALL_STORES and metric.startswith(EXPIRED_FROM):
                expired[metric] = expired.get(metric, 0) + value
    earned_daily = await source.daily(
        months[0], add_months(months[-1], 1) - timedelta(days=1), ALL_STORES, [LOTS_EARNED]
    )
    breakage: list[float | None] = []
    for month in months:
        earned = sum(
            values.get((ALL_STORES, LOTS_EARNED), 0) for day, values in earned_daily.items() if month_start(day) == month
        )
        lost = expired.get(EXPIRED_FROM + month.strftime("%Y-%m"), 0)
        breakage.append(lost / earned if earned > 0 else None)
    month_labels = tuple(month.strftime("%Y-%m") for month in months)
    return {
        "members": Series(
            "members", Unit.COUNT, labels, {"new": summed(NEW_MEMBERS), "total": level(MEMBERS_TOTAL)}
        ),
        "points": Series(
            "points",
            Unit.POINTS,
            labels,
            {
                "issued": issued,
                "redeemed": minus(points("redeem", False), points("reversal", True)),
                "expired": points("expire", False),
                "outstanding": level(OUTSTANDING),
            },
        ),
        "revenue": Series("revenue", Unit.MONEY, labels, {"revenue": minus(summed(REVENUE, scope), summed(REFUNDS, scope))}),
        "tier_moves": Series(
            "tier_moves",
            Unit.COUNT,
            month_labels,
            {
                "up": tuple(_sum(daily, days, ALL_STORES, TIER_UP) for days in month_days),
                "down": tuple(_sum(daily, days, ALL_STORES, TIER_DOWN) for days in month_days),
            },
        ),
        "breakage": Series("breakage", Unit.RATIO, month_labels, {"expired_share": tuple(breakage)}),
    }


# --- tiers, cohorts, campaigns --------------------------------------------------------------------


async def _tiers(uow: UnitOfWork, snapshot: dict[str, int]) -> dict[str, int]:
    codes = {tier.rank: tier.code for tier in sorted(await uow.program.tiers(), key=lambda tier: tier.rank)}
    counts = {code: 0 for code in codes.values()}
    for metric, members in snapshot.items():
        if metric.startswith(TIER_PREFIX):
            rank = int(metric.removeprefix(TIER_PREFIX))
            code = codes.get(rank, f"rank-{rank}")  # a rank no tier has any more
            counts[code] = counts.get(code, 0) + members
    return counts


async def _cohorts(uow: UnitOfWork, source: DaySource, period: Period) -> tuple[CohortRow, ...]:
    """The members who joined in each of the 12 months up to the period's last, and the share of
    them who bought in the calendar month 1, 3 and 12 months after (None until it has ended)."""
    last_month = month_start(period.end)
    months = [add_months(last_month, offset) for offset in range(-(COHORT_MONTHS - 1), 1)]
    targets = sorted({add_months(month, after) for month in months for after in RETENTION_MONTHS.values()})
    targets = [month for month in targets if add_months(month, 1) - timedelta(days=1) < source.today]
    joined = await _month_sets(uow, source, months, JOINED)
    bought = await _month_sets(uow, source, targets, BUYERS)
    rows = []
    for month in months:
        cohort = joined[month]
        retained: dict[int, float | None] = {}
        for days, after in RETENTION_MONTHS.items():
            target = add_months(month, after)
            if target not in bought or not cohort:
                retained[days] = None  # the month has not ended yet
                continue
            retained[days] = len(cohort & bought[target]) / len(cohort)
        rows.append(CohortRow(month=month, members=len(cohort), retained=retained))
    return tuple(rows)


async def _month_sets(uow: UnitOfWork, source: DaySource, months: list[date], name: str) -> dict[date, BitMap]:
    """Each month's members in the bitmap `name`: its stored union, or the union of its days."""
    if not months:
        return {}
    found = await stored_months(uow, months, name, today=source.today)
    missing = [month for month in months if month not in found]
    if missing:
        days = await source.bitmaps(missing[0], add_months(missing[-1], 1) - timedelta(days=1), ALL_STORES, name)
        for month in missing:
            found[month] = union(members for day, members in days.items() if month_start(day) == month)
    return found


async def _campaigns(uow: UnitOfWork, clock: Clock, settings: Settings, period: Period) -> tuple[CampaignRow, ...]:
    start, _ = day_bounds(period.start, settings.zone)
    _, end = day_bounds(period.end, settings.zone)
    rows = []
    for campaign_id in await uow.kpis.campaigns_started(start, end):
        report = await campaign_report(uow, clock, settings, campaign_id)
        campaign = await uow.campaigns.get(campaign_id)
        rows.append(
            CampaignRow(
                campaign_id=campaign_id,
                name=campaign.name if campaign is not None else "",
                started_at=report.window_start,
                reach=report.progress.sent,
                targeted_conversion=report.targeted.conversion,
                holdout_conversion=report.holdout.conversion,
                lift=report.lift,
                lift_low=report.lift_low,
                lift_high=report.lift_high,
                incremental_revenue_minor=report.incremental_revenue_minor,
                coupon_cost_minor=report.coupon_cost_minor,
                roi=report.roi,
            )
        )
    return tuple(rows)


__all__ = ["dashboard"]
