"""Members at the till: look one up, list them, enrol a new one; the tags the merchant puts on
them for campaigns; a member's data requests (export, erasure)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from api import access
from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep, require_scope
from api.errors import field_error, public_message
from api.schemas import ErrorPublic, MemberCreate, MemberPublic, MembersPublic
from api.schemas.common import MEMBER_ERASED, AlreadyRegisteredPublic, check_member_number
from api.schemas.members import ErasurePublic, MemberTagsPublic, MemberTagsUpdate
from db.models import Member
from db.uow import UnitOfWork
from loyalty.access_audit import record_member_read
from loyalty.data_export import MemberExport, export_for_merchant
from loyalty.erasure import erase_for_merchant
from loyalty.errors import InvalidPhone
from loyalty.members import (
    MEMBER_NUMBER_DIGITS,
    enrol_at_till,
    find_member,
    list_members,
    look_up_member,
    read_member,
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
        "(an `admin` key only). Members whose data was erased are not listed.\n\n"
        "With `phone` or `telegram_id` (at most one): the same page shape holding the one "
        "matching member, or no rows (`count` 0) when nobody matches, so a lookup by phone "
        "never answers 404 and the endpoint has one response model.\n\n"
        "Each read is audited under the API key's name: a page with the member numbers it held, "
        "a lookup with how the member was found (never the phone itself)."
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
        found = await look_up_member(
            uow, clock, actor=api_key.actor, phone_e164=filters.phone_e164, telegram_id=filters.telegram_id
        )
        matches = [found] if found is not None else []
        rows: Sequence[Member]
        start = (page - 1) * page_size
        rows, count = matches[start : start + page_size], len(matches)
    else:
        require_scope(api_key, access.MEMBER_LIST)  # paging out the member base is for admins
        rows, count = await list_members(uow, clock, page=page, page_size=page_size, actor=api_key.actor)
    return MembersPublic(data=await _public(uow, rows), count=count, page=page, page_size=page_size)


@router.get(
    "/{member_number}",
    name="get_member",
    summary="Get a member by member number",
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"},
        status.HTTP_410_GONE: MEMBER_ERASED,
    },
)
async def get_member(member_number: MemberNumber, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep) -> MemberPublic:
    """Audited under the API key's name."""
    member = await read_member(uow, clock, member_number, actor=api_key.actor)
    [public] = await _public(uow, [member])
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
            "model": AlreadyRegisteredPublic,
            "description": "A member with this phone number exists: `member_number` names them (the "
            "answer is audited as a lookup by phone)",
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
        actor=api_key.actor,
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
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"},
        status.HTTP_410_GONE: MEMBER_ERASED,
    },
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
        status.HTTP_410_GONE: MEMBER_ERASED,
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
    tags = await set_member_tags(uow, clock, member, body.tags, actor=api_key.actor)
    return MemberTagsPublic(member_number=member.member_number, tags=tags)


# --- the member's data requests -------------------------------------------------------------------


@router.get(
    "/{member_number}/export",
    summary="Everything stored about a member",
    description=(
        "A member's answer to their own data request: profile (the phone and birthday in full), "
        "every ledger entry, purchase, coupon, reward code, message and campaign, and what staff "
        "and API keys did to their membership. Names are in the member's language and times in "
        "their time zone. Each export is audited under the API key's name. The member gets the "
        "same in the chat (/privacy), as a readable file and this JSON."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"},
        status.HTTP_410_GONE: MEMBER_ERASED,
    },
)
async def export_member_data(
    member_number: MemberNumber, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> MemberExport:
    return await export_for_merchant(uow, clock, settings, member_number, actor=api_key.actor)


@router.post(
    "/{member_number}/erase",
    summary="Erase a member's personal data, for good",
    description=(
        "The member's right to erasure (or their withdrawn consent), carried out: phone, chat, "
        "birthday, city and every copy of them are removed; the points left are forfeited with a "
        "`forfeit` ledger entry, unused coupons voided and unused reward codes cancelled; nothing "
        "is sent to the member again. Purchases, refunds and the ledger stay, linked to the "
        "anonymous member number, for the accounts. The same phone can join again as a new "
        "member.\n\n"
        "Idempotent: erasing an erased member answers 200 with the first erasure's outcome "
        "(`Idempotent-Replayed: true`) and changes nothing. The erasure is audited under the API "
        "key's name. From then on the number answers 410 everywhere else."
    ),
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such member"}},
)
async def erase_member_data(
    member_number: MemberNumber, response: Response, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> ErasurePublic:
    outcome, replayed = await erase_for_merchant(uow, clock, member_number, actor=api_key.actor)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ErasurePublic(**asdict(outcome))
