"""`GET /app/api/me`: who the page is talking to, and the words to talk to them in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import SettingsDep, UowDep
from api.webapp.auth import AppCaller, Caller
from api.webapp.join import bot_username, join_link
from api.webapp.words import words_for
from db.models import Member
from db.uow import UnitOfWork
from loyalty.i18n import localized
from loyalty.profile import locale_for_language_code

router = APIRouter()


class MemberSummary(BaseModel):
    number: str
    first_name: str
    tier: str  # the tier's code
    tier_name: str  # in the caller's language
    balance: int
    currency: str  # of every amount the app shows
    blocked: bool  # blocked by staff: they see their card, and earn and redeem nothing


class JoinLink(BaseModel):
    bot_url: str | None  # None: the bot's address could not be learned; the page says to open the chat


class StoreRef(BaseModel):
    code: str
    name: str


class StaffSummary(BaseModel):
    role: str
    store: StoreRef | None


class Me(BaseModel):
    locale: str
    currency: str  # of every amount the app shows and takes
    words: dict[str, str]
    member: MemberSummary | None
    join: JoinLink | None
    staff: StaffSummary | None


async def member_summary(uow: UnitOfWork, member: Member, caller: AppCaller, currency: str) -> MemberSummary:
    tier = await uow.program.tier(member.tier_id)
    assert tier is not None  # tier_id is a foreign key
    return MemberSummary(
        number=member.member_number,
        first_name=caller.first_name,
        tier=tier.code,
        tier_name=localized(tier.names, caller.locale),
        balance=member.points_balance,
        currency=currency,
        blocked=member.blocked_at is not None,
    )


async def staff_summary(uow: UnitOfWork, caller: AppCaller) -> StaffSummary | None:
    if caller.staff is None:
        return None
    store = await uow.program.store(caller.staff.store_id) if caller.staff.store_id is not None else None
    return StaffSummary(
        role=caller.staff.role,
        store=StoreRef(code=store.code, name=store.name) if store is not None else None,
    )


@router.get("/me", response_model=Me)
async def me(request: Request, caller: Caller, uow: UowDep, settings: SettingsDep) -> Me:
    member = None
    join = None
    if caller.member is not None:
        member = await member_summary(uow, caller.member, caller, settings.currency)
    else:
        username = await bot_username(request, settings)
        join = JoinLink(bot_url=join_link(username) if username else None)
    return Me(
        locale=caller.locale,
        currency=settings.currency,
        words=words_for(caller.locale),
        member=member,
        join=join,
        staff=await staff_summary(uow, caller),
    )


@router.get("/words")
async def words(language_code: str | None = None) -> dict[str, object]:
    """The page's words without signing in, for what it says when /me refused it (init data
    expired, not opened from the chat): no one's data, only texts, in the client's language."""
    locale = locale_for_language_code(language_code)
    return {"locale": locale, "words": words_for(locale)}
