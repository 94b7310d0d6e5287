"""Shapes every part of the API shares."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from loyalty import card_tokens
from loyalty.members import MEMBER_NUMBER_DIGITS, is_valid_member_number

# Re-exported: the schema modules take the text types from here.
from loyalty.text import MultiLine as MultiLine
from loyalty.text import SingleLine as SingleLine

# Every free text the API accepts is a SingleLine (a name, a code, a reason, an address...) or a
# MultiLine (a message or a description members read as paragraphs): loyalty/text.py.
# {"en": ..., "zh_CN": ...}: names per locale, and texts per locale that may break lines.
LocalisedNames = dict[SingleLine, SingleLine]
LocalisedTexts = dict[SingleLine, MultiLine]


class ErrorPublic(BaseModel):
    detail: str
    code: str | None = None


# The answer of every route that finds a member by number, once that member's data was erased.
MEMBER_ERASED: dict[str, object] = {
    "model": ErrorPublic,
    "description": "The member's personal data was erased (`code`: `member_erased`); the number "
    "stays only in the accounts, and nothing more can be read or written for it",
}


# Any request can be refused for its body's size, before it is read (api/request_limits.py).
BODY_TOO_LARGE = {
    "model": ErrorPublic,
    "description": "The body is larger than the API takes (1 MiB of JSON, 8 MiB of CSV by default); "
    "`code` is `body_too_large`",
}


class AlreadyRegisteredPublic(ErrorPublic):
    """An enrolment of a phone that is a member's already."""

    member_number: str | None = Field(
        default=None, description="The member who has the phone (absent when two enrolments raced)."
    )


class ScopeRefusalPublic(ErrorPublic):
    """A working API key whose scopes do not allow the route."""

    required_scopes: list[Literal["till", "marketing", "admin"]]


class HealthPublic(BaseModel):
    status: Literal["ok", "busy", "unavailable"] = Field(
        description="ok: serving; busy: serving, but writes wait (a long job holds the database); "
        "unavailable: the database cannot be read"
    )
    database: Literal["ok", "busy", "unreachable"] = Field(
        description="ok: answered at once; busy: answers reads, but the program's connections or its write "
        "lock were not free within a second; unreachable: cannot be read at all"
    )
    secret_key: Literal["ok", "mismatch", "unknown"] = Field(
        description="ok: the database is written with a key this process has; mismatch: with one it "
        "lacks (restart it with the current SECRET_KEY and OLD_SECRET_KEYS); unknown: not asked (the "
        "database was busy or unreachable)"
    )


class OkPublic(BaseModel):
    ok: Literal[True] = True


_ASCII_DIGITS = re.compile(r"^[0-9]+$")


def check_member_number(number: str) -> str:
    if len(number) != MEMBER_NUMBER_DIGITS:
        raise PydanticCustomError(
            "member_number_length",
            "a member number has {digits} digits",
            {"digits": MEMBER_NUMBER_DIGITS},
        )
    if not _ASCII_DIGITS.match(number):
        raise PydanticCustomError("member_number_digits", "a member number has only the digits 0-9")
    if not is_valid_member_number(number):
        raise PydanticCustomError(
            "member_number_check_digit",
            "the check digit does not match: the member number is mistyped",
        )
    return number


MemberNumberStr = Annotated[SingleLine, AfterValidator(check_member_number)]


def check_card_qr(text: str) -> str:
    """What a till scanned off a member's card: the chat card's member number, or the Mini App
    card's short-lived token (loyalty/card_tokens.py), checked when the route resolves it."""
    if card_tokens.looks_like_token(text):
        return text.strip().upper()
    return check_member_number(text)


CardQrStr = Annotated[SingleLine, AfterValidator(check_card_qr)]
