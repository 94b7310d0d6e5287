"""What a campaign says to one member: the merchant's text, per locale, with the member's own
values filled in.

Merchants write the text, so it is a Jinja template run in a sandbox (no attribute access
beyond plain values, no imports) with StrictUndefined: a misspelt variable is refused when the
campaign is created, not discovered by a million members. The text is plain text: it is
escaped as a whole, so a "<" in an offer never breaks the HTML the bot sends.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from babel.numbers import format_decimal
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from loyalty import text
from loyalty.errors import InvalidCampaign
from loyalty.i18n import localized

# What a text may use: {{ points }} (the balance, formatted for the locale), {{ tier }} (the
# tier's name in the member's language), {{ member_number }}, {{ name }} (the Telegram first name
# they last wrote under, as they wrote it).
VARIABLES = ("points", "tier", "member_number", "name")
# {{ name }} for a member whose first name is not known (enrolled at a till and never wrote, or
# no name on Telegram): a neutral word that reads right after "Hi" or "Dear" ("Hi friend!",
# "亲爱的朋友"), never an empty gap ("Hi !").
NAME_UNKNOWN = {"en": "friend", "zh_CN": "朋友"}
MAX_TEXT = 4096  # Telegram's limit for a message...
MAX_CAPTION = 1024  # ...and for a photo's caption
# What checking a text fills the variables with: long enough values that a text which fits
# with them fits for (almost) every member.
_SAMPLE_POINTS = 9_999_999
_SAMPLE_TIER = {"en": "W" * 24}
_SAMPLE_NUMBER = "M" * 16
_SAMPLE_NAME = "W" * 64  # Telegram's longest first name

_environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class Addressee:
    """The member a campaign message is rendered for."""

    locale: str
    points: int
    tier_names: dict[str, str]
    member_number: str
    name: str | None = None  # their first name; None: not known


# Template markup in a merchant's text: {{ points }}, {% if %}, {# a note #}.
_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def headline(source: str, limit: int) -> str:
    """The start of a text as a name for it: template markup left out (a name cut from "Hi {{ t"
    helps nobody), whitespace collapsed, cut at a word with "…" when longer than `limit`."""
    words = _MARKUP.sub(" ", source).split()
    line = " ".join(words)
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    at_word = cut.rsplit(" ", 1)[0]
    # Cut at a word, unless that loses half of it (Chinese has no spaces between words).
    if not line[limit - 1].isspace() and len(at_word) >= limit // 2:
        cut = at_word
    return cut.rstrip(" ,.;:!?-–—") + "…"


def pick_text(texts: dict[str, str], locale: str, default_locale: str) -> str:
    """The member's language, else the program's, else any the merchant wrote."""
    return texts.get(locale) or texts.get(default_locale) or next(iter(texts.values()))


def render(texts: dict[str, str], addressee: Addressee, *, default_locale: str) -> str:
    """The message for `addressee`, escaped for parse_mode=HTML."""
    template = _compiled(pick_text(texts, addressee.locale, default_locale))
    text = template.render(
        points=format_decimal(addressee.points, locale=addressee.locale),
        tier=localized(addressee.tier_names, addressee.locale),
        member_number=addressee.member_number,
        name=addressee.name or NAME_UNKNOWN.get(addressee.locale, NAME_UNKNOWN["en"]),
    )
    return html.escape(text, quote=False)


def check_texts(texts: dict[str, str], *, supported_locales: tuple[str, ...], with_image: bool) -> None:
    """Refuse texts that cannot go out as written: no text, an unknown locale, a template error
    or unknown variable, or too long for Telegram (a caption when there is an image)."""
    if not texts:
        raise InvalidCampaign("a campaign needs a text in at least one language", field="texts", problem="empty")
    limit = MAX_CAPTION if with_image else MAX_TEXT
    for locale, source in texts.items():
        field = f"texts.{locale}"
        if locale not in supported_locales:
            raise InvalidCampaign(
                f"unknown language {locale!r}; use one of {', '.join(supported_locales)}", field=field,
                problem="unknown_locale",
            )
        if not source.strip():
            raise InvalidCampaign("the text is empty", field=field, problem="empty")
        check_plain(source, field, multiline=True)
        sample = Addressee(locale, _SAMPLE_POINTS, _SAMPLE_TIER, _SAMPLE_NUMBER, _SAMPLE_NAME)
        try:
            rendered = render({locale: source}, sample, default_locale=locale)
        except TemplateError as error:
            raise InvalidCampaign(
                f"the text cannot be filled in: {error.message}; it may use {', '.join(VARIABLES)}",
                field=field, problem="template",
            ) from error
        if len(html.unescape(rendered)) > limit:
            raise InvalidCampaign(
                f"the text is longer than Telegram's {limit} characters", field=field, problem="too_long"
            )


def check_plain(value: str, field: str, *, multiline: bool = False) -> None:
    """loyalty/text.py's rule, refused as a campaign's problem the chat can explain."""
    character = text.control_character(value, multiline=multiline)
    if character is not None:
        raise InvalidCampaign(
            f"{field} {text.refusal(character, multiline=multiline)}", field=field, problem="control_character"
        )


@lru_cache(maxsize=256)
def _compiled(source: str):  # type: ignore[no-untyped-def]  # jinja2.Template
    return _environment.from_string(source)
