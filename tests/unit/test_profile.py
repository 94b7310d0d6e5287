"""Validation of what members type: phones, birthdays, cities, deep-link payloads."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import InvalidBirthday, InvalidCity, InvalidInput, InvalidPhone
from loyalty.members import is_valid_member_number, luhn_check_digit, new_member_number
from loyalty.profile import (
    check_locale,
    clean_city,
    clean_start_payload,
    locale_for_language_code,
    mask_phone,
    normalize_phone,
    normalize_verified_phone,
    parse_birthday,
)

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    "raw",
    ["+8613800138000", "8613800138000", "+86 138 0013 8000", "13800138000", " +86-138-0013-8000 "],
)
def test_one_phone_in_many_spellings_is_one_number(raw: str) -> None:
    assert normalize_phone(raw, "CN") == "+8613800138000"


def test_telegram_style_foreign_number_without_plus_is_international() -> None:
    # Telegram sends contacts as digits without '+'; a UK member's number must not be read as Chinese.
    assert normalize_phone("447911123456", "CN", digits_are_international=True) == "+447911123456"
    assert normalize_phone("8613800138000", "CN", digits_are_international=True) == "+8613800138000"


def test_national_mobile_typed_at_a_till_is_not_read_as_foreign() -> None:
    # 150 1234 5678 is also a valid US number (+1 501-234-5678) if read as international.
    assert normalize_phone("15012345678", "CN") == "+8615012345678"
    assert normalize_phone("15012345678", "CN", digits_are_international=True) == "+15012345678"


@pytest.mark.parametrize("raw", ["", "   ", "12", "+86 000", "not a phone", "+1" + "9" * 40])
def test_invalid_phones_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw, "CN")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("88812345678", "+88812345678"),  # Telegram's own anonymous numbers: the library knows no +888 range
        ("+861991234567", "+861991234567"),  # a range newer than the library's metadata
        ("8613800138000", "+8613800138000"),  # an ordinary number: as normalize_phone reads it
        ("447911123456", "+447911123456"),
    ],
)
def test_a_number_telegram_verified_is_taken_even_where_the_library_doubts_it(raw: str, e164: str) -> None:
    assert normalize_verified_phone(raw, "CN") == e164


def test_the_library_alone_would_refuse_the_verified_numbers() -> None:
    """What makes the verified reading necessary: the same numbers through normalize_phone."""
    for raw in ("88812345678", "+861991234567"):
        with pytest.raises(InvalidPhone):
            normalize_phone(raw, "CN", digits_are_international=True)


@pytest.mark.parametrize("raw", ["", "12", "1234567", "999123456789", "+1" + "9" * 40, "+86 000"])
def test_a_verified_number_still_needs_a_country_code_and_a_plausible_length(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_verified_phone(raw, "CN")


def test_mask_hides_the_middle_of_the_number() -> None:
    masked = mask_phone("+8613800138000")
    assert masked == "+86 138****8000"
    assert "0013" not in masked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-05-17", date(1990, 5, 17)),
        ("1990/5/7", date(1990, 5, 7)),
        ("17.05.1990", date(1990, 5, 17)),
        ("1990年5月17日", date(1990, 5, 17)),
        ("１９９０-０５-１７", date(1990, 5, 17)),  # full-width digits from a Chinese keyboard
        ("2000-02-29", date(2000, 2, 29)),
    ],
)
def test_birthday_forms(raw: str, expected: date) -> None:
    assert parse_birthday(raw, TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("yesterday", "format"),
        ("05/17/1990", "impossible"),  # month-first: day 5 of month 17 does not exist
        ("1990-02-30", "impossible"),
        ("2001-02-29", "impossible"),
        ("2026-11-25", "future"),
        ("1890-01-01", "too_old"),
    ],
)
def test_bad_birthdays_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidBirthday) as caught:
        parse_birthday(raw, TODAY)
    assert caught.value.details["reason"] == reason


def test_birthday_today_is_accepted_and_tomorrow_is_not() -> None:
    assert parse_birthday("2026-11-24", TODAY) == TODAY
    with pytest.raises(InvalidBirthday):
        parse_birthday("2026-11-25", TODAY)


@pytest.mark.parametrize(("raw", "expected"), [("  Shanghai ", "Shanghai"), ("New   York", "New York"), ("上海", "上海")])
def test_city_is_trimmed(raw: str, expected: str) -> None:
    assert clean_city(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"), [("", "empty"), ("   ", "empty"), ("x" * 65, "too_long"), ("😀😀", "chars"), ("12345", "chars")]
)
def test_bad_cities_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidCity) as caught:
        clean_city(raw)
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ref_ABC-123", "ref_ABC-123"), ("x" * 64, "x" * 64), ("x" * 65, None), ("bad payload", None), ("<script>", None), (None, None), ("", None)],
)
def test_start_payload_kept_only_when_telegram_shaped(raw: str | None, expected: str | None) -> None:
    assert clean_start_payload(raw) == expected


@pytest.mark.parametrize(("code", "locale"), [("zh-hans", "zh_CN"), ("zh", "zh_CN"), ("en", "en"), ("de", "en"), (None, "en")])
def test_locale_from_telegram_language(code: str | None, locale: str) -> None:
    assert locale_for_language_code(code) == locale


def test_unknown_locale_refused() -> None:
    with pytest.raises(InvalidInput):
        check_locale("fr")


@given(st.integers(min_value=0))
def test_member_numbers_are_valid_and_catch_single_digit_typos(_: int) -> None:
    number = new_member_number()
    assert is_valid_member_number(number)
    assert number[0] != "0"
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not is_valid_member_number(typo)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_luhn_digit_completes_any_body(body: str) -> None:
    full = body + luhn_check_digit(body)
    total = 0
    for position, char in enumerate(reversed(full)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    assert total % 10 == 0
