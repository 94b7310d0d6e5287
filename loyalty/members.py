"""Member registration: in the chat, at the till, and the link between the two.

One person is one member, whoever enrols them first: the phone number is the join key, so a
member enrolled at a till who later shares the same number in the chat gets that chat linked to
the existing membership rather than a second one.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from db.models import Member
from db.uow import IntegrityError, UnitOfWork
from loyalty import coupons
from loyalty.access_audit import record_member_read, record_members_listed
from loyalty.bonuses import grant_event_bonus
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import AlreadyRegistered, ConsentRequired, MemberErased, MemberNotFound, PhoneTaken
from loyalty.profile import check_locale, clean_city, clean_start_payload, parse_birthday

log = logging.getLogger(__name__)

MEMBER_NUMBER_DIGITS = 10  # nine random digits and a Luhn check digit
FIRST_NAME_MAX = 64  # Telegram's limit for a first name


def luhn_check_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_member_number(number: str) -> bool:
    return (
        len(number) == MEMBER_NUMBER_DIGITS
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_member_number() -> str:
    # Random rather than sequential, so a number says nothing about how many members there are
    # and a mistyped digit at the till is caught by the check digit.
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(MEMBER_NUMBER_DIGITS - 2)
    )
    return body + luhn_check_digit(body)


async def _unused_member_number(uow: UnitOfWork) -> str:
    for _ in range(20):
        number = new_member_number()
        if not await uow.members.number_taken(number):
            return number
    raise RuntimeError("could not find an unused member number in 20 tries")


@dataclass(frozen=True)
class Consent:
    version: str
    given_at: datetime


@dataclass(frozen=True)
class Registration:
    member: Member
    linked_existing: bool  # True when the chat joined a membership made at a till


async def register_from_chat(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    *,
    telegram_id: int,
    phone_e164: str,
    locale: str,
    consent: Consent | None,
    start_payload: str | None = None,
    first_name: str | None = None,
) -> Registration:
    """Make the chat a member once they consented and shared their own phone number.
    `first_name`: the one their Telegram account shows, kept (encrypted) for greetings."""
    if consent is None:
        raise ConsentRequired("sign-up needs consent to the privacy terms")
    check_locale(locale)
    now = clock.now()
    if await uow.members.by_telegram_id(telegram_id) is not None:
        raise AlreadyRegistered("this chat is already a member")

    existing = await uow.members.by_phone(phone_e164)
    if existing is not None:
        if existing.telegram_id is not None:
            raise PhoneTaken("this phone number belongs to a member linked to another chat")
        existing = await uow.lock_member(existing.id)  # before changing it: the lock re-reads the row
        existing.telegram_id = telegram_id
        existing.locale = locale
        existing.consent_version = consent.version
        existing.consented_at = consent.given_at
        existing.start_payload = existing.start_payload or clean_start_payload(start_payload)
        uow.members.set_first_name(existing, clean_first_name(first_name))
        existing.updated_at = now
        async with _unique_or_conflict(uow):
            await grant_event_bonus(uow, settings, existing, event="signup", now=now, actor="chat")
            await coupons.issue_automatic(uow, existing, event="signup", now=now, zone=settings.zone)
            await uow.commit()
        log.info("chat linked to member %s enrolled via %s", existing.member_number, existing.enrolled_via)
        return Registration(existing, linked_existing=True)

    member = await _new_member(
        uow, now, telegram_id=telegram_id, phone_e164=phone_e164, locale=locale, enrolled_via="chat",
        start_payload=start_payload, consent_version=consent.version, consented_at=consent.given_at,
    )
    uow.members.set_first_name(member, clean_first_name(first_name))
    async with _unique_or_conflict(uow):
        await uow.members.add(member)
        await grant_event_bonus(uow, settings, member, event="signup", now=now, actor="chat")
        await coupons.issue_automatic(uow, member, event="signup", now=now, zone=settings.zone)
        await uow.commit()
    log.info("member %s signed up in the chat", member.member_number)
    return Registration(member, linked_existing=False)


async def enrol_at_till(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    *,
    phone_e164: str,
    consent_version: str,
    locale: str,
    actor: str,
    start_payload: str | None = None,
) -> Member:
    """A till or shop enrols a member by phone; the chat can be linked later."""
    check_locale(locale)
    now = clock.now()
    if (existing := await uow.members.by_phone(phone_e164)) is not None:
        # The till learns who it is, as a lookup by phone would tell it; audited as one.
        await record_member_read(uow, clock, actor=actor, member_id=existing.id, what="enrolment of a member's phone")
        raise AlreadyRegistered(
            f"this phone number is member {existing.member_number}'s", member_number=existing.member_number
        )
    member = await _new_member(
        uow, now, telegram_id=None, phone_e164=phone_e164, locale=locale, enrolled_via="till",
        start_payload=start_payload, consent_version=consent_version, consented_at=now,
    )
    async with _unique_or_conflict(uow):
        await uow.members.add(member)
        uow.audit.record(at=now, actor=actor, action="member.enrol", member_id=member.id)
        await grant_event_bonus(uow, settings, member, event="signup", now=now, actor=actor)
        await coupons.issue_automatic(uow, member, event="signup", now=now, zone=settings.zone)
        await uow.commit()
    log.info("member %s enrolled by %s", member.member_number, actor)
    return member


async def _new_member(
    uow: UnitOfWork,
    now: datetime,
    *,
    telegram_id: int | None,
    phone_e164: str,
    locale: str,
    enrolled_via: str,
    start_payload: str | None,
    consent_version: str,
    consented_at: datetime,
) -> Member:
    """A member on the entry tier with no points, not yet added to the session."""
    member = Member(
        member_number=await _unused_member_number(uow),
        telegram_id=telegram_id,
        locale=locale,
        enrolled_via=enrolled_via,
        tier_id=(await uow.program.entry_tier()).id,
        tier_since=now,
        start_payload=clean_start_payload(start_payload),
        consent_version=consent_version,
        consented_at=consented_at,
        points_balance=0,
        created_at=now,
        updated_at=now,
    )
    uow.members.set_phone(member, phone_e164)
    return member


@contextlib.asynccontextmanager
async def _unique_or_conflict(uow: UnitOfWork) -> AsyncIterator[None]:
    # Two enrolments of one phone (till and chat at the same instant, or a double tap) race past
    # the lookups above; the unique constraints decide, and the loser gets a domain error.
    try:
        yield
    except IntegrityError as exc:
        await uow.rollback()
        raise AlreadyRegistered("a member with this phone number or chat already exists") from exc


async def member_for_chat(uow: UnitOfWork, telegram_id: int) -> Member | None:
    return await uow.members.by_telegram_id(telegram_id)


async def set_birthday(uow: UnitOfWork, clock: Clock, settings: Settings, member: Member, raw: str) -> Member:
    now = clock.now()
    birthday = parse_birthday(raw, now.date())
    member = await uow.lock_member(member.id)
    uow.members.set_birthday(member, birthday)
    member.updated_at = now
    await _bonus_if_profile_complete(uow, settings, member, now)
    await uow.commit()
    return member


async def set_city(uow: UnitOfWork, clock: Clock, settings: Settings, member: Member, raw: str) -> Member:
    city = clean_city(raw)
    member = await uow.lock_member(member.id)
    member.city = city
    member.updated_at = clock.now()
    await _bonus_if_profile_complete(uow, settings, member, member.updated_at)
    await uow.commit()
    return member


async def _bonus_if_profile_complete(uow: UnitOfWork, settings: Settings, member: Member, now: datetime) -> None:
    if member.birthday_month is not None and member.city is not None:
        await grant_event_bonus(uow, settings, member, event="profile_complete", now=now, actor="chat")


def clean_first_name(raw: str | None) -> str | None:
    """A Telegram first name as kept: trimmed, at most FIRST_NAME_MAX characters (Telegram's own
    limit), without control characters; None when nothing is left."""
    if not raw:
        return None
    name = "".join(ch for ch in raw if ch.isprintable()).strip()[:FIRST_NAME_MAX].strip()
    return name or None


async def note_first_name(uow: UnitOfWork, clock: Clock, member: Member, raw: str | None) -> None:
    """Keep the first name a member writes under, if it changed since it was last kept; commits
    only then. A member with no name on Telegram keeps the one they had."""
    name = clean_first_name(raw)
    if name is None or uow.members.first_name_of(member) == name:
        return
    member = await uow.lock_member(member.id)
    if uow.members.set_first_name(member, name):
        member.updated_at = clock.now()
        await uow.commit()


def note_time_zone(member: Member, zone: str, now: datetime) -> None:
    """Remember the time zone a member was last seen in (that of the store nearest a location
    they shared), so their quiet hours follow them. No commit: the caller's transaction."""
    if member.timezone != zone:
        member.timezone = zone
        member.updated_at = now


