"""The Mini App's words, per locale: templates/webapp/<locale>/<screen>.toml, one file per screen,
read by the console's loader (a key two files define is refused). The page gets them whole in
`/app/api/me`; a key missing from a locale falls back to English."""

from __future__ import annotations

from functools import cache

from api.console.texts import FALLBACK, load_words

AREA = "webapp"


@cache
def words_for(locale: str) -> dict[str, str]:
    words = load_words(FALLBACK, AREA)
    if locale != FALLBACK:
        words = {**words, **load_words(locale, AREA)}
    return words
