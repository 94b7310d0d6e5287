"""Opening hours as a form enters them: spans that overlap anywhere in the week are refused
(a span past midnight counting into the next day, Sunday's into Monday), and a span whose close
is not after its open must say it ends the next day."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import geo
from loyalty.errors import InvalidHours

WEEK = 7 * geo.DAY_MINUTES


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def minutes_of(hours: dict[str, list[list[str]]]) -> list[set[int]]:
    """The oracle: every span as the set of minutes of the week it covers."""
    covered = []
    for day, spans in hours.items():
        base = geo.WEEKDAYS.index(day) * geo.DAY_MINUTES
        for opens, closes in spans:
            start = int(opens[:2]) * 60 + int(opens[3:])
            end = int(closes[:2]) * 60 + int(closes[3:])
            end = end if end > start else end + geo.DAY_MINUTES
            covered.append({(base + minute) % WEEK for minute in range(start, end)})
    return covered


times = st.integers(0, 47).map(lambda half_hours: clock(half_hours * 30))
spans = st.tuples(times, st.integers(1, 48).map(lambda half_hours: half_hours * 30)).map(
    lambda pair: [pair[0], clock((int(pair[0][:2]) * 60 + int(pair[0][3:]) + pair[1]) % geo.DAY_MINUTES or geo.DAY_MINUTES)]
)
weeks = st.dictionaries(st.sampled_from(geo.WEEKDAYS), st.lists(spans, min_size=1, max_size=geo.MAX_SPANS_PER_DAY), max_size=7)


@given(weeks)
def test_hours_are_accepted_exactly_when_no_two_spans_share_a_minute(hours: dict[str, list[list[str]]]) -> None:
    covered = minutes_of(hours)
    overlap = any(a & b for i, a in enumerate(covered) for b in covered[i + 1 :])
    same = any(opens == closes for day in hours.values() for opens, closes in day)
    if same:
        return  # refused for another reason, tested in test_geo.py
    if overlap:
        with pytest.raises(InvalidHours) as refused:
            geo.check_hours(hours)
        assert refused.value.reason == "overlap" and refused.value.field is not None
        assert refused.value.field.startswith("opening_hours.")
    else:
        assert geo.check_hours(hours) == {day: sorted(day_spans) for day, day_spans in hours.items()}


def test_sundays_night_runs_into_mondays_morning() -> None:
    with pytest.raises(InvalidHours) as refused:
        geo.check_hours({"sun": [["22:00", "03:00"]], "mon": [["02:30", "10:00"]]})
    assert (refused.value.reason, refused.value.field) == ("overlap", "opening_hours.mon")
    assert geo.check_hours({"sun": [["22:00", "03:00"]], "mon": [["03:00", "10:00"]]})["mon"] == [["03:00", "10:00"]]


@pytest.mark.parametrize(
    ("opens", "closes", "next_day", "reason"),
    [("18:00", "09:00", False, "order"), ("09:00", "09:00", False, "order"), ("09:00", "18:00", True, "order"),
     ("09:00", "25:00", False, "time"), ("9am", "18:00", False, "time")],
)
def test_a_forms_span_must_say_when_it_ends_the_next_day(opens: str, closes: str, next_day: bool, reason: str) -> None:
    with pytest.raises(InvalidHours) as refused:
        geo.form_span(opens, closes, next_day=next_day)
    assert refused.value.reason == reason


def test_a_forms_span_in_the_stored_form() -> None:
    assert geo.form_span("18:00", "02:00", next_day=True) == ["18:00", "02:00"]
    assert geo.form_span("00:00", "24:00", next_day=False) == ["00:00", "24:00"]
