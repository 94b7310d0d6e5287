"""What the API accepts and returns: `*Create` for input, `*Public` for output.

Output is minimal on purpose: a masked phone instead of the number, whether a birthday is known
instead of the date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import SingleLine
from db.models import Member
from loyalty.profile import START_PAYLOAD, mask_phone
from loyalty.tags import MAX_TAGS

Locale = Literal["en", "zh_CN"]

CONSENT_REQUIRED = "the member must consent to the privacy terms"


class MemberCreate(BaseModel):
    """A member enrolled at a till. The chat can be linked later, when they share this phone."""

    model_config = ConfigDict(
        extra="forbid",  # a misspelt optional field ("campain") is an error, not silently lost
        json_schema_extra={
            "examples": [
                {"phone": "+86 131 2345 6789", "consent": True, "locale": "zh_CN", "campaign": "store_42"}
            ]
        },
    )

    phone: SingleLine = Field(
        description=(
            "The member's phone number, international (+86 …) or in the program's region; "
            "spaces and dashes are fine. One phone is one member."
        ),
    )
    consent: StrictBool = Field(
        description="The member agreed to the privacy terms. Must be the JSON value `true`."
    )
    consent_version: SingleLine | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Version of the privacy terms agreed to; defaults to the current version.",
    )
    locale: Locale | None = Field(
        default=None, description="Language of the member's messages; defaults to the program's."
    )
    campaign: str | None = Field(
        default=None,
        pattern=START_PAYLOAD.pattern,
        description=(
            "Optional campaign or store tag (1-64 of A-Z a-z 0-9 _ -), kept where a chat "
            "sign-up keeps its /start payload."
        ),
    )

    @field_validator("consent")
    @classmethod
    def _must_consent(cls, value: bool) -> bool:
        if value is not True:
            raise PydanticCustomError("consent_required", CONSENT_REQUIRED)
        return value


class MemberPublic(BaseModel):
    member_number: str = Field(description="10 digits, the last a Luhn check digit.")
    telegram_linked: bool = Field(description="The member has a chat with the bot.")
    telegram_id: int | None
    phone_masked: str | None = Field(description="For example `+86 138****5678`.")
    tier: str = Field(description="The code of the member's tier, e.g. `gold`.")
    points_balance: int
    locale: Locale
    city: str | None
    has_birthday: bool
    enrolled_via: Literal["chat", "till"]
    created_at: datetime
    chat_blocked: bool = Field(description="The member blocked the bot; messages cannot reach them.")

    @classmethod
    def from_member(cls, member: Member, *, phone_e164: str | None, tier_code: str) -> MemberPublic:
        return cls(
            tier=tier_code,
            member_number=member.member_number,
            telegram_linked=member.telegram_id is not None,
            telegram_id=member.telegram_id,
            phone_masked=mask_phone(phone_e164) if phone_e164 else None,
            points_balance=member.points_balance,
            locale=member.locale,  # type: ignore[arg-type]
            city=member.city,
            has_birthday=member.birthday_month is not None,
            enrolled_via=member.enrolled_via,  # type: ignore[arg-type]
            created_at=member.created_at,
            chat_blocked=member.chat_blocked_at is not None,
        )


class MembersPublic(BaseModel):
    data: list[MemberPublic]
    count: int = Field(description="How many members match, on all pages together.")
    page: int
    page_size: int


class MemberTagsUpdate(BaseModel):
    """A member's whole list of tags: the ones sent are kept, any other is removed."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tags": ["vip", "office-lunch"]}]}
    )

    tags: list[SingleLine] = Field(
        max_length=MAX_TAGS,
        description=(
            f"At most {MAX_TAGS} tags, each 1-32 of a-z 0-9 - _ (upper case is stored lower "
            "case; repeats count once). An empty list removes every tag. One bad tag refuses "
            "the whole list, naming it, and nothing changes."
        ),
    )


class MemberTagsPublic(BaseModel):
    member_number: str
    tags: list[str] = Field(
        description="Sorted; campaigns choose audiences by them.", examples=[["office-lunch", "vip"]]
    )


class ErasurePublic(BaseModel):
    """What erasing a member did. Erasing again answers the same, and changes nothing."""

    member_number: str
    erased_at: datetime
    points_forfeited: int = Field(description="Points the member had left, forfeited with a `forfeit` ledger entry.")
    coupons_voided: int = Field(description="Unused coupons, now void.")
    reward_codes_cancelled: int = Field(description="Reward codes not yet used at a till, now cancelled.")
