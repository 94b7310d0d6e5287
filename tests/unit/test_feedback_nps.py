"""NPS and its interval (loyalty.feedback.nps_of) against a plain computation from the scores."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from loyalty.feedback import band, nps_of
from tests.utils.feedback import reference_nps


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=500), st.integers(0, 100))
def test_nps_and_its_interval_equal_the_reference(scores: list[int], unanswered: int) -> None:
    figure = nps_of(scores, asked=len(scores) + unanswered)
    nps, low, high = reference_nps(scores)
    assert figure.nps is not None and figure.low is not None and figure.high is not None
    assert math.isclose(figure.nps, nps, abs_tol=0.006)
    assert math.isclose(figure.low, low, abs_tol=0.006) and math.isclose(figure.high, high, abs_tol=0.006)
    assert figure.low <= figure.nps <= figure.high
    assert figure.promoters + figure.passives + figure.detractors == figure.responses == len(scores)
    assert figure.response_rate == len(scores) / (len(scores) + unanswered)


def test_no_answers_no_figure_and_the_bands_edges() -> None:
    empty = nps_of([], asked=4)
    assert empty.nps is None and empty.response_rate == 0.0
    assert [band(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor", "detractor", "passive", "passive", "promoter", "promoter"
    ]
    everyone = nps_of([10] * 5)
    assert (everyone.nps, everyone.low, everyone.high) == (100.0, 100.0, 100.0)