async def set_locale(uow: UnitOfWork, clock: Clock, member: Member, locale: str) -> Member:
    member.locale = check_locale(locale)
    member.updated_at = clock.now()
    await uow.commit()
    return member


async def set_chat_reachable(
    uow: UnitOfWork, clock: Clock, telegram_id: int, *, reachable: bool
) -> Member | None:
    """Record that a member blocked (or unblocked) the bot; their data stays."""
    member = await uow.members.by_telegram_id(telegram_id)
    if member is None:
        return None
    blocked = None if reachable else clock.now()
    if (member.chat_blocked_at is None) != (blocked is None):
        member.chat_blocked_at = blocked
        member.updated_at = clock.now()
        await uow.commit()
        log.info("member %s %s the bot", member.member_number, "unblocked" if reachable else "blocked")
    return member


async def find_member(
    uow: UnitOfWork,
    *,
    member_number: str | None = None,
    phone_e164: str | None = None,
    telegram_id: int | None = None,
    lock: bool = False,
    include_erased: bool = False,
) -> Member:
    """`lock=True` also takes the member's lock (see UnitOfWork.lock_member) in the same query.

    A member whose data was erased is MemberErased (a phone or chat finds them no more), unless
    `include_erased`: only erasure itself, which answers a repeat with its first outcome."""
    if member_number is not None:
        member = await uow.members.by_number(member_number, lock=lock)
    elif phone_e164 is not None:
        member = await uow.members.by_phone(phone_e164, lock=lock)
    elif telegram_id is not None:
        member = await uow.members.by_telegram_id(telegram_id, lock=lock)
    else:
        raise ValueError("find_member needs one identifier")
    if member is None:
        raise MemberNotFound("no such member")
    if member.erased_at is not None and not include_erased:
        raise MemberErased("this member's data was erased")
    return member


