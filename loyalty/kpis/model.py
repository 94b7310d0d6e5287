"""What the merchant's dashboard is made of: periods, figures with their previous value, charts.

The same values answer `GET /api/v1/kpis` and draw the console's dashboard, so neither computes
a number of its own. Money is in minor units of the program's currency; ratios are fractions
(0.25, not 25); a value is None where its definition divides by nothing (no buyer, no sale).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from loyalty.errors import InvalidPeriod

PERIOD_PRESETS: tuple[int, ...] = (7, 30, 90, 365)  # days the console offers besides a custom range
MAX_PERIOD_DAYS = 3 * 366  # a custom range longer than this is refused: the charts stop reading


class Unit(enum.StrEnum):
    COUNT = "count"
    MONEY = "money"  # minor units of Dashboard.currency
    RATIO = "ratio"  # a fraction: 0.25 reads 25 %
    POINTS = "points"


@dataclass(frozen=True)
class Period:
    """Local days in the program's TIMEZONE, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period ends on or after the day it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one: what each change is against."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @classmethod
    def last(cls, days: int, today: date) -> Period:
        """The `days` days ending today, today included."""
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def asked(cls, start: date, end: date, *, today: date, may_run_past_today: bool = False) -> Period:
        """A range of local days someone asked for, or InvalidPeriod naming the bad end: the one
        rule for the API, the dashboard and an evaluation. It must not end before it starts, nor
        run longer than MAX_PERIOD_DAYS; a dashboard's may not end after today, while an
        evaluation's may (its days after are still to come), though it must not start after."""
        if end < start:
            raise InvalidPeriod("the range ends before it starts", field="end", reason="order")
        if may_run_past_today and start > today:
            raise InvalidPeriod("the range starts after today: there is nothing to measure yet", field="start", reason="future")
        if not may_run_past_today and end > today:
            raise InvalidPeriod(f"{end.isoformat()} has not come yet (today is {today.isoformat()})", field="end", reason="future")
        period = cls(start, end)
        if period.days > MAX_PERIOD_DAYS:
            raise InvalidPeriod(f"a range is at most {MAX_PERIOD_DAYS} days", field="start", reason="long")
        return period


@dataclass(frozen=True)
class Figure:
    """One number of the dashboard, and the same number over the previous period."""

    key: str  # "members.new": the console's definition and label are looked up by it
    unit: Unit
    value: int | float | None
    previous: int | float | None

    @property
    def change(self) -> float | None:
        """Relative change against the previous period; None when there is nothing to compare."""
        if self.value is None or self.previous in (None, 0):
            return None
        assert self.previous is not None
        return (self.value - self.previous) / abs(self.previous)


@dataclass(frozen=True)
class Series:
    """A chart: x labels (ISO days or months) and one line of values per name, as long."""

    key: str
    unit: Unit
    labels: tuple[str, ...]
    lines: Mapping[str, tuple[int | float | None, ...]]


@dataclass(frozen=True)
class CohortRow:
    """Members who joined in one month, and the share of them still buying N days on."""

    month: date  # first day of the join month
    members: int
    retained: Mapping[int, float | None]  # days (30, 90, 365) -> share; None: not measurable yet


@dataclass(frozen=True)
class CampaignRow:
    """One campaign's effect, from its report (loyalty/campaigns/report.py)."""

    campaign_id: int
    name: str
    started_at: datetime | None
    reach: int  # messages delivered
    targeted_conversion: float
    holdout_conversion: float
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    incremental_revenue_minor: int | None
    coupon_cost_minor: int
    roi: float | None


@dataclass(frozen=True)
class Dashboard:
    period: Period
    store_code: str | None  # None: every store and the online shop
    currency: str
    computed_at: datetime
    figures: Mapping[str, Figure]  # members.*, spend.*, points.*; see loyalty/kpis/definitions.py
    charts: Mapping[str, Series]  # members over time, tier moves, points over time, breakage, ...
    tiers: Mapping[str, int] = field(default_factory=dict)  # tier code -> members at period end
    tier_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # code -> {locale: name}
    cohorts: tuple[CohortRow, ...] = ()
    segments: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # RFM: (at start, at end)
    campaigns: tuple[CampaignRow, ...] = ()
