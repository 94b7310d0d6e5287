"""Referrals: a member invites a friend by a link; the friend gets a coupon on joining and the
member a reward once the friend's first qualifying purchase has outlived its hold.

The life of a referral (`referrals.status`):

    joined --(first purchase of at least the minimum)--> qualified --(hold passed)--> rewarded
                                                          |  \\-(refund in the hold)--> voided
                                                          \\-(over a cap when paid)---> capped
    joined, one of a burst --(qualifying purchase)--> held --(approved)--> qualified / rewarded
    (qualified, not yet paid, when the burst is seen) -----^       \\-(rejected)--> rejected
    joined beyond the daily join limit: capped at once (the friend joins, with no coupon)

Guards at sign-up: the link only counts for a member who is new at that moment (a member whose
phone was enrolled at a till before is not: their chat links to that membership); never for
oneself (same chat, same phone); a friend has at most one referrer, the first (unique
`friend_id`). Paying takes the referrer's lock and moves the row with a conditional UPDATE, so
two schedulers pay once, and the caps, counted under that lock, hold.
"""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from db.models import (
    Coupon,
    CouponTemplate,
    LedgerKind,
    Member,
    Notification,
    NotificationKind,
    NotificationStatus,
    Purchase,
    Referral,
    ReferralProgram,
    ReferralStatus,
)
from db.repositories.referrals import Funnel
from db.uow import IntegrityError, UnitOfWork, UnitOfWorkFactory
from loyalty import codes, coupons, ledger
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import (
    Conflict,
    CouponUnavailable,
    InvalidInput,
    NotFound,
)

log = logging.getLogger(__name__)

PAYLOAD_PREFIX = "ref_"
SHARE_URL = "https://t.me/share/url"
CODE_LENGTH = 8  # 40 random bits: not enumerable like member numbers
CODE_ATTEMPTS = 5
ACTOR = "referral"
PAY_BATCH = 200
MAX_HOLD_DAYS = 365
MAX_CAP = 100_000
MAX_BURST_MINUTES = 24 * 60
MAX_REWARD_POINTS = 10**9
MAX_MIN_PURCHASE_MINOR = 10**11
# What a person may type for a look-alike, as in loyalty/codes.py: O reads as 0, I and L as 1.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class Refusal(enum.StrEnum):
    """Why a referral link did not count at sign-up (templates/messages/*/referrals/refused.j2)."""

    OFF = "off"  # no program, or switched off
    UNKNOWN = "unknown"  # no member has this code
    SELF = "self"  # the friend is the referrer (same chat or same phone)
    EXISTING_MEMBER = "existing_member"  # the phone shared was already a member's
    ALREADY_REFERRED = "already_referred"  # another link counted first


class ReferralNotFound(NotFound):
    code = "referral_not_found"


class ReferralNotHeld(Conflict):
    """Only a held referral can be approved or rejected."""

    code = "referral_not_held"


@dataclass(frozen=True)
class Joined:
    """The outcome of a sign-up by a link: a referral (capped or not) or the refusal."""

    referral: Referral | None
    refused: Refusal | None
    friend_coupon: Coupon | None = None


# --- codes and links -----------------------------------------------------------------------------


def new_referral_code() -> str:
    return "".join(secrets.choice(codes.ALPHABET) for _ in range(CODE_LENGTH))


def code_from_payload(payload: str | None) -> str | None:
    """The referral code of a /start payload (`ref_7KQ4M9XD`), read as Crockford base32 (any
    case, O for 0, I and L for 1); None when the payload is no referral link."""
    if payload is None or not payload.lower().startswith(PAYLOAD_PREFIX):
        return None
    code = payload[len(PAYLOAD_PREFIX) :].upper().translate(_LOOKALIKES)
    if len(code) != CODE_LENGTH or any(symbol not in codes.ALPHABET for symbol in code):
        return None
    return code


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={PAYLOAD_PREFIX}{code}"


def share_link(link: str, pitch: str) -> str:
    """Telegram's share dialog with the invite link and a line about the program: the member
    picks the chats to send it to."""
    return f"{SHARE_URL}?{urlencode({'url': link, 'text': pitch})}"


