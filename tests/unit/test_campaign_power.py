"""The minimum detectable effect against values worked out here by hand, and the properties the
hold-out suggestion promises."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.campaigns.power import (
    READABLE_MDE,
    Unreadable,
    mde_for_share,
    minimum_detectable_effect,
    readability,
    split,
    suggest_holdout_pct,
)
from loyalty.campaigns.service import HOLDOUT_MAX_PCT

# Phi^-1(0.975) and Phi^-1(0.80), from a printed normal table.
Z_ALPHA, Z_POWER = 1.959964, 0.841621


def by_hand(p: float, n_t: int, n_h: int) -> float:
    return (Z_ALPHA + Z_POWER) * math.sqrt(p * (1 - p) * (1 / n_t + 1 / n_h))


def test_equal_groups_of_a_thousand_at_ten_percent() -> None:
    mde = minimum_detectable_effect(0.10, 1000, 1000)
    assert mde is not None
    # 2.801585 * sqrt(0.09 * 0.002) = 2.801585 * 0.0134164 = 0.037587
    assert mde.absolute == pytest.approx(0.037587, abs=1e-5)
    assert mde.relative == pytest.approx(0.37587, abs=1e-4)


def test_unequal_groups() -> None:
    # 9,000 targeted against 1,000 held out at 5 %: 2.801585 * sqrt(0.0475 * (1/9000 + 1/1000)).
    mde = minimum_detectable_effect(0.05, 9000, 1000)
    assert mde is not None
    assert mde.absolute == pytest.approx(2.801585 * math.sqrt(0.0475 * (1 / 9000 + 1 / 1000)), rel=1e-5)
    assert mde.absolute == pytest.approx(0.020353, abs=1e-5)
    assert mde.relative == pytest.approx(mde.absolute / 0.05)


@pytest.mark.parametrize(("p", "n_t", "n_h"), [(0.0, 100, 100), (1.0, 100, 100), (0.2, 0, 100), (0.2, 100, 0)])
def test_none_when_it_cannot_be_computed(p: float, n_t: int, n_h: int) -> None:
    assert minimum_detectable_effect(p, n_t, n_h) is None


def test_split_matches_the_preview() -> None:
    assert split(1001, 10) == (901, 100)
    assert split(5, 0) == (5, 0)


@given(
    p=st.floats(min_value=0.001, max_value=0.999),
    n_t=st.integers(min_value=1, max_value=10**6),
    n_h=st.integers(min_value=1, max_value=10**6),
    more=st.integers(min_value=1, max_value=10**6),
)
def test_matches_the_closed_form_and_falls_as_groups_grow(p: float, n_t: int, n_h: int, more: int) -> None:
    mde = minimum_detectable_effect(p, n_t, n_h)
    assert mde is not None
    assert mde.absolute == pytest.approx(by_hand(p, n_t, n_h), rel=1e-5)
    bigger_t, bigger_h = minimum_detectable_effect(p, n_t + more, n_h), minimum_detectable_effect(p, n_t, n_h + more)
    assert bigger_t is not None and bigger_h is not None
    assert bigger_t.absolute < mde.absolute
    assert bigger_h.absolute < mde.absolute


@given(p=st.floats(min_value=0.001, max_value=0.999), total=st.integers(min_value=0, max_value=2_000_000))
def test_the_suggested_share_is_the_smallest_readable_one(p: float, total: int) -> None:
    suggested = suggest_holdout_pct(p, total, max_pct=HOLDOUT_MAX_PCT)
    if suggested is None:
        mde = mde_for_share(p, total, HOLDOUT_MAX_PCT)
        assert mde is None or mde.relative > READABLE_MDE  # not even the largest share reads
        return
    assert 1 <= suggested <= HOLDOUT_MAX_PCT
    mde = mde_for_share(p, total, suggested)
    assert mde is not None and mde.relative <= READABLE_MDE
    if suggested > 1:
        less = mde_for_share(p, total, suggested - 1)
        assert less is None or less.relative > READABLE_MDE
    # Every larger share up to the maximum reads too: the suggestion is the cheapest, not a fluke.
    for pct in range(suggested, HOLDOUT_MAX_PCT + 1):
        larger = mde_for_share(p, total, pct)
        assert larger is not None and larger.relative <= READABLE_MDE


def test_readability_warnings() -> None:
    # 20,000 members, 10 % bought. Held out 5 %: 2.8016 * sqrt(0.09 * (1/19000 + 1/1000)) / 0.1
    # = 0.2727; 9 %: sqrt(0.09 * (1/18200 + 1/1800)) -> 0.2076, not yet; 10 %: 0.1981, readable.
    test = readability(2_000, 20_000, 5, max_pct=HOLDOUT_MAX_PCT)
    assert test.baseline_conversion == pytest.approx(0.10)
    assert test.mde is not None and test.mde.relative == pytest.approx(0.2727, abs=1e-4)
    assert test.warning is Unreadable.HOLDOUT_TOO_SMALL
    assert test.suggested_holdout_pct == 10
    assert readability(2_000, 20_000, 9, max_pct=HOLDOUT_MAX_PCT).warning is Unreadable.HOLDOUT_TOO_SMALL
    assert readability(2_000, 20_000, 10, max_pct=HOLDOUT_MAX_PCT).warning is None
    assert readability(2_000, 20_000, 0, max_pct=HOLDOUT_MAX_PCT).warning is Unreadable.NO_HOLDOUT
    assert readability(0, 20_000, 10, max_pct=HOLDOUT_MAX_PCT).warning is Unreadable.NO_BASELINE
    small = readability(10, 100, 10, max_pct=HOLDOUT_MAX_PCT)
    assert small.warning is Unreadable.AUDIENCE_TOO_SMALL and small.suggested_holdout_pct is None
    empty = readability(0, 0, 10, max_pct=HOLDOUT_MAX_PCT)
    assert empty.baseline_conversion is None and empty.mde is None
