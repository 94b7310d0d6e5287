"""Who may use the web console, and for how long.

A staff member signs in without a password: the bot's /console (or `loyalty console link`)
gives them a one-time link. Its token is random and only its SHA-256 is stored, so a copy of the
database signs nobody in; redeeming it marks it used in one conditional UPDATE, so of two
redemptions at once exactly one opens a session, and an expired link opens none.

A session is a random cookie value (again stored as its hash) with a CSRF secret of its own
that every form sends back. It ends after CONSOLE_IDLE_MINUTES without a request and
CONSOLE_SESSION_HOURS after sign-in, whichever comes first; the staff row is read on every
request, so a staff member removed or demoted is out (or down to their new role) at once.
Links and sign-ins and -outs are in the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast
from urllib.parse import urlencode

from db.models import ConsoleLink, ConsoleSession
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.errors import InvalidInput, LoyaltyError, StaffOnly
from loyalty.staff import Role, runs_program

TOKEN_BYTES = 32  # 256 bits: neither a link nor a cookie can be guessed
# What a token from secrets.token_urlsafe(TOKEN_BYTES) looks like; anything else is not one.
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_TOKEN_LENGTH = 64
# A session's last activity is written at most this often, not on every request: a page view is
# then a read, and an idle session may end up to this much before its full idle time.
TOUCH_EVERY = timedelta(minutes=1)

LinkProblem = Literal["unknown", "used", "expired"]


class LinkRefused(LoyaltyError):
    """A sign-in link that opens nothing: never issued (or mistyped), used already, or expired."""

    code = "console_link_refused"
    detail_names = ("reason",)

    def __init__(self, reason: LinkProblem) -> None:
        super().__init__(f"this sign-in link is {reason}")
        self.reason = reason


@dataclass(frozen=True)
class ConsoleUser:
    """The staff member behind a request, as the staff table says now."""

    staff_id: int
    telegram_id: int
    name: str
    role: Role
    locale: str
    csrf_secret: str
    session_hash: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        return f"staff:{self.telegram_id}"

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie's value; never stored
    user: ConsoleUser


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str | None) -> bool:
    return bool(token) and len(token or "") <= MAX_TOKEN_LENGTH and set(token or "") <= _TOKEN_ALPHABET


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.console_url}/login?{urlencode({'token': token})}"


async def create_link(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    telegram_id: int,
    *,
    locale: str | None = None,
    actor: str | None = None,
) -> str:
    """A one-time sign-in link for this staff member (StaffOnly if they are not staff), valid
    CONSOLE_LINK_MINUTES. `locale`: the console's language at first, when known. Commits."""
    staff = await uow.staff.by_telegram_id(telegram_id)
    if staff is None:
        raise StaffOnly(f"Telegram id {telegram_id} is not staff: add them with `loyalty staff add` first")
    if not runs_program(staff.role):
        raise StaffOnly(f"Telegram id {telegram_id} is a {staff.role}: the till in the Mini App is theirs, not the console")
    now = clock.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    uow.console.add_link(
        ConsoleLink(
            token_hash=token_hash(token),
            staff_id=staff.id,
            locale=locale if locale in SUPPORTED_LOCALES else None,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.console_link_minutes),
        )
    )
    uow.audit.record(
        at=now, actor=actor or f"staff:{telegram_id}", action="console.link", detail=f"for {telegram_id}"
    )
    await uow.commit()
    return link_url(settings, token)


