"""Validation of what a member tells us about themselves: phone, birthday, city, locale."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import phonenumbers

from loyalty.config import SUPPORTED_LOCALES
from loyalty.errors import InvalidBirthday, InvalidCity, InvalidInput, InvalidPhone

OLDEST_PLAUSIBLE_AGE_YEARS = 120
CITY_MAX_LENGTH = 64
START_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Day-first and year-first forms people actually type; ambiguous month-first US dates are not
# accepted because 03/04 would silently become the wrong birthday for half the members.
_BIRTHDAY_FORMS = (
    re.compile(r"^(?P<y>\d{4})[-./ ](?P<m>\d{1,2})[-./ ](?P<d>\d{1,2})$"),
    re.compile(r"^(?P<d>\d{1,2})[-./ ](?P<m>\d{1,2})[-./ ](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日?$"),
)


def normalize_phone(raw: str, default_region: str, *, digits_are_international: bool = False) -> str:
    """Return the number in E.164 form, or raise InvalidPhone.

    A bare digit string is ambiguous: Telegram sends contacts in international form without the
    '+' ("8613800138000"), while a till types the national form ("15012345678", which would
    also read as a US number). The caller knows which it has; the other reading is the fallback."""
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidPhone("phone number is empty or too long")
    if text.startswith("+"):
        candidates = [text]
    elif digits_are_international:
        candidates = [f"+{text}", text]
    else:
        candidates = [text, f"+{text}"]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(f"{raw!r} is not a valid phone number")


# E.164: a country code and a number, 15 digits at most; no country's numbers are shorter than this.
E164_DIGITS = range(8, 16)


def normalize_verified_phone(raw: str, default_region: str) -> str:
    """A number Telegram verified as the member's own (their contact, shared with the button),
    in E.164 form, or raise InvalidPhone.

    Telegram has checked it by text message, so it is trusted over the phone-number library's
    metadata, which lags behind new ranges: a number the library calls invalid is still taken,
    as long as it names a country calling code and has a plausible length."""
    try:
        return normalize_phone(raw, default_region, digits_are_international=True)
    except InvalidPhone:
        pass
    digits = "".join(character for character in raw if character.isdigit())
    if raw.strip().lstrip("+") != digits or len(digits) not in E164_DIGITS:
        raise InvalidPhone(f"{raw!r} is not a phone number")
    try:
        number = phonenumbers.parse(f"+{digits}", None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} names no country calling code") from exc
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """+8613812345678 -> +86 138****5678: enough for staff to confirm, not enough to leak."""
    number = phonenumbers.parse(e164, None)
    national = str(number.national_number)
    keep = 3 if len(national) > 8 else 2
    hidden = max(len(national) - keep - 4, 0)
    return f"+{number.country_code} {national[:keep]}{'*' * hidden}{national[keep + hidden:]}"


def parse_birthday(raw: str, today: date) -> date:
    text = unicodedata.normalize("NFKC", raw).strip()
    for form in _BIRTHDAY_FORMS:
        match = form.match(text)
        if match:
            break
    else:
        raise InvalidBirthday(f"{raw!r} is not a date", reason="format")
    try:
        born = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError as exc:
        raise InvalidBirthday(f"{raw!r} is not a real date", reason="impossible") from exc
    return validate_birthday(born, today)


def validate_birthday(born: date, today: date) -> date:
    if born > today:
        raise InvalidBirthday("birthday is in the future", reason="future")
    if today.year - born.year > OLDEST_PLAUSIBLE_AGE_YEARS:
        raise InvalidBirthday("birthday is implausibly long ago", reason="too_old")
    return born


def clean_city(raw: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not text:
        raise InvalidCity("city is empty", reason="empty")
    if len(text) > CITY_MAX_LENGTH:
        raise InvalidCity("city name is too long", reason="too_long")
    if any(unicodedata.category(ch).startswith(("C", "S")) for ch in text) or not any(
        ch.isalpha() for ch in text
    ):
        raise InvalidCity("city name has characters that are not part of a name", reason="chars")
    return text


def clean_start_payload(raw: str | None) -> str | None:
    """A /start deep-link payload: kept when it is Telegram-shaped, silently dropped otherwise."""
    if raw is None:
        return None
    text = raw.strip()
    return text if START_PAYLOAD.match(text) else None


def locale_for_language_code(language_code: str | None) -> str:
    if language_code and language_code.lower().startswith("zh"):
        return "zh_CN"
    return "en"


def check_locale(locale: str) -> str:
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput(f"unsupported locale {locale!r}", field="locale")
    return locale
