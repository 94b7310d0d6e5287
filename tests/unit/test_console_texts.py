"""The console's words: both languages have the same keys, every key a template names exists,
and numbers, money, percentages and dates follow the reader's locale."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from api.console.texts import ConsoleTexts, load_words, preferred_locale
from loyalty.config import SUPPORTED_LOCALES

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "console" / "templates"
# Literal keys in the templates: t("nav.dashboard"), t('report.reach_help'); keys built with ~ are
# checked by the pages' tests.
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def keys(locale: str) -> set[str]:
    return set(load_words(locale))


def test_every_language_has_the_same_keys() -> None:
    english = keys("en")
    for locale in SUPPORTED_LOCALES:
        assert keys(locale) == english, locale


def test_every_key_a_template_names_exists() -> None:
    named = {key for path in TEMPLATES.glob("*.html") for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}
    assert len(named) > 40, "the pattern finds the templates' keys"
    assert named - keys("en") == set()


def test_numbers_money_percentages_and_dates_per_locale() -> None:
    en, zh = ConsoleTexts("en", "CNY"), ConsoleTexts("zh_CN", "CNY")
    assert en.money(1_234_550) == "¥12,345.50" and zh.money(1_234_550) == "¥12,345.50"
    assert en.percent(0.256) == "25.6%" and en.signed_percent(0.1) == "+10.0%" and en.signed_percent(-0.1) == "-10.0%"
    assert en.number(None) == en.money(None) == en.percent(None) == "—"
    assert en.day(date(2026, 11, 24)) == "Nov 24, 2026" and zh.day(date(2026, 11, 24)) == "2026年11月24日"
    assert zh("nav.dashboard") == "数据看板" and en("dashboard.days", days=7) == "7 days"


@pytest.mark.parametrize(
    ("header", "locale"),
    [(None, "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"), ("zh-TW", "zh_CN"), ("fr-FR,en;q=0.5", "en"), ("de", "en")],
)
def test_a_browsers_language_picks_the_page_language_before_sign_in(header: str | None, locale: str) -> None:
    assert preferred_locale(header, "en") == locale
