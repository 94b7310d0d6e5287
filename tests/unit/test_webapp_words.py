"""The Mini App's words: every locale has the same keys, each screen's file of its own."""

from __future__ import annotations

from api.console.texts import load_words
from api.webapp.words import words_for
from loyalty.config import SUPPORTED_LOCALES


def test_every_locale_has_the_same_keys() -> None:
    keys = {locale: set(load_words(locale, "webapp")) for locale in SUPPORTED_LOCALES}

    assert keys["en"], "no words at all"
    for locale, found in keys.items():
        assert found == keys["en"], f"{locale}: missing {sorted(keys['en'] - found)}, extra {sorted(found - keys['en'])}"


def test_the_page_gets_the_words_of_its_locale() -> None:
    assert words_for("zh_CN")["card.tab"] == "会员卡"
    assert words_for("en")["card.tab"] == "Card"
