"""The pure parts of the KPIs: bitmaps against plain sets, chart buckets, definitions."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from loyalty.kpis import FIGURES, Period, Totals, definition
from loyalty.kpis.bitmaps import deserialize, repeat_buyers, serialize, union
from loyalty.kpis.dashboard import add_months, buckets, months_of
from loyalty.kpis.definitions import round_money

# A day's purchases: member ids, a member listed twice bought twice that day.
days_of_purchases = st.lists(st.lists(st.integers(1, 60), max_size=12), max_size=20)


@settings(max_examples=25, deadline=None)
@given(days=days_of_purchases)
def test_folding_daily_bitmaps_gives_the_repeat_buyers_of_the_period(days: list[list[int]]) -> None:
    daily = [(BitMap(day), BitMap(m for m, n in Counter(day).items() if n >= 2)) for day in days]
    everything = Counter(member for day in days for member in day)
    assert set(repeat_buyers(daily)) == {member for member, count in everything.items() if count >= 2}
    assert set(union(buyers for buyers, _ in daily)) == set(everything)


@settings(max_examples=25, deadline=None)
@given(members=st.sets(st.integers(0, 2**32 - 1), max_size=200))
def test_a_bitmap_survives_storage(members: set[int]) -> None:
    assert set(deserialize(serialize(BitMap(members)))) == members


@settings(max_examples=25, deadline=None)
@given(start=st.dates(date(2024, 1, 1), date(2027, 1, 1)), days=st.integers(1, 3 * 366))
def test_buckets_cover_every_day_once_in_days_or_weeks(start: date, days: int) -> None:
    period = Period(start, start + timedelta(days=days - 1))
    groups = buckets(period)
    assert [day for group in groups for day in group] == [start + timedelta(days=n) for n in range(days)]
    size = 7 if days > 90 else 1
    assert all(len(group) == size for group in groups[:-1]) and 1 <= len(groups[-1]) <= size
    months = months_of(period)
    assert months[0] == start.replace(day=1) and months[-1] == period.end.replace(day=1)
    assert all(add_months(a, 1) == b for a, b in itertools.pairwise(months))


def totals(**changes: object) -> Totals:
    base: dict[str, object] = dict(
        members_at_start=0, members_at_end=0, new_members=0, active_members=0, repeat_buyers=0, purchases=0,
        revenue_minor=0, refunds_minor=0, anonymous_minor=0, anonymous_reports=0, points_credited=0,
        points_clawed_back=0, points_redeemed=0, points_reversed=0, points_expired=0, points_outstanding=0,
        point_cost_minor=Decimal(1),
    )
    return Totals(**(base | changes))  # type: ignore[arg-type]


def test_ratios_dividing_by_nothing_are_none() -> None:
    empty = totals()
    for key in ("members.growth_rate", "spend.frequency", "spend.aov", "spend.repeat_rate", "spend.contribution",
                "points.redemption_rate"):
        assert FIGURES[key][1](empty) is None, key


def test_money_rounds_half_to_even() -> None:
    assert [round_money(Decimal(x)) for x in ("0.5", "1.5", "2.5", "-0.5", "2.51")] == [0, 2, 2, 0, 3]
    liability = FIGURES["points.liability"][1]
    assert liability(totals(points_outstanding=5, point_cost_minor=Decimal("0.5"))) == 2  # 2.5 -> 2
    assert liability(totals(points_outstanding=7, point_cost_minor=Decimal("0.5"))) == 4  # 3.5 -> 4


def test_claw_backs_and_reversals_net_out() -> None:
    t = totals(points_credited=1000, points_clawed_back=200, points_redeemed=500, points_reversed=100)
    assert FIGURES["points.issued"][1](t) == 800
    assert FIGURES["points.redeemed"][1](t) == 400
    assert FIGURES["points.redemption_rate"][1](t) == pytest.approx(0.5)


def test_contribution_needs_a_report_but_not_a_sale() -> None:
    contribution = FIGURES["spend.contribution"][1]
    assert contribution(totals(revenue_minor=300, anonymous_reports=1)) == 1.0
    assert contribution(totals(revenue_minor=300, anonymous_minor=100, anonymous_reports=2)) == 0.75


def test_every_figure_has_a_definition() -> None:
    for key in FIGURES:
        assert len(definition(key)) > 20, key
