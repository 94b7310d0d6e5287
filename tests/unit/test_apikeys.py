"""Reading `--scope` and `--expires` for `loyalty apikey create`."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.apikeys import DEFAULT_SCOPES, MAX_EXPIRY_DAYS, Scope, parse_expiry, parse_scopes
from loyalty.errors import InvalidInput

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # 20:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_scopes_repeat_or_comma_separated_and_default_to_till() -> None:
    assert parse_scopes([]) == DEFAULT_SCOPES == {Scope.TILL}
    assert parse_scopes(["till", "Marketing"]) == parse_scopes(["till, marketing"]) == {Scope.TILL, Scope.MARKETING}
    with pytest.raises(InvalidInput, match="unknown scope 'root'"):
        parse_scopes(["till,root"])


@given(st.integers(min_value=1, max_value=MAX_EXPIRY_DAYS))
def test_days_count_from_now(days: int) -> None:
    assert parse_expiry(f"{days}d", now=NOW, zone=SHANGHAI) == NOW + timedelta(days=days)


@given(st.dates(min_value=date(2026, 11, 25), max_value=date(2036, 11, 20)))
def test_a_date_expires_at_its_start_in_the_programs_zone(day: date) -> None:
    expires = parse_expiry(day.isoformat(), now=NOW, zone=SHANGHAI)
    local = expires.astimezone(SHANGHAI)
    assert local.date() == day and (local.hour, local.minute) == (0, 0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-24", "not in the future"),  # today began before now
        ("2020-01-01", "not in the future"),
        ("0d", "a number of days like 90d"),
        (f"{MAX_EXPIRY_DAYS + 1}d", "at most 3650 days"),
        ("2040-01-01", "at most 3650 days"),
        ("soon", "a number of days like 90d"),
        ("90 days", "a number of days like 90d"),
    ],
)
def test_bad_expiries_are_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_expiry(value, now=NOW, zone=SHANGHAI)


@pytest.mark.parametrize("field", ["api_rate_limit", "auth_failure_limit", "auth_failure_limit_per_key"])
def test_rate_limit_settings_are_checked(field: str) -> None:
    from pydantic import ValidationError

    from loyalty.config import Settings

    assert getattr(Settings(_env_file=None, **{field: "20/second"}), field) == "20/second"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not a rate limit like '1200/minute'"):
        Settings(_env_file=None, **{field: "lots"})  # type: ignore[call-arg]
