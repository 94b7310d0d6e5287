"""What a notification says, in value terms for this member, ready for a template.

Written as rows in the transaction that caused them (a purchase, a tier change, a sweep owing a
nudge); the bot process sends them. The context is built at send time so "enough for 2 × Latte"
reflects the catalogue, the member's points and the member's language when the message goes
out, and a nudge whose reason went away meanwhile (the coupon used, the points spent, the tier
safe again, the member back) is skipped instead of sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from db.models import Member, Notification, NotificationKind, Tier
from db.uow import UnitOfWork
from loyalty import coupons, geofence, ledger, rewards, tiers
from loyalty.config import Settings
from loyalty.i18n import localized
from loyalty.nudges.delivery import gift_key
from loyalty.quiet_hours import member_zone

Context = dict[str, Any]
# Points (and tiers) last until an instant, the first one they no longer count; people read
# the day before it as the last day.
LAST_MOMENT = timedelta(microseconds=1)
MAX_BUYS = 2
PAYLOAD_PRECISION = timedelta(seconds=1)  # timestamps in sweep payloads are whole seconds


async def message_context(
    uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime, settings: Settings
) -> Context | None:
    """The template's variables, or None when the message has nothing left to say (the coupons
    it was about were used or ended meanwhile, ...): it is then skipped, not sent."""
    build = _BUILDERS.get(notification.kind)
    context: Context = {**notification.payload}
    if build is None:
        return context
    extra = await build(uow, notification, member, now, settings)
    return None if extra is None else {**context, **extra}


# --- receipts ------------------------------------------------------------------------------------


async def _points_earned(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context:
    return {"buys": await _buys(uow, member, int(notification.payload["balance"]), now=now)}


async def _tier_changed(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context:
    payload, locale = notification.payload, member.locale
    ladder = {tier.code: tier for tier in await uow.program.tiers()}
    new: Tier | None = ladder.get(payload["new"])
    old: Tier | None = ladder.get(payload["old"])
    gifts = await coupons.still_usable(
        uow, member, payload.get("coupon_ids", []), now=now, zone=member_zone(member, settings)
    )
    return {
        "tier": localized(new.names, locale) if new else payload["new"],
        "old_tier": localized(old.names, locale) if old else payload["old"],
        "benefits": _benefits(new, locale),
        "coupons": await coupons.describe(uow, gifts, locale),
    }


async def _coupon_nearby(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    payload = notification.payload
    store = await uow.program.store(int(payload["store_id"]))
    zone = member_zone(member, settings)
    usable = await coupons.still_usable(uow, member, payload["coupon_ids"], now=now, zone=zone)
    if store is None or not store.active or not usable:
        return None
    return {
        "store": {"id": store.id, "name": store.name, "address": store.address or store.city or ""},
        "distance": payload["distance_m"],
        "coupons": await coupons.describe(uow, usable, member.locale),
    }


# --- nudges --------------------------------------------------------------------------------------


async def _points_expiring(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """What still expires by the warned moment (spending takes the soonest-expiring points
    first, so what was spent since is not counted), and what it buys this member. When it buys
    nothing on its own, what it buys together with the rest of their points."""
    expires_at = _instant(notification.payload["expires_at"])
    if expires_at <= now:
        return None
    schedule = await ledger.expiry_schedule(uow, member.id, at=now)
    expiring = sum(lot.points for lot in schedule if lot.expires_at <= expires_at)
    if expiring <= 0:
        return None
    available = await ledger.available(uow, member.id, at=now)
    buys = await _buys(uow, member, expiring, now=now)
    together = not buys and available > expiring
    return {
        "points": expiring,
        "expires_on": last_day(expires_at, settings.zone),
        "buys": buys,
        "balance": available,
        "balance_buys": await _buys(uow, member, available, now=now) if together else [],
    }


async def _coupon_expiring(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    zone = member_zone(member, settings)
    coupon_id = int(notification.payload["coupon_id"])
    usable = await coupons.still_usable(uow, member, [coupon_id], now=now, zone=zone)
    if not usable:
        return None
    [coupon] = await coupons.describe(uow, usable, member.locale)
    days_left = (coupon["valid_until"] - coupons.local_day(now, zone)).days
    return {"coupon": coupon, "days_left": days_left}


async def _coupon_issued(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """The coupon as it is when the message goes: none left to announce if already used."""
    usable = await coupons.still_usable(
        uow, member, [int(notification.payload["coupon_id"])], now=now, zone=member_zone(member, settings)
    )
    if not usable:
        return None
    [coupon] = await coupons.describe(uow, usable, member.locale)
    return {"coupon": coupon}


async def _greeting(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context:
    """Birthday and anniversary: the member's tier and its gift, if one was issued for it."""
    tier = await uow.program.tier(member.tier_id)
    return {
        "tier": localized(tier.names, member.locale) if tier else "",
        "gift": await _gift(uow, notification, member, now=now, settings=settings),
    }