async def code_for(uow: UnitOfWork, member: Member) -> str:
    """The member's referral code, made and committed on first need."""
    if member.referral_code is not None:
        return member.referral_code
    for _ in range(CODE_ATTEMPTS):
        code = new_referral_code()
        if await uow.referrals.code_taken(code):
            continue
        member.referral_code = code
        try:
            await uow.commit()
        except IntegrityError:  # the same code drawn at the same moment elsewhere
            await uow.rollback()
            member = await uow.lock_member(member.id)
            if member.referral_code is not None:
                return member.referral_code
            continue
        return code
    raise RuntimeError(f"no unused referral code in {CODE_ATTEMPTS} tries")


# --- the program's terms -------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """What the merchant sets; coupon templates by their codes."""

    active: bool
    friend_coupon: str | None = None
    reward_points: int = 0
    reward_coupon: str | None = None
    min_purchase_minor: int = 0
    hold_days: int = 14
    monthly_cap: int | None = None
    total_cap: int | None = None
    burst_size: int = 3
    burst_minutes: int = 10
    daily_join_limit: int = 10


async def current_terms(uow: UnitOfWork) -> Terms | None:
    program = await uow.referrals.program()
    if program is None:
        return None
    return Terms(
        active=program.active,
        friend_coupon=await _template_code(uow, program.friend_template_id),
        reward_points=program.reward_points,
        reward_coupon=await _template_code(uow, program.reward_template_id),
        min_purchase_minor=program.min_purchase_minor,
        hold_days=program.hold_days,
        monthly_cap=program.monthly_cap,
        total_cap=program.total_cap,
        burst_size=program.burst_size,
        burst_minutes=program.burst_minutes,
        daily_join_limit=program.daily_join_limit,
    )


def check_terms(terms: Terms) -> None:
    """Refuse terms that make no sense (InvalidInput naming the field), before anything is read."""
    _within(terms.reward_points, "reward_points", 0, MAX_REWARD_POINTS)
    _within(terms.min_purchase_minor, "min_purchase_minor", 0, MAX_MIN_PURCHASE_MINOR)
    _within(terms.hold_days, "hold_days", 0, MAX_HOLD_DAYS)
    _within(terms.burst_size, "burst_size", 2, MAX_CAP)
    _within(terms.burst_minutes, "burst_minutes", 1, MAX_BURST_MINUTES)
    _within(terms.daily_join_limit, "daily_join_limit", 1, MAX_CAP)
    if terms.monthly_cap is not None:
        _within(terms.monthly_cap, "monthly_cap", 0, MAX_CAP)
    if terms.total_cap is not None:
        _within(terms.total_cap, "total_cap", 0, MAX_CAP)
    if terms.active and terms.reward_points == 0 and terms.reward_coupon is None:
        raise InvalidInput("an active program rewards the referrer with points or a coupon", field="reward_points")


async def set_terms(uow: UnitOfWork, clock: Clock, terms: Terms, *, actor: str) -> Terms:
    """Replace the program's terms (audited); commits. Unknown coupon templates are a 422."""
    check_terms(terms)
    friend_template = await _template_id(uow, terms.friend_coupon, "friend_coupon")
    reward_template = await _template_id(uow, terms.reward_coupon, "reward_coupon")
    now = clock.now()
    program = await uow.referrals.program() or ReferralProgram()
    program.active = terms.active
    program.friend_template_id = friend_template
    program.reward_points = terms.reward_points
    program.reward_template_id = reward_template
    program.min_purchase_minor = terms.min_purchase_minor
    program.hold_days = terms.hold_days
    program.monthly_cap = terms.monthly_cap
    program.total_cap = terms.total_cap
    program.burst_size = terms.burst_size
    program.burst_minutes = terms.burst_minutes
    program.daily_join_limit = terms.daily_join_limit
    program.updated_at = now
    uow.referrals.save_program(program)
    uow.audit.record(at=now, actor=actor, action="referral_program.set", detail=_describe(terms))
    await uow.commit()
    return terms


# --- sign-up by a link ---------------------------------------------------------------------------


async def link_opened(uow: UnitOfWork, clock: Clock, payload: str | None) -> None:
    """Someone not yet a member opened an invite link: counted for the report's "invited"
    (nothing about them is kept). Commits."""
    code = code_from_payload(payload)
    if code is None:
        return
    program = await uow.referrals.program()
    referrer = await uow.referrals.referrer_by_code(code)
    if program is None or not program.active or referrer is None:
        return
    uow.referrals.add_open(referrer.id, clock.now())
    await uow.commit()


