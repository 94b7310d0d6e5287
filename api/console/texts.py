"""The console's words and number formats, per locale.

Words are keyed strings in templates/console/<locale>/*.toml, one file per part of the console (a
key missing from a locale falls back to English, and one missing from English is an error, so a
page never shows a bare key; a key defined in two files is an error too).
Numbers, money, percentages and dates are formatted with Babel for the reader's locale; money
shows the home currency's own symbol ("¥" for CNY in English too), as the bot does.
"""

from __future__ import annotations

import contextlib
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from babel import UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.languages import get_official_languages
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_currency_symbol,
)

from loyalty.config import SUPPORTED_LOCALES

FALLBACK = "en"


@cache
def _strings(locale: str) -> Mapping[str, str]:
    return load_words(locale)


def load_words(locale: str, area: str = "console") -> dict[str, str]:
    """Every word of one locale of an area (templates/<area>/<locale>/*.toml: the console's, the
    Mini App's "webapp"), from all its files; a key two files define is refused."""
    words: dict[str, str] = {}
    folder = files("templates") / area / locale
    for part in sorted((entry for entry in folder.iterdir() if entry.name.endswith(".toml")), key=lambda entry: entry.name):
        flat = _flatten(tomllib.loads(part.read_text(encoding="utf-8")))
        twice = flat.keys() & words.keys()
        if twice:
            raise ValueError(f"{area} words defined twice ({part.name}): {', '.join(sorted(twice))}")
        words.update(flat)
    return words


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def home_currency_symbol(currency: str) -> str:
    """The symbol in the main language of the currency's country (ISO 4217's first two letters),
    NFKC-normalised ("￥" -> "¥"); a currency of no single country keeps its usual symbol."""
    territory = currency[:2]
    languages = get_official_languages(territory, de_facto=True)
    symbol = get_currency_symbol(currency, "en")
    if languages:
        with contextlib.suppress(UnknownLocaleError):
            symbol = get_currency_symbol(currency, f"{languages[0]}_{territory}")
    return unicodedata.normalize("NFKC", symbol)


def preferred_locale(accept_language: str | None, default: str) -> str:
    """The supported locale a browser asks for first (Accept-Language), else `default`: for
    pages shown before anyone signed in."""
    if not accept_language:
        return default
    asked = [part.split(";")[0].strip().replace("-", "_") for part in accept_language.split(",")]
    asked = [("zh_CN" if tag.lower().startswith("zh") else tag) for tag in asked if tag]
    return negotiate_locale(asked, list(SUPPORTED_LOCALES)) or default


@dataclass(frozen=True)
class ConsoleTexts:
    locale: str
    currency: str
    zone: tzinfo | None = None  # the program's time zone, which times are shown in

    def __call__(self, key: str, **values: object) -> str:
        text = _strings(self.locale).get(key)
        if text is None:
            text = _strings(FALLBACK)[key]  # KeyError: a key no locale has is a bug
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in _strings(self.locale) or key in _strings(FALLBACK)

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def money(self, minor_units: int | float | None) -> str:
        if minor_units is None:
            return "—"
        exponent = get_currency_precision(self.currency)
        amount = Decimal(str(minor_units)).scaleb(-exponent)
        text = format_currency(amount, self.currency, locale=self.locale)
        return text.replace(get_currency_symbol(self.currency, self.locale), home_currency_symbol(self.currency))

    def percent(self, ratio: float | None, digits: int = 1) -> str:
        if ratio is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(ratio, format=pattern, locale=self.locale)

    def signed_percent(self, ratio: float | None, digits: int = 1) -> str:
        if ratio is None:
            return "—"
        text = self.percent(ratio, digits)
        return f"+{text}" if ratio > 0 else text

    def day(self, value: date | datetime | None, style: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            return format_datetime(value, format=style, tzinfo=self.zone, locale=self.locale)
        return format_date(value, format=style, locale=self.locale)

    def month(self, value: date) -> str:
        return format_date(value, format="yyyy-MM" if self.locale == "en" else "y年M月", locale=self.locale)