async def redeem_link(uow: UnitOfWork, clock: Clock, settings: Settings, token: str | None) -> NewSession:
    """Open a session with a sign-in link, which can never be used again (LinkRefused if it is
    unknown, used or expired: the refusal is audited too). Commits."""
    now = clock.now()
    link = await uow.console.link(token_hash(token)) if token and looks_like_token(token) else None
    if link is None:
        raise LinkRefused("unknown")
    if not await uow.console.use_link(link.token_hash, now):
        problem: LinkProblem = "expired" if link.expires_at <= now else "used"
        uow.audit.record(at=now, actor="console", action="console.sign_in_refused", detail=f"link {problem}")
        await uow.commit()
        raise LinkRefused(problem)
    staff = await uow.staff.by_id(link.staff_id)
    if staff is None or not runs_program(staff.role):  # removed meanwhile, or made a cashier
        raise LinkRefused("unknown")
    session_token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ConsoleSession(
        id_hash=token_hash(session_token),
        staff_id=staff.id,
        csrf_secret=secrets.token_urlsafe(TOKEN_BYTES),
        locale=link.locale or settings.default_locale,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.console_session_hours),
    )
    uow.console.add_session(row)
    uow.audit.record(at=now, actor=f"staff:{staff.telegram_id}", action="console.sign_in", detail=staff.role)
    await uow.commit()
    user = ConsoleUser(
        staff_id=staff.id,
        telegram_id=staff.telegram_id,
        name=staff.name,
        role=cast(Role, staff.role),
        locale=row.locale,
        csrf_secret=row.csrf_secret,
        session_hash=row.id_hash,
        expires_at=row.expires_at,
    )
    return NewSession(token=session_token, user=user)


async def authenticate(uow: UnitOfWork, clock: Clock, settings: Settings, token: str | None) -> ConsoleUser | None:
    """The staff member whose session the cookie names, or None: no such session, it ran out
    (idle or absolute; then it is deleted), or its staff member was removed. Records the request
    as the session's latest activity (at most every TOUCH_EVERY). Commits."""
    if not token or not looks_like_token(token):
        return None
    found = await uow.console.session_with_staff(token_hash(token))
    if found is None:
        return None
    row, staff = found
    if not runs_program(staff.role):  # made a cashier since signing in: the console is not theirs
        return None
    now = clock.now()
    idle_until = row.last_seen_at + timedelta(minutes=settings.console_idle_minutes)
    if now >= row.expires_at or now >= idle_until:
        await uow.console.end_session(row.id_hash)
        await uow.commit()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        await uow.console.touch(row.id_hash, now)
    # Ends the transaction either way: the page's own reads start afresh, holding nothing of this.
    await uow.commit()
    return ConsoleUser(
        staff_id=staff.id,
        telegram_id=staff.telegram_id,
        name=staff.name,
        role=cast(Role, staff.role),
        locale=row.locale,
        csrf_secret=row.csrf_secret,
        session_hash=row.id_hash,
        expires_at=row.expires_at,
    )


def csrf_matches(user: ConsoleUser, presented: str | None) -> bool:
    """Whether a form (or an htmx request's header) carries this session's CSRF token."""
    if not presented:
        return False
    return hmac.compare_digest(user.csrf_secret.encode("utf-8"), presented.encode("utf-8"))


async def sign_out(uow: UnitOfWork, clock: Clock, user: ConsoleUser) -> None:
    """End this session (the others of the same staff member stay). Commits."""
    await uow.console.end_session(user.session_hash)
    uow.audit.record(at=clock.now(), actor=user.actor, action="console.sign_out")
    await uow.commit()


async def set_language(uow: UnitOfWork, user: ConsoleUser, locale: str) -> None:
    """The session's language from now on. Commits."""
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput(f"unknown language {locale!r}; use one of {', '.join(SUPPORTED_LOCALES)}", field="locale")
    await uow.console.set_locale(user.session_hash, locale)
    await uow.commit()


async def delete_ended(uow: UnitOfWork, clock: Clock, settings: Settings) -> tuple[int, int]:
    """Delete expired links and ended sessions that nobody came back to (a session is also
    refused and deleted at its next request; this is for those never seen again). Returns how
    many links and sessions went. Commits."""
    now = clock.now()
    ended = await uow.console.delete_ended(now, now - timedelta(minutes=settings.console_idle_minutes))
    await uow.commit()
    return ended