async def join(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    *,
    friend_id: int,
    payload: str | None,
    linked_existing: bool,
) -> Joined | None:
    """Count a sign-up by a referral link, once the member exists; commits. None: the payload is
    no referral link. The sign-up itself stands whatever this decides."""
    code = code_from_payload(payload)
    if code is None:
        return None
    program = await uow.referrals.program()
    if program is None or not program.active:
        return Joined(None, Refusal.OFF)
    referrer = await uow.referrals.referrer_by_code(code)
    if referrer is None or referrer.erased_at is not None:
        return Joined(None, Refusal.UNKNOWN)
    friend = await uow.lock_member(friend_id)
    if _same_person(referrer, friend):
        return Joined(None, Refusal.SELF)
    if linked_existing:
        return Joined(None, Refusal.EXISTING_MEMBER)
    if await uow.referrals.of_friend(friend.id) is not None:
        return Joined(None, Refusal.ALREADY_REFERRED)
    # The referrer's lock queues their friends' sign-ups, so the counts below are exact.
    referrer = await uow.lock_member(referrer.id)
    now = clock.now()
    over_limit = await uow.referrals.joins_since(referrer.id, now - timedelta(days=1)) >= program.daily_join_limit
    burst_since = now - timedelta(minutes=program.burst_minutes)
    burst = not over_limit and (
        await uow.referrals.joins_since(referrer.id, burst_since, statuses=_IN_PLAY) + 1 >= program.burst_size
    )
    referral = Referral(
        referrer_id=referrer.id,
        friend_id=friend.id,
        status=ReferralStatus.CAPPED if over_limit else ReferralStatus.JOINED,
        suspicious=burst,
        joined_at=now,
        settled_at=now if over_limit else None,
        reward_points=0,
    )
    try:
        await uow.referrals.add(referral)
    except IntegrityError:  # another link of theirs counted at the same moment: the first wins
        await uow.rollback()
        return Joined(None, Refusal.ALREADY_REFERRED)
    if burst:
        await uow.referrals.mark_suspicious(referrer.id, burst_since)
    gift = None
    if not over_limit and program.friend_template_id is not None:
        gift = await _issue(
            uow, friend, program.friend_template_id, now=now, settings=settings, key=f"referral:{friend.id}"
        )
        referral.friend_coupon_id = gift.id if gift else None
    if not over_limit:
        _notify(uow, referrer, NotificationKind.REFERRAL_JOINED, {"referral_id": referral.id}, now)
    await uow.commit()
    log.info(
        "member %s joined by member %s's link: %s%s",
        friend.member_number, referrer.member_number, referral.status, " (burst)" if burst else "",
    )
    return Joined(referral, None, gift)


# --- purchases and refunds (called by loyalty/purchases.py inside its transaction) ---------------


async def purchase_recorded(uow: UnitOfWork, member: Member, purchase: Purchase, *, now: datetime) -> None:
    """A referred friend's first purchase of at least the minimum starts the hold (or, for one of
    a burst, waits for review). No commit."""
    referral = await uow.referrals.of_friend(member.id)
    if referral is None or referral.status != ReferralStatus.JOINED:
        return
    program = await uow.referrals.program()
    if program is None or not program.active or purchase.amount_minor < program.min_purchase_minor:
        return
    await uow.referrals.move(
        referral.id,
        before=[ReferralStatus.JOINED],
        after=ReferralStatus.HELD if referral.suspicious else ReferralStatus.QUALIFIED,
        purchase_id=purchase.id,
        qualified_at=now,
        hold_until=now + timedelta(days=program.hold_days),
    )


async def refund_recorded(uow: UnitOfWork, purchase: Purchase, *, now: datetime) -> None:
    """A refund within the hold that takes the qualifying purchase below the minimum voids the
    referral (a partial refund that leaves enough keeps it). No commit."""
    referral = await uow.referrals.for_purchase(purchase.id)
    if referral is None or referral.hold_until is None or now >= referral.hold_until:
        return
    program = await uow.referrals.program()
    minimum = max(program.min_purchase_minor if program else 0, 1)
    if purchase.amount_minor - purchase.refunded_minor >= minimum:
        return
    await uow.referrals.move(
        referral.id, before=[ReferralStatus.QUALIFIED, ReferralStatus.HELD], after=ReferralStatus.VOIDED,
        settled_at=now,
    )


