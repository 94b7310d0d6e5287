"""Shapes every part of the API shares."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from loyalty.members import MEMBER_NUMBER_DIGITS, is_valid_member_number


class ErrorPublic(BaseModel):
    detail: str
    code: str | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "busy", "unavailable"] = Field(
        description="ok: serving; busy: serving, but writes wait (a long job holds the database); "
        "unavailable: the database cannot be read"
    )
    database: Literal["ok", "busy", "unreachable"] = Field(
        description="ok: answered at once; busy: answers reads, but the program's connections or its write "
        "lock were not free within a second; unreachable: cannot be read at all"
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


MemberNumberStr = Annotated[str, AfterValidator(check_member_number)]