# --- reads by staff and API keys, audited -------------------------------------------------------
# Who read which member is part of the audit trail, as what they changed is: one event per read,
# naming how the member was found but never the phone it was found by. Each read commits its event.


async def read_member(uow: UnitOfWork, clock: Clock, member_number: str, *, actor: str) -> Member:
    """The member with this number; the read is audited under `actor`."""
    member = await find_member(uow, member_number=member_number)
    await record_member_read(uow, clock, actor=actor, member_id=member.id, what="by member number")
    return member


async def look_up_member(
    uow: UnitOfWork, clock: Clock, *, actor: str, phone_e164: str | None = None, telegram_id: int | None = None
) -> Member | None:
    """The member with this phone or chat, or None; the lookup is audited either way, saying how
    the member was looked up, never the phone itself."""
    try:
        member: Member | None = await find_member(uow, phone_e164=phone_e164, telegram_id=telegram_id)
    except MemberNotFound:
        member = None
    how = "lookup by phone" if phone_e164 is not None else "lookup by telegram_id"
    await record_member_read(
        uow, clock, actor=actor, member_id=member.id if member else None, what=how if member else f"{how}: no match"
    )
    return member


async def list_members(
    uow: UnitOfWork, clock: Clock, *, page: int, page_size: int, actor: str
) -> tuple[Sequence[Member], int]:
    """A page of members (those not erased), oldest first; the event names the numbers read."""
    rows, total = await uow.members.page(offset=(page - 1) * page_size, limit=page_size)
    await record_members_listed(
        uow, clock, actor=actor, page=page, page_size=page_size, numbers=[member.member_number for member in rows]
    )
    return rows, total
