"""A campaign's text filled in for one member: {{ name }} is their first name as written (the
whole text is plain text, escaped once), or a neutral word in their language when not known."""

from __future__ import annotations

import pytest

from loyalty.campaigns.messages import NAME_UNKNOWN, Addressee, check_texts, render
from loyalty.config import SUPPORTED_LOCALES


def addressee(locale: str = "en", name: str | None = None) -> Addressee:
    return Addressee(locale, 1280, {"en": "Gold", "zh_CN": "金卡"}, "4260185626", name)


def test_a_name_is_filled_in_as_text_never_markup() -> None:
    text = render({"en": "Hi {{ name }}!"}, addressee(name="<b>Al</b> & Co"), default_locale="en")
    assert text == "Hi &lt;b&gt;Al&lt;/b&gt; &amp; Co!"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_an_unknown_name_reads_as_a_neutral_word_in_the_members_language(locale: str) -> None:
    assert NAME_UNKNOWN[locale].strip()
    text = render({locale: "{{ name }}"}, addressee(locale), default_locale="en")
    assert text == NAME_UNKNOWN[locale]


def test_a_text_using_the_name_is_accepted_and_checked_with_the_longest_name() -> None:
    check_texts({"en": "Hi {{ name }}"}, supported_locales=SUPPORTED_LOCALES, with_image=False)
    with pytest.raises(Exception, match="longer than"):
        # Fits with a short name, not with Telegram's longest: refused before anyone gets it.
        check_texts({"en": "x" * 990 + "{{ name }}"}, supported_locales=SUPPORTED_LOCALES, with_image=True)
