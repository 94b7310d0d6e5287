"""Members at the till: look one up, list them, enrol a new one; the tags the merchant puts on
them for campaigns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from api import access
from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep, require_scope
from api.errors import field_error, public_message
from api.schemas import ErrorPublic, MemberCreate, MemberPublic, MembersPublic
from api.schemas.common import check_member_number
from api.schemas.members import MemberTagsPublic, MemberTagsUpdate
from db.models import Member
from db.uow import UnitOfWork
from loyalty.access_audit import record_member_read, record_members_listed
from loyalty.errors import InvalidPhone, MemberNotFound
from loyalty.members import (
    MEMBER_NUMBER_DIGITS,
    enrol_at_till,
    find_member,
    list_members,
)
from loyalty.profile import normalize_phone
from loyalty.tags import member_tags, set_member_tags

log = logging.getLogger(__name__)

router = APIRouter(prefix="/members", tags=["members"])

MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000_000  # keeps the row offset inside a 64-bit integer
MAX_TELEGRAM_ID = 2**63 - 1  # the column is a BIGINT

MemberNumber = Annotated[
    str,
    Path(
        description=f"{MEMBER_NUMBER_DIGITS} digits, the last a Luhn check digit.",
        examples=["4820193756"],
    ),
    AfterValidator(check_member_number),
]


@dataclass(frozen=True)
class MemberFilter:
    phone_e164: str | None = None
    telegram_id: int | None = None

    @property
    def given(self) -> bool:
        return self.phone_e164 is not None or self.telegram_id is not None


def member_filter(
    settings: SettingsDep,
    phone: Annotated[
        str | None,
        Query(description="Find the member with this phone number, in any usual format."),
    ] = None,
    telegram_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_TELEGRAM_ID, description="Find the member linked to this Telegram user."),
    ] = None,
) -> MemberFilter:
    if phone is not None and telegram_id is not None:
        raise RequestValidationError(
            [field_error(["query"], "give at most one of phone and telegram_id", "one_filter")]
        )
    if phone is None:
        return MemberFilter(telegram_id=telegram_id)
    try:
        return MemberFilter(phone_e164=normalize_phone(phone, settings.phone_region))
    except InvalidPhone as exc:
        raise RequestValidationError(
            [field_error(["query", "phone"], public_message(exc), exc.code)]
        ) from exc


MemberFilterDep = Annotated[MemberFilter, Depends(member_filter)]


async def _public(uow: UnitOfWork, members: Sequence[Member]) -> list[MemberPublic]:
    tier_codes = {tier.id: tier.code for tier in await uow.program.tiers()}
    return [
        MemberPublic.from_member(
            member, phone_e164=uow.members.phone_of(member), tier_code=tier_codes[member.tier_id]
        )
        for member in members
    ]


@router.get(
    "",
    summary="List members, or find one by phone or Telegram id",
    description=(
        "Without a filter: all members, oldest first, a page at a time; `count` is the total "
        "(an `admin` key only).\n\n"
        "With `phone` or `telegram_id` (at most one): the same page shape holding the one "
        "matching member, or no rows (`count` 0) when nobody matches, so a lookup by phone "
        "never answers 404 and the endpoint has one response model.\n\n"
        "Every call is audited under the API key's name: the member found, or the page read."
    ),
)
async def list_or_find_members(
    uow: UowDep,
    clock: ClockDep,
    api_key: ApiKeyDep,
    filters: MemberFilterDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> MembersPublic:
    if filters.given:
        try:
            matches = [
                await find_member(
                    uow, phone_e164=filters.phone_e164, telegram_id=filters.telegram_id
                )
            ]
        except MemberNotFound:
            matches = []
        start = (page - 1) * page_size
        rows, count = matches[start : start + page_size], len(matches)
        how = "lookup by phone" if filters.phone_e164 else "lookup by telegram_id"
        public = await _public(uow, rows)
        await record_member_read(
            uow, clock, actor=api_key.actor, member_id=matches[0].id if matches else None,
            what=how if matches else f"{how}: no match",
        )
    else:
        require_scope(api_key, access.MEMBER_LIST)  # paging out the member base is for admins
        rows, count = await list_members(uow, page=page, page_size=page_size)
        public = await _public(uow, rows)
        await record_members_listed(uow, clock, actor=api_key.actor, page=page, page_size=page_size, rows=len(rows))
    return MembersPublic(data=public, count=count, page=page, page_size=page_size)


@router.get(
    "/{member_number}",
    name="get_member",
    summary="Get a member by member number",
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"}},
)
async def get_member(member_number: MemberNumber, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep) -> MemberPublic:
    member = await find_member(uow, member_number=member_number)
    [public] = await _public(uow, [member])
    await record_member_read(uow, clock, actor=api_key.actor, member_id=member.id, what="by member number")
    return public


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Enrol a member at the till",
    description=(
        "Creates a member who has no chat yet; when they later share the same phone number "
        "with the bot, the chat joins this membership. The answer's `Location` header is the "
        "new member's URL. The enrolment is audited under the API key's name."
    ),
    responses={
        status.HTTP_409_CONFLICT: {
            "model": ErrorPublic,
            "description": "A member with this phone number exists",
        }
    },
)
async def enrol_member(
    body: MemberCreate,
    request: Request,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> MemberPublic:
    phone = normalize_phone(body.phone, settings.phone_region)
    member = await enrol_at_till(
        uow,
        clock,
        settings,
        phone_e164=phone,
        consent_version=body.consent_version or settings.privacy_version,
        locale=body.locale or settings.default_locale,
        actor=f"apikey:{api_key.name}",
        start_payload=body.campaign,
    )
    response.headers["Location"] = str(
        request.app.url_path_for("get_member", member_number=member.member_number)
    )
    [public] = await _public(uow, [member])
    return public


@router.get(
    "/{member_number}/tags",
    summary="A member's tags",
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"}},
)
async def get_member_tags(
    member_number: MemberNumber, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> MemberTagsPublic:
    member = await find_member(uow, member_number=member_number)
    public = MemberTagsPublic(member_number=member.member_number, tags=await member_tags(uow, member))
    await record_member_read(uow, clock, actor=api_key.actor, member_id=member.id, what="tags")
    return public


@router.put(
    "/{member_number}/tags",
    summary="Replace a member's tags",
    description=(
        "The list sent becomes the member's tags: tags not in it are removed. Sending the same "
        "list again changes nothing. A change is audited under the API key's name. Campaigns "
        "choose audiences by tag (`audience.tags`)."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "description": "A bad tag (`loc` ends with its index, `msg` quotes it) or too many; "
            "nothing is written"
        },
    },
)
async def put_member_tags(
    member_number: MemberNumber,
    body: MemberTagsUpdate,
    uow: UowDep,
    clock: ClockDep,
    api_key: ApiKeyDep,
) -> MemberTagsPublic:
    member = await find_member(uow, member_number=member_number)
    tags = await set_member_tags(uow, clock, member, body.tags, actor=f"apikey:{api_key.name}")
    return MemberTagsPublic(member_number=member.member_number, tags=tags)