# --- paying ---------------------------------------------------------------------------------------


async def pay_due(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> dict[str, int]:
    """The scheduler's sweep: every qualified referral whose hold has passed, paid or capped,
    each in its own transaction. Idempotent; two processes running it pay each once."""
    report = {"rewarded": 0, "capped": 0}
    while True:
        async with uow_factory() as uow:
            due = await uow.referrals.due(clock.now(), limit=PAY_BATCH)
            await uow.rollback()
        settled = 0
        for referral_id in due:
            async with uow_factory() as uow:
                outcome = await pay(uow, clock, settings, referral_id)
            if outcome is not None:
                report[outcome] += 1
                settled += 1
        if len(due) < PAY_BATCH or settled == 0:
            return report


async def pay(uow: UnitOfWork, clock: Clock, settings: Settings, referral_id: int) -> str | None:
    """Reward (or cap) one qualified referral whose hold has passed; commits. None: nothing to do
    (not due, already settled by another process, the referrer blocked)."""
    now = clock.now()
    referral = await uow.referrals.get(referral_id)
    if referral is None or referral.status != ReferralStatus.QUALIFIED or referral.hold_until is None:
        return None
    if referral.hold_until > now:
        return None
    referrer = await uow.lock_member(referral.referrer_id)
    program = await uow.referrals.program()
    if program is None or referrer.blocked_at is not None:
        return None  # waits: a blocked member earns nothing until unblocked
    if referrer.erased_at is not None or await _over_cap(uow, program, referrer.id, now, settings):
        moved = await uow.referrals.move(
            referral.id, before=[ReferralStatus.QUALIFIED], after=ReferralStatus.CAPPED, settled_at=now
        )
        await uow.commit()
        return ReferralStatus.CAPPED.value if moved else None
    points = program.reward_points
    if not await uow.referrals.move(
        referral.id, before=[ReferralStatus.QUALIFIED], after=ReferralStatus.REWARDED,
        settled_at=now, reward_points=points,
    ):
        await uow.rollback()
        return None
    if points > 0:
        await ledger.credit(
            uow, referrer, points=points, kind=LedgerKind.BONUS, at=now,
            expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
            actor=ACTOR, reason=f"referral {referral.id}",
        )
    gift = None
    if program.reward_template_id is not None:
        gift = await _issue(
            uow, referrer, program.reward_template_id, now=now, settings=settings, key=f"referral-reward:{referral.id}"
        )
        if gift is not None:
            await uow.referrals.set_reward_coupon(referral.id, gift.id)
    _notify(
        uow, referrer, NotificationKind.REFERRAL_REWARDED,
        {"referral_id": referral.id, "points": points, "balance": referrer.points_balance,
         "coupon_id": gift.id if gift else None},
        now,
    )
    await uow.commit()
    log.info("referral %s: member %s rewarded %d points", referral.id, referrer.member_number, points)
    return ReferralStatus.REWARDED.value


async def review(
    uow: UnitOfWork, clock: Clock, settings: Settings, referral_id: int, *, approve: bool, actor: str
) -> Referral:
    """A person's decision on a held referral: approved, it is paid once its hold has passed
    (at once if it has); rejected, it is settled unpaid. Audited; commits."""
    now = clock.now()
    referral = await uow.referrals.get(referral_id)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    after = ReferralStatus.QUALIFIED if approve else ReferralStatus.REJECTED
    values: dict[str, Any] = {} if approve else {"settled_at": now}
    if not await uow.referrals.move(referral.id, before=[ReferralStatus.HELD], after=after, **values):
        raise ReferralNotHeld(f"referral {referral_id} is {referral.status}, not held")
    uow.audit.record(
        at=now, actor=actor, action="referral.approve" if approve else "referral.reject",
        member_id=referral.referrer_id, detail=f"referral {referral.id}",
    )
    await uow.commit()
    if approve:
        await pay(uow, clock, settings, referral.id)
    found = await uow.referrals.get(referral.id)
    assert found is not None
    return found


async def list_referrals(
    uow: UnitOfWork, status: str | None, *, page: int, page_size: int
) -> tuple[list[tuple[Referral, str, str]], int]:
    """Referrals newest first, with the referrer's and the friend's member numbers (`held`: the
    ones waiting for review)."""
    return await uow.referrals.listed(status, offset=(page - 1) * page_size, limit=page_size)


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferrerLine:
    member_number: str
    funnel: Funnel


@dataclass(frozen=True)
class Report:
    total: Funnel
    reward_cost_minor: int
    referrers: list[ReferrerLine]
    referrer_count: int


async def report(
    uow: UnitOfWork, settings: Settings, *, start: datetime, end: datetime, page: int, page_size: int
) -> Report:
    """The funnel of the referrals that joined in [start, end): in all and per referrer (most
    friends first, a page of them), with what the rewards cost and what the friends bought."""
    if end <= start:
        raise InvalidInput("end is not after start", field="end")
    total = await uow.referrals.funnel(start, end)
    top, count = await uow.referrals.top_referrers(start, end, offset=(page - 1) * page_size, limit=page_size)
    lines = [ReferrerLine(number, await uow.referrals.funnel(start, end, referrer_id=rid)) for rid, number in top]
    return Report(total, reward_cost(total, settings), lines, count)


def reward_cost(funnel: Funnel, settings: Settings) -> int:
    """Points at POINT_COST_MINOR each, plus the face value of coupons worth money, in minor units."""
    return int(funnel.reward_points * settings.point_cost_minor) + funnel.reward_coupon_value_minor


# --- helpers --------------------------------------------------------------------------------------

# The statuses of a referral that may still be paid: a burst is counted among these.
_IN_PLAY = (ReferralStatus.JOINED, ReferralStatus.QUALIFIED, ReferralStatus.HELD, ReferralStatus.REWARDED)


def _same_person(referrer: Member, friend: Member) -> bool:
    if referrer.id == friend.id:
        return True
    if referrer.telegram_id is not None and referrer.telegram_id == friend.telegram_id:
        return True
    return referrer.phone_index is not None and referrer.phone_index == friend.phone_index


async def _over_cap(uow: UnitOfWork, program: ReferralProgram, referrer_id: int, now: datetime, settings: Settings) -> bool:
    if program.total_cap is not None and await uow.referrals.rewarded_count(referrer_id) >= program.total_cap:
        return True
    if program.monthly_cap is None:
        return False
    local = now.astimezone(settings.zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return await uow.referrals.rewarded_count(referrer_id, since=month_start) >= program.monthly_cap


async def _issue(
    uow: UnitOfWork, member: Member, template_id: int, *, now: datetime, settings: Settings, key: str
) -> Coupon | None:
    template: CouponTemplate | None = await uow.coupons.template(template_id)
    if template is None:
        return None
    try:
        issued = await coupons.issue_locked(
            uow, member, template, now=now, zone=settings.zone, source="referral", issue_key=key,
            per_member_limit=False,
        )
    except CouponUnavailable as refusal:
        log.info("no referral coupon %s for member %s: %s", template.code, member.member_number, refusal.reason)
        return None
    return issued.coupon


def _notify(uow: UnitOfWork, member: Member, kind: NotificationKind, payload: dict[str, Any], now: datetime) -> None:
    uow.notifications.add(
        Notification(
            member_id=member.id, kind=kind, payload=payload, status=NotificationStatus.PENDING, created_at=now
        )
    )


async def _template_code(uow: UnitOfWork, template_id: int | None) -> str | None:
    if template_id is None:
        return None
    template = await uow.coupons.template(template_id)
    return template.code if template else None


async def _template_id(uow: UnitOfWork, code: str | None, field: str) -> int | None:
    if code is None:
        return None
    template = await uow.coupons.template_by_code(code)
    if template is None:
        raise InvalidInput(f"no coupon template {code!r}", field=field)
    return template.id


def _within(value: int, field: str, least: int, most: int) -> None:
    if isinstance(value, bool) or not least <= value <= most:
        raise InvalidInput(f"{field} is between {least} and {most}", field=field)


def _describe(terms: Terms) -> str:
    return ", ".join(f"{name}={value}" for name, value in vars(terms).items())

