"""When points expire: the end of a calendar month in the program's zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from loyalty.ledger import lot_expiry

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("earned_at", "months", "expected"),
    [
        # Anywhere in a month expires at the same instant: the month's lot ends together.
        (utc(2026, 3, 1, 0, 0), 12, utc(2027, 4, 1)),
        (utc(2026, 3, 31, 23, 59, 59), 12, utc(2027, 4, 1)),
        # December: the target month is in the next year, and so is the month after it.
        (utc(2026, 12, 15), 1, utc(2027, 2, 1)),
        (utc(2026, 12, 31, 23, 59), 12, utc(2028, 1, 1)),
        (utc(2026, 11, 30), 1, utc(2027, 1, 1)),
        (utc(2026, 1, 10), 11, utc(2027, 1, 1)),
        # Short months and leap years do not matter: it is always the 1st of a month.
        (utc(2028, 2, 29, 12), 12, utc(2029, 3, 1)),
        (utc(2026, 1, 31), 1, utc(2026, 3, 1)),
        # The longest expiry the settings allow.
        (utc(2026, 5, 5), 120, utc(2036, 6, 1)),
    ],
)
def test_lot_expires_at_the_end_of_the_month_in_utc(
    earned_at: datetime, months: int, expected: datetime
) -> None:
    assert lot_expiry(earned_at, months=months, zone=UTC) == expected


def test_month_is_read_in_the_program_zone_not_utc() -> None:
    # 23:30 UTC on 31 January is 07:30 on 1 February in Shanghai: a February lot there.
    earned_at = utc(2026, 1, 31, 23, 30)
    assert lot_expiry(earned_at, months=12, zone=UTC) == utc(2027, 2, 1)
    shanghai = lot_expiry(earned_at, months=12, zone=SHANGHAI)
    assert shanghai == datetime(2027, 3, 1, tzinfo=SHANGHAI)
    assert shanghai == utc(2027, 2, 28, 16, 0)  # midnight in Shanghai is 16:00 UTC the day before


def test_expiry_instant_is_local_midnight_as_utc() -> None:
    expires_at = lot_expiry(utc(2026, 6, 10), months=6, zone=SHANGHAI)
    assert expires_at.tzinfo == timezone.utc
    assert expires_at == utc(2026, 12, 31, 16, 0)
    assert expires_at.astimezone(SHANGHAI).replace(tzinfo=None) == datetime(2027, 1, 1)


def test_december_in_shanghai_rolls_into_the_next_year() -> None:
    # 20:00 UTC on 31 December is already 1 January in Shanghai: a January lot.
    earned_at = utc(2026, 12, 31, 20, 0)
    assert lot_expiry(earned_at, months=1, zone=UTC) == utc(2027, 2, 1)
    assert lot_expiry(earned_at, months=1, zone=SHANGHAI) == datetime(2027, 3, 1, tzinfo=SHANGHAI)


def test_zone_behind_utc_and_daylight_saving() -> None:
    # 03:00 UTC on 1 March is still February in New York; expiry at local midnight in summer
    # time (UTC-4) or winter time (UTC-5) as the date falls.
    earned_at = utc(2026, 3, 1, 3, 0)
    assert lot_expiry(earned_at, months=1, zone=NEW_YORK) == utc(2026, 4, 1, 4, 0)
    assert lot_expiry(earned_at, months=9, zone=NEW_YORK) == utc(2026, 12, 1, 5, 0)


def test_a_lot_is_usable_until_the_instant_before_expiry() -> None:
    earned_at = utc(2026, 4, 20)
    expires_at = lot_expiry(earned_at, months=1, zone=UTC)
    last_usable = expires_at - timedelta(microseconds=1)
    assert last_usable.month == 5 and last_usable.day == 31


@pytest.mark.parametrize("months", [0, -1, 121])
def test_months_outside_the_settings_range_are_refused(months: int) -> None:
    with pytest.raises(ValueError, match="months"):
        lot_expiry(utc(2026, 1, 1), months=months, zone=UTC)


def test_naive_earned_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        lot_expiry(datetime(2026, 1, 1), months=12, zone=UTC)


def test_every_month_of_a_decade_lands_on_a_first_of_month_in_order() -> None:
    # Walks each start month through each length up to 120: the result is always the 1st,
    # exactly `months + 1` months after the start month, and never earlier than the start.
    for start_month in range(1, 13):
        earned_at = datetime(2026, start_month, 15, 12, tzinfo=SHANGHAI)
        for months in range(1, 121):
            expires_at = lot_expiry(earned_at, months=months, zone=SHANGHAI).astimezone(SHANGHAI)
            assert (expires_at.day, expires_at.hour, expires_at.minute) == (1, 0, 0)
            steps = (expires_at.year - 2026) * 12 + expires_at.month - start_month
            assert steps == months + 1
