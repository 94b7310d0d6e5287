"""What a preview expects a campaign to do with its audience: the same four groups the report
counts, adding up to the audience, with the hold-out drawn from everyone first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loyalty.campaigns.audience import AudienceSize
from loyalty.campaigns.service import Expected


@given(
    reachable=st.integers(0, 10**7),
    opted_out=st.integers(0, 10**7),
    unreachable=st.integers(0, 10**7),
    holdout_pct=st.integers(0, 50),
)
def test_the_expected_groups_add_up_to_the_audience(
    reachable: int, opted_out: int, unreachable: int, holdout_pct: int
) -> None:
    total = reachable + opted_out + unreachable
    expected = Expected.of(AudienceSize(total, reachable, opted_out, unreachable), holdout_pct)
    groups = (expected.sent, expected.held_out, expected.opted_out, expected.unreachable)
    assert sum(groups) == total and min(groups) >= 0
    assert abs(expected.held_out - total * holdout_pct / 100) <= 0.5
    # The hold-out takes its share of every group: what is left of each is (100 - pct)% of it.
    kept = (100 - holdout_pct) / 100
    assert abs(expected.sent - reachable * kept) <= 1
    assert abs(expected.unreachable - unreachable * kept) <= 2


def test_nobody_reachable_is_nobody_sent() -> None:
    assert Expected.of(AudienceSize(5, 0, 2, 3), 10).sent == 0
