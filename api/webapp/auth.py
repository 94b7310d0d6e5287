"""Who is calling the Mini App: the Telegram user its signed init data names, nobody else.

Every data call carries the init data Telegram handed the page, raw, as
`Authorization: tma <initData>`. Its signature is checked with the bot token (aiogram's Web App
utilities); aiogram does not look at `auth_date`, so init data older than
WEBAPP_INIT_DATA_MAX_AGE (or from the future beyond a small skew) is refused here: a copy of it
must not open the member's card for ever. A user id in the query or the body is never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Annotated

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from api.deps import ClockDep, SettingsDep, UowDep
from db.models import Member, Staff
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.members import member_for_chat
from loyalty.profile import locale_for_language_code

SCHEME = "tma"
# Phones and servers disagree on the time by a little; init data "from the future" beyond this
# was not signed by Telegram now.
CLOCK_SKEW = timedelta(seconds=60)


class AppRefusal(Exception):
    """A Mini App call refused before any rule ran: answered as `{"detail", "code"}` with the
    status, like the API's own refusals (api/errors.py)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def not_signed_in(detail: str) -> AppRefusal:
    return AppRefusal(401, "not_signed_in", detail)


async def refusal_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppRefusal)
    headers = {"WWW-Authenticate": SCHEME} if exc.status == 401 else None
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status, headers=headers)


@dataclass(frozen=True)
class AppCaller:
    telegram_id: int
    first_name: str
    language_code: str | None
    member: Member | None
    staff: Staff | None
    locale: str  # the member's language, else the Telegram client's, as the bot maps it


def init_data_from(authorization: str | None) -> str:
    if not authorization:
        raise not_signed_in("missing init data: send the header 'Authorization: tma <initData>'")
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != SCHEME or not raw.strip():
        raise not_signed_in("malformed Authorization header: expected 'tma <initData>'")
    return raw.strip()


def verified_init_data(raw: str, bot_token: str, max_age: int, clock: Clock) -> WebAppInitData:
    try:
        data = safe_parse_webapp_init_data(bot_token, raw)
    except ValueError as exc:  # a bad signature, or fields Telegram never sends
        raise not_signed_in("init data not signed by this bot") from exc
    if data.user is None:
        raise not_signed_in("init data names no user")
    signed_at = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    now = clock.now()
    if signed_at > now + CLOCK_SKEW:
        raise not_signed_in("init data signed in the future")
    if now - signed_at > timedelta(seconds=max_age):
        raise AppRefusal(401, "init_data_expired", "init data expired: close the app and open it again")
    return data


async def resolve_caller(uow: UnitOfWork, data: WebAppInitData) -> AppCaller:
    user = data.user
    assert user is not None
    member = await member_for_chat(uow, user.id)
    staff = await uow.staff.by_telegram_id(user.id)
    locale = member.locale if member is not None else locale_for_language_code(user.language_code)
    return AppCaller(
        telegram_id=user.id,
        first_name=user.first_name,
        language_code=user.language_code,
        member=member,
        staff=staff,
        locale=locale,
    )


async def app_caller(
    uow: UowDep,
    settings: SettingsDep,
    clock: ClockDep,
    authorization: Annotated[str | None, Header()] = None,
) -> AppCaller:
    """The caller of a Mini App route, from the signed init data in the Authorization header."""
    if not settings.bot_enabled:
        raise AppRefusal(503, "webapp_unavailable", "the Mini App needs the bot: set BOT_TOKEN")
    assert settings.bot_token is not None
    raw = init_data_from(authorization)
    data = verified_init_data(raw, settings.bot_token.get_secret_value(), settings.webapp_init_data_max_age, clock)
    return await resolve_caller(uow, data)


Caller = Annotated[AppCaller, Depends(app_caller)]


async def member_caller(caller: Caller) -> AppCaller:
    """The caller, who must be a member (403 `not_a_member` otherwise: they join in the chat).
    A blocked member passes: they see their card, and the rules refuse what they may not do."""
    if caller.member is None:
        raise AppRefusal(403, "not_a_member", "not a member yet: join in the chat first")
    return caller


MemberCaller = Annotated[AppCaller, Depends(member_caller)]
