"""A campaign's send time as a staff member types it (loyalty.campaigns.when), against a fixed
"now": the three forms, what is refused, and for any now and zone, that exactly the times still
to come are taken, each as the instant typed in the program's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from loyalty.campaigns.when import At, LocalAt, Now, WhenError, parse_when, schedule, send_day
from loyalty.clock import FixedClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOCK = FixedClock(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))  # 10:30 on the 24th in Shanghai
ZONES = [ZoneInfo(name) for name in (
    "Asia/Shanghai", "UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago",
    "Australia/Lord_Howe",  # a half-hour daylight saving shift
)]
nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from(ZONES)
typed_times = st.datetimes(min_value=datetime(1999, 12, 1), max_value=datetime(2100, 2, 1)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)


def parse(text: str) -> At | LocalAt:
    return parse_when(text, now=CLOCK.now(), zone=SHANGHAI)


def test_a_date_and_time_is_that_instant_in_the_programs_zone() -> None:
    assert parse("2026-12-08 10:00") == At(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))
    assert parse("  2026-12-8   9:05 ") == At(datetime(2026, 12, 8, 9, 5, tzinfo=SHANGHAI))


def test_local_is_that_wall_clock_time_in_each_members_zone() -> None:
    assert parse("2026-12-08 10:00 local") == LocalAt(date(2026, 12, 8), time(10, 0))
    assert parse("2026-12-08 10:00 LOCAL") == LocalAt(date(2026, 12, 8), time(10, 0))


def test_a_time_alone_is_the_next_one_in_the_programs_zone() -> None:
    assert parse("11:00") == LocalAt(date(2026, 11, 24), time(11, 0)), "still to come today"
    assert parse("10:30") == LocalAt(date(2026, 11, 25), time(10, 30)), "now itself is tomorrow's"
    assert parse("9:00") == LocalAt(date(2026, 11, 25), time(9, 0))


@pytest.mark.parametrize(
    "text", ["next tuesday", "", "2026-02-30 10:00", "2026-12-08 24:00", "25:00", "10:60", "2026-12-08", "10.00",
             "2026-12-08 10:00 utc", "0000-01-01 10:00"],
)
def test_what_cannot_be_read_is_malformed(text: str) -> None:
    with pytest.raises(WhenError) as refused:
        parse(text)
    assert refused.value.problem == "malformed"


@pytest.mark.parametrize("text", ["2026-11-24 08:00", "2026-11-24 10:30", "2026-11-24 10:30 local", "2025-12-08 10:00"])
def test_a_time_already_past_in_the_programs_zone_is_refused(text: str) -> None:
    with pytest.raises(WhenError) as refused:
        parse(text)
    assert refused.value.problem == "past"


def test_the_send_day_is_in_the_programs_zone() -> None:
    now = CLOCK.now()
    late = At(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))  # already December 1st in Shanghai
    assert send_day(late, now=now, zone=SHANGHAI) == date(2026, 12, 1)
    assert send_day(LocalAt(date(2026, 12, 8), time(10, 0)), now=now, zone=SHANGHAI) == date(2026, 12, 8)
    assert send_day(Now(), now=now, zone=SHANGHAI) == date(2026, 11, 24)


def test_each_kind_is_one_schedule_for_the_campaign() -> None:
    moment = datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)
    assert schedule(At(moment)) == (moment, None, None)
    assert schedule(LocalAt(date(2026, 12, 8), time(10, 0))) == (None, date(2026, 12, 8), time(10, 0))
    assert schedule(Now()) == (None, None, None)


@given(now=nows, zone=zones, typed=typed_times, local=st.booleans())
@example(now=datetime(2026, 11, 24, 2, 30, tzinfo=UTC), zone=SHANGHAI, typed=datetime(2026, 11, 24, 10, 30),
         local=False)
def test_exactly_the_times_still_to_come_are_taken(now: datetime, zone: ZoneInfo, typed: datetime, local: bool) -> None:
    text = f"{typed:%Y-%m-%d %H:%M}" + (" local" if local else "")
    moment = typed.replace(tzinfo=zone)
    if moment <= now:
        with pytest.raises(WhenError) as refused:
            parse_when(text, now=now, zone=zone)
        assert refused.value.problem == "past"
        return
    when = parse_when(text, now=now, zone=zone)
    if local:
        assert when == LocalAt(typed.date(), typed.time())
    else:
        assert when == At(moment) and when.at.tzinfo is zone


@given(now=nows, zone=zones, hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_a_time_alone_is_always_to_come_within_a_day(now: datetime, zone: ZoneInfo, hour: int, minute: int) -> None:
    when = parse_when(f"{hour}:{minute:02d}", now=now, zone=zone)
    assert isinstance(when, LocalAt) and when.time == time(hour, minute)
    moment = datetime.combine(when.date, when.time, zone)
    # A day and a daylight saving shift at most: the same time today had passed.
    assert now < moment <= now + timedelta(hours=25)
    assert when.date in (now.astimezone(zone).date(), now.astimezone(zone).date() + timedelta(days=1))


@given(now=nows, zone=zones, text=st.text(max_size=40) | st.from_regex(r"\A\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}\Z"))
def test_any_text_is_a_send_time_to_come_or_refused_with_a_reason(now: datetime, zone: ZoneInfo, text: str) -> None:
    try:
        when = parse_when(text, now=now, zone=zone)
    except WhenError as refused:
        assert refused.problem in ("malformed", "past")
        return
    moment = when.at if isinstance(when, At) else datetime.combine(when.date, when.time, zone)
    assert moment > now
