"""Every text the bot sends comes from templates/messages/<locale>/<key>.j2.

Jinja2 runs with StrictUndefined (a missing variable is an error, never an empty hole) and HTML
autoescaping, because messages go out with parse_mode=HTML and members' input lands in them.
Numbers, money and dates are formatted per locale with Babel filters.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache, partial
from importlib.resources import files
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.languages import get_official_languages
from babel.numbers import format_currency, format_decimal, get_currency_precision, get_currency_symbol
from babel.units import format_unit
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from loyalty.config import SUPPORTED_LOCALES

# The texts are the `templates` package's data, so an installed wheel finds them as a checkout
# does. Wheels install unpacked, so they are plain files Jinja's FileSystemLoader can read.
TEMPLATES_DIR = Path(os.environ.get("TEMPLATES_DIR") or str(files("templates") / "messages"))


def format_points(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def plural(count: int, one: str, other: str, locale: str, **forms: str) -> str:
    """The word for `count` by the locale's plural rules (CLDR via Babel): "visit" or "visits".
    English needs `one` and `other`; a language with more forms (few, many) takes them by name."""
    form = Locale.parse(locale).plural_form(abs(count))
    return {"one": one, "other": other, **forms}.get(form, other)


def format_count(count: int, one: str, other: str, locale: str, **forms: str) -> str:
    """"1 visit", "1,234 visits": the number as the locale writes it, and its word."""
    return f"{format_decimal(count, locale=locale)} {plural(count, one, other, locale, **forms)}"


def format_money(minor_units: int, currency: str, locale: str) -> str:
    # Money travels as integer minor units; Babel needs the major-unit amount only to print it.
    exponent = get_currency_precision(currency)
    text = format_currency(Decimal(minor_units).scaleb(-exponent), currency, locale=locale)
    # One symbol for a currency whatever the reader's language: the one used at home ("¥640.00"
    # in English too, where CLDR would say "CN¥640.00"). Number formatting stays the reader's.
    return text.replace(get_currency_symbol(currency, locale), home_currency_symbol(currency))


@cache
def home_currency_symbol(currency: str) -> str:
    """The currency's symbol in the main language of the country that issues it (ISO 4217's
    first two letters name it); a currency of no one country (EUR) keeps its usual symbol.
    NFKC turns a full-width form (Japan's "￥") into the one that sits in any script."""
    territory = currency[:2]
    languages = get_official_languages(territory, de_facto=True)
    symbol = get_currency_symbol(currency, "en")
    if languages:
        with contextlib.suppress(UnknownLocaleError):
            symbol = get_currency_symbol(currency, f"{languages[0]}_{territory}")
    return unicodedata.normalize("NFKC", symbol)


def format_day(value: date | datetime, locale: str, style: str = "medium") -> str:
    if isinstance(value, datetime):
        return format_datetime(value, format=style, locale=locale)
    return format_date(value, format=style, locale=locale)


def plain(value: str) -> Markup:
    # Button labels and callback alerts are plain text, not HTML: escaping a merchant's
    # "Fish & Chips" there would show "&amp;". Messages keep escaping everything.
    return Markup(value)


def format_distance(metres: float, locale: str) -> str:
    """"350 m" under a kilometre (to 10 m), "1.2 km" under ten, "8,217 km" from there on (a
    tenth of a kilometre is noise that far off); in the locale's own units."""
    if metres < 995:
        return format_unit(int(round(metres, -1)), "length-meter", length="short", locale=locale)
    pattern = "#,##0.0" if metres < 9_950 else "#,##0"
    return format_unit(metres / 1000, "length-kilometer", length="short", format=pattern, locale=locale)


REGIONS_FILE = TEMPLATES_DIR / "regions.toml"


@lru_cache(maxsize=1)
def _regions() -> dict[str, str]:
    """City name (case-folded) -> region, from templates/messages/regions.toml."""
    if not REGIONS_FILE.exists():
        return {}
    with REGIONS_FILE.open("rb") as file:
        table = tomllib.load(file)
    return {city.strip().casefold(): region for region, entry in table.items() for city in entry.get("cities", [])}


def region_of(city: str | None) -> str | None:
    """The region whose texts a member in `city` reads, or None for the general texts."""
    return _regions().get(city.strip().casefold()) if city else None


def _environment(locale: str, region: str | None, *, html: bool = True) -> Environment:
    # A region's own version of a template, when the merchant wrote one, wins over the general
    # one; includes resolve the same way, so a region can change one fragment of a message.
    loaders: list[BaseLoader] = [FileSystemLoader(TEMPLATES_DIR / locale)]
    if region is not None:
        loaders.insert(0, FileSystemLoader(TEMPLATES_DIR / locale / "regions" / region))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=select_autoescape(default=html, default_for_string=html),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["points"] = partial(format_points, locale=locale)
    env.filters["money"] = lambda minor, currency: format_money(minor, currency, locale)
    env.filters["day"] = partial(format_day, locale=locale)
    env.filters["distance"] = partial(format_distance, locale=locale)
    env.filters["plural"] = partial(plural, locale=locale)
    env.filters["count"] = partial(format_count, locale=locale)
    env.globals["language_name"] = Locale.parse(locale).get_display_name(locale)
    return env


class Texts:
    """The texts of one locale, and of one region when given: `texts("card/caption", member=...)`.
    A region's texts live in templates/messages/<locale>/regions/<region>/ and override the
    general ones key by key."""

    def __init__(self, locale: str, region: str | None = None) -> None:
        if locale not in SUPPORTED_LOCALES:
            raise ValueError(f"unsupported locale {locale!r}")
        self.locale = locale
        self.region = region
        self._env = _environment(locale, region)
        self._plain_env: Environment | None = None

    def __call__(self, key: str, /, **context: object) -> str:
        return self._env.get_template(f"{key}.j2").render(**context).strip()

    def plain_text(self, key: str, /, **context: object) -> str:
        """A text that is not a message but a file the member downloads (their data export):
        the same template and filters, without HTML escaping, so "Fish & Chips" stays as it is."""
        if self._plain_env is None:
            self._plain_env = _environment(self.locale, self.region, html=False)
        return self._plain_env.get_template(f"{key}.j2").render(**context).strip() + "\n"

    def keys(self) -> list[str]:
        """The message keys; regional versions are not keys of their own."""
        return sorted(
            name.removesuffix(".j2")
            for name in self._env.list_templates(extensions=["j2"])
            if not name.startswith("regions/")
        )


@cache
def texts_for(locale: str, region: str | None = None) -> Texts:
    return Texts(locale, region)
