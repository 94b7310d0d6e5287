"""Every message exists in every locale, renders with sample data, and is valid Telegram HTML."""

from __future__ import annotations

from datetime import date

import pytest
from jinja2 import UndefinedError

from bot.render import Texts, format_money, texts_for
from bot.sandbox.formatting import parse_html, utf16_len
from loyalty.config import SUPPORTED_LOCALES

# Sample values for every variable any template uses; user input is made hostile on purpose.
SAMPLE = {
    "name": "<b>Al & Ex</b>",
    "program": "Loyalty Club",
    "version": "2026-11",
    "url": "https://example.com/privacy?a=1&b=2",
    "button": "📱 Share my phone number",
    "skip": "Skip",
    "agree": "I agree",
    "decline": "No",
    "member_number": "4260185626",
    "tier": "Gold",
    "points": 1234567,
    "is_member": True,
    "reason": "format",
}


def all_keys() -> list[str]:
    return texts_for("en").keys()


def test_every_locale_has_the_same_messages() -> None:
    keys = {locale: set(texts_for(locale).keys()) for locale in SUPPORTED_LOCALES}
    reference = keys["en"]
    for locale, found in keys.items():
        assert found == reference, f"{locale}: missing {reference - found}, extra {found - reference}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("key", all_keys())
def test_message_renders_as_valid_telegram_html(locale: str, key: str) -> None:
    text = texts_for(locale)(key, **SAMPLE)
    assert text.strip(), f"{locale}/{key} renders empty"
    parsed = parse_html(text)  # raises on markup Telegram would refuse
    assert utf16_len(parsed.text) <= 4096
    assert "<b>Al" not in text, "member input must be escaped"


def test_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(UndefinedError):
        texts_for("en")("card/caption", program="x")


def test_numbers_and_money_follow_the_locale() -> None:
    en, zh = texts_for("en"), texts_for("zh_CN")
    assert "1,234,567" in en("card/caption", **SAMPLE)
    assert "1,234,567" in zh("card/caption", **SAMPLE)
    assert format_money(64000, "CNY", "zh_CN") == "¥640.00"
    assert format_money(64000, "CNY", "en") == "CN¥640.00"
    assert format_money(500, "JPY", "en") == "¥500"


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError):
        Texts("fr")


def test_button_labels_fit_telegram() -> None:
    for locale in SUPPORTED_LOCALES:
        for key in texts_for(locale).keys():
            if key.startswith("buttons/"):
                assert len(texts_for(locale)(key)) <= 64


def test_date_filter_is_localised() -> None:
    env_en = texts_for("en")._env  # noqa: SLF001
    env_zh = texts_for("zh_CN")._env  # noqa: SLF001
    day = date(2026, 12, 1)
    assert env_en.from_string("{{ d | day }}").render(d=day) == "Dec 1, 2026"
    assert env_zh.from_string("{{ d | day }}").render(d=day) == "2026年12月1日"
