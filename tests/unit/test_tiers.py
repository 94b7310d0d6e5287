"""Tier rules without a database: the rolling window, who qualifies, the ladder's thresholds."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.models import Tier
from loyalty.errors import InvalidInput
from loyalty.tiers import (
    QualifyingStats,
    Rung,
    TierSpec,
    check_ladder,
    check_spec,
    first_shortfall,
    leaves_window_at,
    qualified_tier,
    qualifies,
    shift_months,
    window_start,
)

UTC = timezone.utc
MICRO = timedelta(microseconds=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ladder() -> list[Tier]:
    # The seeded ladder.
    return [
        Tier(id=1, code="member", rank=0, min_spend_minor=0, min_visits=0),
        Tier(id=2, code="silver", rank=1, min_spend_minor=200_000, min_visits=10),
        Tier(id=3, code="gold", rank=2, min_spend_minor=600_000, min_visits=25),
        Tier(id=4, code="black", rank=3, min_spend_minor=1_200_000, min_visits=50),
    ]


# --- the rolling window -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (at(2026, 11, 24, 12), -12, at(2025, 11, 24, 12)),
        (at(2026, 1, 15), -1, at(2025, 12, 15)),
        (at(2026, 12, 15), 1, at(2027, 1, 15)),
        (at(2027, 1, 31, 9), 1, at(2027, 3, 1)),  # no 31 February: the next month's first instant
        (at(2027, 3, 31, 9), -1, at(2027, 3, 1)),
        (at(2028, 3, 29, 9), -1, at(2028, 2, 29, 9)),  # leap year
        (at(2028, 2, 29, 9), 12, at(2029, 3, 1)),
    ],
)
def test_shift_months(moment: datetime, months: int, expected: datetime) -> None:
    assert shift_months(moment, months) == expected


# Plain moments, and moments on the month edges where calendars get interesting.
edge_moments = st.builds(
    lambda year, month, day, hour, minute, micro: (
        at(year, month, min(day, calendar.monthrange(year, month)[1]))
        + timedelta(hours=hour, minutes=minute, microseconds=micro)
    ),
    st.integers(2024, 2030),
    st.integers(1, 12),
    st.sampled_from([1, 28, 29, 30, 31]),
    st.sampled_from([0, 12, 23]),
    st.sampled_from([0, 59]),
    st.sampled_from([0, 1, 999_999]),
)
first_instants = st.builds(
    lambda year, month: at(year, month, 1), st.integers(2024, 2030), st.integers(1, 12)
)
moments = st.one_of(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    edge_moments,
    first_instants,
)
window_months = st.integers(1, 24)


@given(a=moments, b=moments, months=st.integers(-24, 24))
def test_shifting_months_never_goes_backwards(a: datetime, b: datetime, months: int) -> None:
    low, high = sorted((a, b))
    assert shift_months(low, months) <= shift_months(high, months)


@given(purchased_at=moments, months=window_months, later=moments, data=st.data())
def test_a_purchase_counts_exactly_until_it_leaves_the_window(
    purchased_at: datetime, months: int, later: datetime, data: st.DataObject
) -> None:
    leaves = leaves_window_at(purchased_at, months)
    # Look around the leaving moment as well as at arbitrary later moments.
    nudge = data.draw(
        st.sampled_from(
            [-MICRO, timedelta(0), MICRO, *(timedelta(days=d) for d in (-3, -2, -1, 1))]
        )
    )
    for now in (later, leaves + nudge):
        if now < purchased_at:
            continue
        counts = window_start(now, months) < purchased_at <= now
        assert counts == (now < leaves), (purchased_at, now, leaves)


def test_a_purchase_on_the_first_instant_of_march_leaves_when_the_days_february_lacks_begin() -> (
    None
):
    # 29-31 March 2027 minus one month is 1 March 00:00, which excludes a purchase at that instant.
    purchased = at(2027, 3, 1)
    assert leaves_window_at(purchased, 1) == at(2027, 3, 29)
    assert window_start(at(2027, 3, 29) - MICRO, 1) < purchased
    assert not window_start(at(2027, 3, 29), 1) < purchased


# --- who qualifies ----------------------------------------------------------------------------


def test_spend_or_visits_qualify() -> None:
    silver = ladder()[1]
    assert qualifies(silver, QualifyingStats(200_000, 0))
    assert qualifies(silver, QualifyingStats(0, 10))
    assert not qualifies(silver, QualifyingStats(199_999, 9))


def test_a_zero_threshold_above_rank_0_means_not_by_that_measure() -> None:
    spend_only = Tier(code="vip", rank=1, min_spend_minor=100_000, min_visits=0)
    assert not qualifies(spend_only, QualifyingStats(0, 0))
    assert not qualifies(spend_only, QualifyingStats(99_999, 500))
    assert qualifies(spend_only, QualifyingStats(100_000, 0))


def test_everyone_qualifies_for_rank_0() -> None:
    assert qualified_tier(ladder(), QualifyingStats(0, 0)).code == "member"


@pytest.mark.parametrize(
    ("stats", "code"),
    [
        (QualifyingStats(600_000, 0), "gold"),
        (QualifyingStats(0, 25), "gold"),
        (QualifyingStats(1_199_999, 49), "gold"),
        (QualifyingStats(1_200_000, 0), "black"),
        (QualifyingStats(300_000, 30), "gold"),  # visits reach further than spend
    ],
)
def test_the_highest_qualifying_rank_wins(stats: QualifyingStats, code: str) -> None:
    assert qualified_tier(ladder(), stats).code == code


def test_shortfall_walks_purchases_out_of_the_window() -> None:
    gold = ladder()[2]
    now = at(2026, 11, 24, 12)
    purchases = [(at(2026, 1, 10), 300_000), (at(2026, 3, 5), 200_000), (at(2026, 6, 1), 150_000)]
    stats = QualifyingStats(650_000, 3)
    # 10 January leaves on 10 January 2027: 350,000 left, below gold's 600,000.
    assert first_shortfall(gold, stats, purchases, now=now, months=12) == (
        at(2027, 1, 10),
        QualifyingStats(350_000, 2),
    )


def test_shortfall_is_now_when_the_stats_already_fall_short() -> None:
    now = at(2026, 11, 24, 12)
    stats = QualifyingStats(100, 1)
    assert first_shortfall(ladder()[2], stats, [(at(2026, 5, 1), 100)], now=now, months=12) == (
        now,
        stats,
    )


def test_purchases_leaving_together_are_counted_out_together() -> None:
    gold = ladder()[2]
    same = at(2026, 2, 1, 10)
    purchases = [(same, 300_000), (same, 300_000), (at(2026, 4, 1), 100_000)]
    left_at, remaining = first_shortfall(
        gold, QualifyingStats(700_000, 3), purchases, now=at(2026, 11, 24), months=12
    )
    # Not the 400,000 seen halfway through the pair: both have gone at that moment.
    assert (left_at, remaining) == (at(2027, 2, 1, 10), QualifyingStats(100_000, 1))


# --- the merchant's ladder --------------------------------------------------------------------


def rungs() -> list[Rung]:
    return [Rung(t.code, t.rank, t.min_spend_minor, t.min_visits) for t in ladder()]


def others(code: str) -> list[Rung]:
    return [rung for rung in rungs() if rung.code != code]


@pytest.mark.parametrize(
    ("changed", "field", "says"),
    [
        (Rung("member", 0, 1, 0), "min_spend_minor", "entry tier"),
        (Rung("member", 0, 0, 3), "min_visits", "entry tier"),
        (
            Rung("gold", 2, 100_000, 25),
            "min_spend_minor",
            "at least 200000, the threshold of silver (rank 1)",
        ),
        (Rung("gold", 2, 600_000, 60), "min_visits", "at most 50, the threshold of black (rank 3)"),
        (Rung("gold", 2, 0, 0), "min_spend_minor", "needs a spend or a visits threshold"),
        (
            Rung("platinum", 4, 1_000_000, 80),
            "min_spend_minor",
            "at least 1200000, the threshold of black",
        ),
    ],
)
def test_a_ladder_that_goes_down_is_refused_saying_which(
    changed: Rung, field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        check_ladder(changed, others(changed.code))
    assert error.value.details["field"] == field
    assert says in str(error.value)


@pytest.mark.parametrize(
    "changed",
    [
        Rung("gold", 2, 200_000, 10),  # equal to silver is fine
        Rung("gold", 2, 1_200_000, 50),  # equal to black is fine
        Rung("gold", 2, 700_000, 0),  # spend only: visits not compared
        Rung("platinum", 4, 5_000_000, 0),
        Rung("member", 0, 0, 0),
    ],
)
def test_a_ladder_that_goes_up_is_accepted(changed: Rung) -> None:
    check_ladder(changed, others(changed.code))


@pytest.mark.parametrize(
    ("code", "spec", "field"),
    [
        ("Gold", TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}), "code"),
        ("g", TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}), "code"),
        ("gold", TierSpec(rank=2, names={"en": "Gold"}), "names"),
        ("gold", TierSpec(rank=2, names={"en": "Gold", "zh_CN": " "}), "names"),
        ("gold", TierSpec(rank=2, names={"en": "G", "zh_CN": "金", "fr": "Or"}), "names"),
        (
            "gold",
            TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}, benefits={"de": ["x"]}),
            "benefits",
        ),
        (
            "gold",
            TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}, benefits={"en": [""]}),
            "benefits",
        ),
        ("gold", TierSpec(rank=-1, names={"en": "G", "zh_CN": "金"}), "rank"),
        ("gold", TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}, min_visits=-1), "min_visits"),
        (
            "gold",
            TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}, earn_multiplier_pct=99),
            "earn_multiplier_pct",
        ),
        (
            "gold",
            TierSpec(rank=2, names={"en": "G", "zh_CN": "金"}, birthday_multiplier_pct=0),
            "birthday_multiplier_pct",
        ),
    ],
)
def test_tier_settings_are_checked_field_by_field(code: str, spec: TierSpec, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        check_spec(code, spec)
    assert error.value.details["field"] == field