async def _tier_at_risk(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """What keeps the tier and by when, and what losing it would take away: the benefits of
    this tier the one below does not have. Nothing to say once the member is in another tier
    or qualifies again."""
    ladder = await uow.program.tiers()
    current = next((tier for tier in ladder if tier.id == member.tier_id), None)
    if current is None or current.code != notification.payload["tier"]:
        return None
    progress = await tiers.tier_progress(uow, member, now=now, settings=settings)
    if not progress.at_risk or progress.keep_by is None:
        return None
    below = [tier for tier in ladder if tier.rank < current.rank]
    lower = max(below, key=lambda tier: tier.rank) if below else None
    keeps = set(_benefits(lower, member.locale))
    return {
        "tier": localized(current.names, member.locale),
        "keep_spend": progress.keep_spend_minor,
        "keep_visits": progress.keep_visits,
        "keep_by": progress.keep_by.astimezone(settings.zone).date(),
        "currency": settings.currency,
        "lose": [benefit for benefit in _benefits(current, member.locale) if benefit not in keeps],
    }


async def _near_upgrade(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """What the next tier still takes and what it gives. Nothing to say once the member got
    there (or the ladder changed so that tier is no longer next)."""
    progress = await tiers.tier_progress(uow, member, now=now, settings=settings)
    target = progress.next_tier
    if target is None or target.code != notification.payload["tier"] or not progress.spend_to_next_minor:
        return None
    return {
        "tier": localized(target.names, member.locale),
        "spend_to_next": progress.spend_to_next_minor,
        "visits_to_next": progress.visits_to_next,
        "currency": settings.currency,
        "gains": _benefits(target, member.locale),
    }


async def _win_back(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """Asked back since their last purchase, with the offer coupon if there is one; nothing to
    say once they bought something again."""
    raw = notification.payload.get("last_purchase_at")
    last = _instant(raw) if raw else None
    # The payload's time is cut to the second: the purchase it names lies within that second.
    if last is not None and await uow.purchases.purchased_since(member.id, last + PAYLOAD_PRECISION):
        return None
    return {
        "since": last.astimezone(member_zone(member, settings)).date() if last else None,
        "offer": await _gift(uow, notification, member, now=now, settings=settings),
    }


async def _feedback_asked(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """The survey's store, by name; nothing to ask once it was answered."""
    survey = await uow.feedback.survey(int(notification.payload["survey_id"]))
    if survey is None or survey.score is not None:
        return None
    store = await uow.program.store(survey.store_id) if survey.store_id is not None else None
    return {"store_name": store.name if store else None, "program": settings.program_name}


Builder = Callable[
    [UnitOfWork, Notification, Member, datetime, Settings], Awaitable[Context | None]
]
async def _card(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context:
    # Read when sent, not when asked for: the card shows the points and tier of that moment.
    tier = next(tier for tier in await uow.program.tiers() if tier.id == member.tier_id)
    return {
        "program": settings.program_name, "member_number": member.member_number,
        "tier": localized(tier.names, member.locale), "points": member.points_balance,
    }


async def _referral(
    uow: UnitOfWork, notification: Notification, member: Member, now: datetime, settings: Settings
) -> Context | None:
    """News of a friend the member invited: the friend's first name (read now: an erased friend
    has none), and for a reward what the points buy and the coupon, while usable."""
    referral = await uow.referrals.get(int(notification.payload["referral_id"]))
    if referral is None:
        return None
    friend = await uow.members.by_id(referral.friend_id)
    context: Context = {"friend": (uow.members.first_name_of(friend) if friend else None) or ""}
    if notification.kind == NotificationKind.REFERRAL_REWARDED:
        coupon_id = notification.payload.get("coupon_id")
        usable = await coupons.still_usable(
            uow, member, [int(coupon_id)] if coupon_id else [], now=now, zone=member_zone(member, settings)
        )
        described = await coupons.describe(uow, usable, member.locale)
        context["buys"] = await _buys(uow, member, int(notification.payload["balance"]), now=now)
        context["coupon"] = described[0] if described else None
    return context


_BUILDERS: dict[str, Builder] = {
    NotificationKind.REFERRAL_JOINED: _referral,
    NotificationKind.REFERRAL_REWARDED: _referral,
    NotificationKind.CARD: _card,
    "points_earned": _points_earned,
    NotificationKind.COUPON_ISSUED: _coupon_issued,
    "tier_upgraded": _tier_changed,
    "tier_downgraded": _tier_changed,
    geofence.KIND: _coupon_nearby,
    "points_expiring": _points_expiring,
    "coupon_expiring": _coupon_expiring,
    "birthday": _greeting,
    "anniversary": _greeting,
    "tier_at_risk": _tier_at_risk,
    "win_back": _win_back,
    "near_upgrade": _near_upgrade,
    NotificationKind.FEEDBACK_ASKED: _feedback_asked,
}


# --- helpers -------------------------------------------------------------------------------------


async def _buys(uow: UnitOfWork, member: Member, points: int, *, now: datetime) -> list[Context]:
    buys = await rewards.what_points_buy(uow, member, points, now=now, limit=MAX_BUYS)
    locale = member.locale
    return [{"name": localized(item.reward.names, locale), "count": item.quantity} for item in buys]


async def _gift(
    uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime, settings: Settings
) -> Context | None:
    """The gift coupon issued for this nudge (delivery.prepare), while it is still usable."""
    key = gift_key(notification)
    coupon = await uow.coupons.by_issue_key(key) if key else None
    if coupon is None:
        return None
    zone = member_zone(member, settings)
    usable = await coupons.still_usable(uow, member, [coupon.id], now=now, zone=zone)
    described = await coupons.describe(uow, usable, member.locale)
    return described[0] if described else None


def _benefits(tier: Tier | None, locale: str) -> list[str]:
    if tier is None:
        return []
    return list(tier.benefits.get(locale) or tier.benefits.get("en") or [])


def _instant(raw: str) -> datetime:
    """An ISO timestamp from a payload; one without a zone is UTC."""
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def last_day(until: datetime, zone: ZoneInfo) -> date:
    """The last day something valid until the instant `until` can be used, read in `zone`."""
    return (until - LAST_MOMENT).astimezone(zone).date()
