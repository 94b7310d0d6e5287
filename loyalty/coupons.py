"""Coupons: templates (a campaign's offer) and the coupons issued from them to members.

Validity is counted in calendar days, and a day is read where the coupon is used: a coupon valid
until 30 November is still good at a London store at 23:00 London time, when Shanghai is
already in December. Issuing uses the program's time zone for "the day of issue".

A coupon is redeemed by a till with one conditional UPDATE (issued -> used), so two tills
redeeming the same code at the same instant get exactly one success; the loser is told it was
used. A till retrying the same order gets the first answer again instead of a refusal.

Issuing takes the member's lock, so the per-member limit holds under concurrency, and a
template's total quantity is taken with a conditional UPDATE like a reward's stock.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from db.models import (
    Coupon,
    CouponKind,
    CouponStatus,
    CouponTemplate,
    LedgerKind,
    Member,
    Notification,
    NotificationKind,
    NotificationStatus,
    Store,
    Tier,
)
from db.uow import IntegrityError, UnitOfWork
from loyalty import codes, earning, ledger
from loyalty.blocking import refuse_if_blocked
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import (
    CouponNotFound,
    CouponNotUsable,
    CouponTemplateExists,
    CouponTemplateNotFound,
    CouponUnavailable,
    IdempotencyConflict,
    InvalidInput,
    UnknownStore,
)
from loyalty.fields import image_url, texts_by_locale, tier_rank, whole_number
from loyalty.i18n import localized
from loyalty.idempotency import fingerprint
from loyalty.money import MAX_ORDER_MINOR, accept_amount, in_program_currency
from loyalty.rewards import tier_for_rank
from loyalty.stores import CITY_MAX_LENGTH

log = logging.getLogger(__name__)

KINDS = tuple(CouponKind)
AUTO_ISSUE = ("signup", "tier", "birthday", "anniversary", "win_back")
SOURCES = ("signup", "tier", "api", "reward", "campaign", "birthday", "anniversary", "win_back", "referral")
TEMPLATE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
CODE_PREFIX = "CP"
CODE_ATTEMPTS = 5
NAME_MAX_LENGTH = 80
DESCRIPTION_MAX_LENGTH = 1000
MAX_MONEY_MINOR = MAX_ORDER_MINOR
MAX_VALID_DAYS = 3660
MAX_SCOPE = 500
MAX_QUANTITY = 2**31 - 1
MAX_PER_MEMBER = 1000
ORDER_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
PCT = 100


# --- codes -------------------------------------------------------------------------------------


def new_coupon_code() -> str:
    return codes.new_code(CODE_PREFIX)


def normalize_coupon_code(raw: str) -> str | None:
    return codes.normalize_code(raw, CODE_PREFIX)


# --- what a coupon is worth and where --------------------------------------------------------


def discount_for(template: CouponTemplate, amount_minor: int) -> int:
    """Money off an order of `amount_minor`: never more than the order itself."""
    if template.kind == CouponKind.PERCENT_OFF:
        return amount_minor * template.value // PCT
    if template.kind in (CouponKind.AMOUNT_OFF, CouponKind.FREE_ITEM):
        return min(template.value, amount_minor)
    return 0


def valid_at(template: CouponTemplate, store: Store) -> bool:
    """Whether a coupon of `template` is valid at `store`: listed, in a listed city, or anywhere
    when the template lists neither."""
    if not template.store_ids and not template.cities:
        return True
    if store.id in template.store_ids:
        return True
    city = (store.city or "").casefold()
    return bool(city) and city in {name.casefold() for name in template.cities}


def local_day(moment: datetime, zone: str | ZoneInfo) -> date:
    return moment.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()


def in_window(coupon: Coupon, day: date) -> bool:
    return coupon.valid_from <= day <= coupon.valid_until


def window_for(template: CouponTemplate, issued_on: date) -> tuple[date, date]:
    """The days a coupon issued on `issued_on` is valid: from the later of the issue day and the
    template's start to the earlier of its fixed end and `valid_days` after issue."""
    start = max(issued_on, template.valid_from) if template.valid_from else issued_on
    ends = [day for day in (template.valid_until,) if day is not None]
    if template.valid_days is not None:
        ends.append(issued_on + timedelta(days=template.valid_days))
    return start, min(ends)


@dataclass(frozen=True)
class OwnCoupon:
    coupon: Coupon
    template: CouponTemplate


# --- issuing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    coupon: Coupon
    template: CouponTemplate
    replayed: bool  # the issue key was used before; this is the coupon it issued


async def issue_locked(
    uow: UnitOfWork,
    member: Member,
    template: CouponTemplate,
    *,
    now: datetime,
    zone: ZoneInfo,
    source: str,
    issue_key: str | None = None,
    tiers: Sequence[Tier] | None = None,
    per_member_limit: bool = True,
) -> Issued:
    """Issue one coupon of `template` to a member whose lock the caller holds. No commit.
    Refused (CouponUnavailable) when the template is inactive or over, the member's tier is too
    low, the member has their limit (unless `per_member_limit` is False: a recurring gift,
    limited by its issue key instead), or the quantity is gone."""
    if source not in SOURCES:
        raise ValueError(f"unknown coupon source {source!r}")
    if issue_key is not None:
        earlier = await uow.coupons.by_issue_key(issue_key)
        if earlier is not None:
            if earlier.member_id != member.id or earlier.template_id != template.id:
                raise CouponUnavailable(
                    "this issue key was already used for another coupon", reason="key_reused"
                )
            return Issued(earlier, template, replayed=True)
    today = local_day(now, zone)
    if not template.active:
        raise CouponUnavailable("this coupon template is not active", reason="inactive")
    valid_from, valid_until = window_for(template, today)
    if valid_until < valid_from:
        raise CouponUnavailable("this coupon template's validity has ended", reason="ended")
    if tiers is None:
        tiers = await uow.program.tiers()
    rank = next((tier.rank for tier in tiers if tier.id == member.tier_id), 0)
    if rank < template.min_tier_rank:
        raise CouponUnavailable("the member's tier is too low for this coupon", reason="tier")
    if per_member_limit and await uow.coupons.count_for_member(template.id, member.id) >= template.per_member_limit:
        raise CouponUnavailable(
            f"the member already has {template.per_member_limit} of this coupon", reason="limit"
        )
    if not await uow.coupons.take_one(template.id):
        raise CouponUnavailable("this coupon is all given out", reason="sold_out")
    for _ in range(CODE_ATTEMPTS):
        coupon = Coupon(
            template_id=template.id,
            member_id=member.id,
            code=new_coupon_code(),
            status=CouponStatus.ISSUED,
            source=source,
            issue_key=issue_key,
            issued_at=now,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        # 60 random bits make a code collision all but impossible; the unique constraint decides.
        if await uow.coupons.add(coupon):
            log.info("coupon %s (%s) issued to member %s", coupon.id, template.code, member.member_number)
            return Issued(coupon, template, replayed=False)
        if issue_key is not None and await uow.coupons.by_issue_key(issue_key) is not None:
            raise CouponUnavailable("this issue key was used concurrently", reason="key_reused")
        log.warning("coupon code collision; drawing another")
    raise RuntimeError(f"no unused coupon code in {CODE_ATTEMPTS} tries")


async def issue(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    *,
    member_id: int,
    template_code: str,
    actor: str,
    issue_key: str | None = None,
    source: str = "api",
) -> Issued:
    """Issue a coupon from the API (or a campaign); commits. With `issue_key`, a repeat gets the
    coupon the first call issued."""
    now = clock.now()
    member = await uow.lock_member(member_id)
    template = await find_template(uow, template_code)
    issued = await issue_locked(
        uow, member, template, now=now, zone=settings.zone, source=source, issue_key=issue_key
    )
    if not issued.replayed:
        uow.audit.record(
            at=now, actor=actor, action="coupon.issue", member_id=member.id,
            detail=f"{template.code} as {issued.coupon.code[:7]}…",
        )
        # Being given a coupon is a moment the member should see, in the chat, at once (the
        # notifier drops it when its topic is muted or the member has no chat).
        uow.notifications.add(
            Notification(
                member_id=member.id, kind=NotificationKind.COUPON_ISSUED, payload={"coupon_id": issued.coupon.id},
                status=NotificationStatus.PENDING, created_at=now,
            )
        )
    await uow.commit()
    return issued


async def issue_automatic(
    uow: UnitOfWork,
    member: Member,
    *,
    event: str,
    now: datetime,
    zone: ZoneInfo,
    ranks: tuple[int, int] | None = None,
) -> list[Issued]:
    """The coupons a member earns by an event, each at most once per member: "signup" issues
    every active signup template; "tier" the tier templates whose tier lies in `ranks`
    (old rank excluded, new included) — a member skipping ranks gets each one's. Templates the
    member cannot have (sold out, ended) are skipped and logged: the event still happens.
    The caller holds the member's lock and commits."""
    if event not in AUTO_ISSUE:
        raise ValueError(f"unknown coupon event {event!r}")
    issued = []
    tiers = await uow.program.tiers()
    for template in await uow.coupons.auto_templates(event):
        if event == "tier":
            assert ranks is not None
            if not ranks[0] < template.min_tier_rank <= ranks[1]:
                continue
        try:
            issued.append(
                await issue_locked(
                    uow, member, template, now=now, zone=zone, source=event,
                    issue_key=f"{event}:{member.id}:{template.id}", tiers=tiers,
                )
            )
        except CouponUnavailable as refusal:
            log.info(
                "no %s coupon %s for member %s: %s",
                event, template.code, member.member_number, refusal.reason,
            )
    return [one for one in issued if not one.replayed]


GIFT_EVENTS = ("birthday", "anniversary", "win_back")


def gift_key(event: str, member_id: int, subject: str) -> str:
    """The issue key of the gift a greeting or offer brings: one per event, member and subject
    (the birthday's year, the anniversary's count, the lapse a win-back is about)."""
    return f"{event}:{member_id}:{subject}"


async def issue_gift(
    uow: UnitOfWork, member: Member, *, event: str, subject: str, now: datetime, zone: ZoneInfo
) -> Issued | None:
    """The gift coupon of a birthday, anniversary or win-back nudge, issued exactly once per
    `subject`: a repeat returns the first coupon (replayed), even if the merchant's templates
    changed since. The gift is the best active template for the member's tier (the highest
    `min_tier_rank` the member reaches; the newest of equals); one they cannot have (sold out,
    ended, their limit) gives way to the next best. None: no gift. The caller holds the
    member's lock and commits."""
    if event not in GIFT_EVENTS:
        raise ValueError(f"unknown gift event {event!r}")
    key = gift_key(event, member.id, subject)
    earlier = await uow.coupons.by_issue_key(key)
    if earlier is not None:
        found = await uow.coupons.get(earlier.id)
        assert found is not None
        return Issued(found[0], found[1], replayed=True)
    tiers = await uow.program.tiers()
    rank = next((tier.rank for tier in tiers if tier.id == member.tier_id), 0)
    candidates = [template for template in await uow.coupons.auto_templates(event) if template.min_tier_rank <= rank]
    for template in sorted(candidates, key=lambda template: (template.min_tier_rank, template.id), reverse=True):
        try:
            # Once per occasion (the key), every year: the template's per-member limit, which
            # defaults to 1, would otherwise end a member's birthday gifts after the first.
            return await issue_locked(
                uow, member, template, now=now, zone=zone, source=event, issue_key=key, tiers=tiers,
                per_member_limit=False,
            )
        except CouponUnavailable as refusal:
            log.info(
                "no %s gift %s for member %s: %s",
                event, template.code, member.member_number, refusal.reason,
            )
    return None


def campaign_issue_key(campaign_id: int, member_id: int) -> str:
    """The issue key of a campaign's coupon: one per campaign and member."""
    return f"campaign:{campaign_id}:{member_id}"


async def issue_for_campaign(
    uow: UnitOfWork,
    template: CouponTemplate,
    member_ids: Sequence[int],
    *,
    campaign_id: int,
    now: datetime,
    zone: ZoneInfo,
) -> dict[int, int]:
    """Issue a campaign's coupon to many members at once: {member id: coupon id}. The caller
    commits.

    Idempotent by issue key (campaign_issue_key): a member who already has this campaign's
    coupon keeps it and gets no second one. The template's total quantity holds (taken in one
    conditional UPDATE per batch); members past it, or every member when the template is
    inactive or its validity has ended, get none, which is logged. The merchant chose the
    audience, so neither the template's tier nor its per-member limit applies: a monthly
    member day gives its coupon every month, once per occurrence."""
    keys = {campaign_issue_key(campaign_id, member_id): member_id for member_id in member_ids}
    issued = {keys[key]: coupon_id for key, coupon_id in (await uow.coupons.ids_by_issue_keys(list(keys))).items()}
    wanted = [member_id for member_id in keys.values() if member_id not in issued]
    if not wanted:
        return issued
    valid_from, valid_until = window_for(template, local_day(now, zone))
    if not template.active or valid_until < valid_from:
        log.warning(
            "campaign %s: coupon %s is %s; %s members get none",
            campaign_id, template.code, "inactive" if not template.active else "over", len(wanted),
        )
        return issued
    granted = await uow.coupons.take_up_to(template.id, len(wanted))
    if granted < len(wanted):
        log.warning(
            "campaign %s: coupon %s is all given out; %s members get none",
            campaign_id, template.code, len(wanted) - granted,
        )
    wanted = wanted[:granted]
    for _ in range(CODE_ATTEMPTS):
        if not wanted:
            return issued
        await uow.coupons.add_many(
            [
                {
                    "template_id": template.id,
                    "member_id": member_id,
                    "code": new_coupon_code(),
                    "status": CouponStatus.ISSUED,
                    "source": "campaign",
                    "issue_key": campaign_issue_key(campaign_id, member_id),
                    "issued_at": now,
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                }
                for member_id in wanted
            ]
        )
        # A row skipped by the insert drew a code already taken (60 random bits: all but
        # impossible); those members draw again.
        found = await uow.coupons.ids_by_issue_keys([campaign_issue_key(campaign_id, m) for m in wanted])
        issued.update((keys[key], coupon_id) for key, coupon_id in found.items())
        wanted = [member_id for member_id in wanted if member_id not in issued]
    if wanted:
        raise RuntimeError(f"no unused coupon codes for {len(wanted)} members in {CODE_ATTEMPTS} tries")
    return issued


# --- a member's coupons ------------------------------------------------------------------------


async def usable_coupons(
    uow: UnitOfWork, member: Member, *, now: datetime, zone: ZoneInfo, limit: int | None = None
) -> list[OwnCoupon]:
    """The member's unused coupons that are not over, soonest-ending first. "Over" is judged
    in `zone` (the member's); one that starts later is included, its start shown."""
    rows = await uow.coupons.issued_for_member(member.id, until_from=local_day(now, zone), limit=limit)
    return [OwnCoupon(coupon, template) for coupon, template in rows]


async def member_coupon(uow: UnitOfWork, member: Member, coupon_id: int) -> OwnCoupon:
    """One of the member's own coupons; anyone else's is "not found", never shown."""
    found = await uow.coupons.get(coupon_id)
    if found is None or found[0].member_id != member.id:
        raise CouponNotFound("no such coupon")
    return OwnCoupon(*found)


def usable_at(owned: Sequence[OwnCoupon], store: Store, now: datetime) -> list[OwnCoupon]:
    """Of the member's coupons, those the store would accept today (its own day)."""
    day = local_day(now, store.timezone)
    return [own for own in owned if in_window(own.coupon, day) and valid_at(own.template, store)]


async def describe(uow: UnitOfWork, owned: Sequence[OwnCoupon], locale: str) -> list[dict[str, Any]]:
    """What each coupon is worth and where it works, for a message in `locale`."""
    names: dict[int, list[str]] = {}
    for own in owned:
        template = own.template
        if template.store_ids and template.id not in names:
            names[template.id] = [s.name for s in await uow.program.stores_by_ids(template.store_ids) if s.active]
    return [
        {
            "id": own.coupon.id,
            "name": localized(own.template.names, locale),
            "description": localized(own.template.descriptions, locale) if own.template.descriptions else "",
            "kind": own.template.kind,
            "value": own.template.value,
            "currency": own.template.currency,
            "min_spend": own.template.min_spend_minor,
            "valid_from": own.coupon.valid_from,
            "valid_until": own.coupon.valid_until,
            "stores": names.get(own.template.id, []),
            "cities": list(own.template.cities),
        }
        for own in owned
    ]


async def still_usable(uow: UnitOfWork, member: Member, coupon_ids: Iterable[int], *, now: datetime, zone: ZoneInfo) -> list[OwnCoupon]:
    """Of these coupons, the member's own that are still usable: for a message written earlier
    and sent now."""
    wanted = set(coupon_ids)
    return [own for own in await usable_coupons(uow, member, now=now, zone=zone) if own.coupon.id in wanted]


# --- redeeming at the till ----------------------------------------------------------------------


@dataclass(frozen=True)
class RedeemRequest:
    code: str
    store_code: str
    order_id: str
    amount_minor: int
    currency: str
    member_number: str | None = None  # the card shown with it, when the till scanned one


@dataclass(frozen=True)
class Redeemed:
    coupon: Coupon
    template: CouponTemplate
    member_number: str
    store_code: str
    discount_minor: int
    bonus_points: int
    replayed: bool  # the same order already redeemed it: this is the first answer again


async def redeem(
    uow: UnitOfWork, clock: Clock, settings: Settings, request: RedeemRequest, *, actor: str
) -> Redeemed:
    """A till redeems a coupon against an order; commits. Every refusal says why."""
    now = clock.now()
    if not ORDER_ID.match(request.order_id):
        raise InvalidInput("an order id is 1-64 printable characters without spaces", field="order_id")
    out_of_range = f"the order amount is 1 to {MAX_MONEY_MINOR:,} minor units"
    accept_amount(
        request.amount_minor, request.currency, settings.currency,
        too_small=out_of_range, too_large=out_of_range, most=MAX_MONEY_MINOR,
    )
    store = await uow.program.store_by_code(request.store_code)
    if store is None or not store.active:
        raise UnknownStore(f"no active store {request.store_code!r}", field="store")
    normal = normalize_coupon_code(request.code)
    found = await uow.coupons.by_code(normal) if normal is not None else None
    if found is None:
        raise CouponNotFound("no coupon with this code")
    coupon, template, owner = found
    # What makes a repeat of a store's order a replay: the same amount. The code is compared as
    # stored (a retry may type it in another case, without dashes); the member card is only a
    # check (a card that is not the owner's is refused below), so a retry without it is the same.
    request_hash = fingerprint({
        "code": coupon.code, "store": store.code, "order_id": request.order_id, "amount_minor": request.amount_minor,
        "currency": request.currency,
    })
    if request.member_number is not None and request.member_number != owner.member_number:
        raise CouponNotUsable("this coupon belongs to another member", reason="other_member")
    if template.kind == CouponKind.POINTS_MULTIPLIER:
        # The points go to the owner's ledger: take their lock before the coupon's row, as
        # every other points change does, so the two never wait on each other in reverse.
        owner = await uow.lock_member(owner.id)
    replay = _replay(coupon, template, owner, store, request, request_hash)
    if replay is not None:
        return replay
    refuse_if_blocked(owner)
    _check_usable(coupon, template, store, request, now)
    discount = discount_for(template, request.amount_minor)
    bonus = await _bonus_points(uow, template, request.amount_minor, now=now)
    ledger.check_room(owner, bonus, input_field="amount_minor")  # the coupon row records them too
    if not await uow.coupons.mark_used(
        coupon.id, at=now, store_id=store.id, order_id=request.order_id,
        discount_minor=discount if template.kind != CouponKind.POINTS_MULTIPLIER else None,
        bonus_points=bonus if template.kind == CouponKind.POINTS_MULTIPLIER else None, request_hash=request_hash,
    ):
        # Another till won the race a moment ago: its answer if it was this order, else "used".
        # Nothing is written yet, so no rollback: one would expire the loaded store, template
        # and member, and reading them again outside the driver's greenlet fails. The UPDATE
        # waited for the winner's commit, and this read (a new snapshot) sees its row.
        found = await uow.coupons.by_code(coupon.code)
        assert found is not None
        replay = _replay(found[0], template, owner, store, request, request_hash)
        if replay is not None:
            return replay
        raise CouponNotUsable("this coupon was already used", reason="used")
    if bonus:
        await ledger.credit(
            uow, owner, points=bonus, kind=LedgerKind.BONUS, at=now, actor=actor, reason=f"coupon {template.code}",
            expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
        )
    uow.audit.record(
        at=now, actor=actor, action="coupon.redeem", member_id=owner.id,
        detail=f"{template.code} at {store.code} for order {request.order_id}",
    )
    await uow.commit()
    log.info("coupon %s (%s) redeemed at %s by %s", coupon.id, template.code, store.code, actor)
    found = await uow.coupons.by_code(coupon.code)
    assert found is not None
    return Redeemed(found[0], template, owner.member_number, store.code, discount, bonus, replayed=False)


def _replay(
    coupon: Coupon, template: CouponTemplate, owner: Member, store: Store, request: RedeemRequest, request_hash: str
) -> Redeemed | None:
    """The first answer again when this store's order already redeemed the coupon with this
    request; a conflict when the same order comes with another amount (as purchases refuse a
    reused idempotency key), never the first answer to a different question. Another store's
    order of the same id is another order: the coupon is used."""
    if coupon.status != CouponStatus.USED:
        return None
    if coupon.used_order_id != request.order_id or coupon.used_store_id != store.id:
        return None
    # None: used before requests were fingerprinted, when the order alone made a replay.
    if coupon.used_request_hash is not None and coupon.used_request_hash != request_hash:
        raise IdempotencyConflict("this order already redeemed this coupon with another amount", reason="key_reused")
    return Redeemed(
        coupon, template, owner.member_number, store.code,
        discount_minor=coupon.discount_minor or 0, bonus_points=coupon.bonus_points or 0, replayed=True,
    )


def _check_usable(
    coupon: Coupon, template: CouponTemplate, store: Store, request: RedeemRequest, now: datetime
) -> None:
    if coupon.status == CouponStatus.USED:
        when = f" at {coupon.used_at.isoformat()}" if coupon.used_at else ""
        raise CouponNotUsable(f"this coupon was already used{when}", reason="used")
    if coupon.status == CouponStatus.VOID:
        raise CouponNotUsable("this coupon was withdrawn", reason="void")
    day = local_day(now, store.timezone)
    if day < coupon.valid_from:
        raise CouponNotUsable(
            f"this coupon is valid from {coupon.valid_from.isoformat()}", reason="not_yet_valid",
            valid_from=coupon.valid_from.isoformat(),
        )
    if day > coupon.valid_until:
        raise CouponNotUsable(
            f"this coupon expired after {coupon.valid_until.isoformat()}", reason="expired",
            valid_until=coupon.valid_until.isoformat(),
        )
    if not valid_at(template, store):
        raise CouponNotUsable(f"this coupon is not valid at store {store.code}", reason="wrong_store")
    if request.amount_minor < template.min_spend_minor:
        raise CouponNotUsable(
            f"this coupon needs an order of at least {template.min_spend_minor}", reason="below_minimum",
            min_spend_minor=template.min_spend_minor,
        )


async def _bonus_points(uow: UnitOfWork, template: CouponTemplate, amount_minor: int, *, now: datetime) -> int:
    """A points multiplier adds what the base rate gives for the order, times (multiplier - 1)."""
    if template.kind != CouponKind.POINTS_MULTIPLIER:
        return 0
    base = (await earning.active_rules(uow, at=now)).base
    if base is None or not base.points or not base.per_amount_minor:
        return 0
    return amount_minor * base.points * (template.value - PCT) // (base.per_amount_minor * PCT)


@dataclass(frozen=True)
class CouponDetails:
    coupon: Coupon
    template: CouponTemplate
    member_number: str
    store_code: str | None  # where it was used


async def find_coupon(uow: UnitOfWork, code: str) -> CouponDetails:
    """A coupon by the code a till typed or scanned. A string that cannot be a code is "not
    found" like an unknown one: the answer never tells a typo from a guess."""
    normal = normalize_coupon_code(code)
    found = await uow.coupons.by_code(normal) if normal is not None else None
    if found is None:
        raise CouponNotFound("no coupon with this code")
    coupon, template, member = found
    store = await uow.program.store(coupon.used_store_id) if coupon.used_store_id is not None else None
    return CouponDetails(coupon, template, member.member_number, store.code if store else None)


async def member_coupons(uow: UnitOfWork, member: Member, *, limit: int = 100) -> list[CouponDetails]:
    """Every coupon of the member, used and over included, newest first (the merchant's view)."""
    rows = await uow.coupons.for_member(member.id, limit=limit)
    used_at = sorted({coupon.used_store_id for coupon, _ in rows if coupon.used_store_id is not None})
    store_codes = {store.id: store.code for store in await uow.program.stores_by_ids(used_at)} if used_at else {}
    return [
        CouponDetails(
            coupon, template, member.member_number,
            store_codes.get(coupon.used_store_id) if coupon.used_store_id is not None else None,
        )
        for coupon, template in rows
    ]


# --- the merchant's templates --------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSpec:
    code: str
    names: Mapping[str, str]
    kind: str
    value: int
    descriptions: Mapping[str, str] = field(default_factory=dict)
    currency: str | None = None  # None: the program's
    min_spend_minor: int = 0
    valid_from: date | None = None
    valid_until: date | None = None
    valid_days: int | None = None
    stores: Sequence[str] = ()  # store codes
    cities: Sequence[str] = ()
    min_tier: str | None = None  # a tier code
    per_member_limit: int = 1
    total_quantity: int | None = None
    auto_issue: str | None = None
    active: bool = True
    image_url: str | None = None


EDITABLE = frozenset(
    {"names", "image_url", "descriptions", "valid_from", "valid_until", "valid_days", "stores", "cities",
     "min_tier", "per_member_limit", "total_quantity", "active", "min_spend_minor"}
)
# What a coupon is (its kind, value and currency) never changes once issued: members hold it.


@dataclass(frozen=True)
class TemplateDefinition:
    """A template as the merchant manages it: stores by code, the tier by code."""

    template: CouponTemplate
    store_codes: list[str]
    min_tier: Tier | None


async def create_template(
    uow: UnitOfWork, clock: Clock, settings: Settings, spec: TemplateSpec, *, actor: str
) -> TemplateDefinition:
    if not TEMPLATE_CODE.match(spec.code):
        raise InvalidInput("a coupon template code is 1-32 of A-Z, a-z, 0-9, _ and -", field="code")
    if spec.kind not in KINDS:
        raise InvalidInput(f"kind is one of {', '.join(KINDS)}", field="kind")
    if await uow.coupons.template_by_code(spec.code) is not None:
        raise CouponTemplateExists(f"a coupon template with code {spec.code!r} exists")
    currency = in_program_currency(
        spec.currency or None, settings.currency, f"coupons are in the program's currency {settings.currency}"
    )
    _check_value(spec.kind, spec.value)
    values = await _clean(uow, {name: getattr(spec, name) for name in EDITABLE})
    if spec.auto_issue is not None and spec.auto_issue not in AUTO_ISSUE:
        raise InvalidInput(f"auto_issue is one of {', '.join(AUTO_ISSUE)}", field="auto_issue")
    now = clock.now()
    template = CouponTemplate(
        code=spec.code, kind=spec.kind, value=spec.value, currency=currency, auto_issue=spec.auto_issue,
        issued_count=0, created_at=now, **values,
    )
    _check_validity(template)
    _check_auto_issue(template)
    try:
        await uow.coupons.add_template(template)
        uow.audit.record(at=now, actor=actor, action="coupon_template.create", detail=spec.code)
        await uow.commit()
    except IntegrityError as exc:
        await uow.rollback()
        raise CouponTemplateExists(f"a coupon template with code {spec.code!r} exists") from exc
    log.info("coupon template %s created by %s", spec.code, actor)
    return await _definition(uow, template)


async def update_template(
    uow: UnitOfWork, clock: Clock, code: str, changes: Mapping[str, Any], *, actor: str
) -> TemplateDefinition:
    """Change a template's texts, validity, scope, limits or activity. Coupons already issued
    keep the days they were issued with; scope and minimum spend apply at redemption."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}", field=min(unknown))
    template = await find_template(uow, code)
    values = await _clean(uow, changes)
    quantity = values.get("total_quantity")
    if quantity is not None and quantity < template.issued_count:
        raise InvalidInput(
            f"{template.issued_count} are already issued; the quantity cannot be lower",
            field="total_quantity",
        )
    for name, value in values.items():
        setattr(template, name, value)
    _check_validity(template)
    _check_auto_issue(template)
    if values:
        uow.audit.record(
            at=clock.now(), actor=actor, action="coupon_template.update",
            detail=f"{code}: {json.dumps(sorted(values), ensure_ascii=False)}",
        )
        await uow.commit()
    return await _definition(uow, template)


async def find_template(uow: UnitOfWork, code: str) -> CouponTemplate:
    template = await uow.coupons.template_by_code(code)
    if template is None:
        raise CouponTemplateNotFound(f"no coupon template {code!r}")
    return template


async def template_definition(uow: UnitOfWork, code: str) -> TemplateDefinition:
    return await _definition(uow, await find_template(uow, code))


async def list_templates(uow: UnitOfWork, *, page: int, page_size: int) -> tuple[list[TemplateDefinition], int]:
    rows, total = await uow.coupons.templates(offset=(page - 1) * page_size, limit=page_size)
    return [await _definition(uow, template) for template in rows], total


async def _definition(uow: UnitOfWork, template: CouponTemplate) -> TemplateDefinition:
    stores = await uow.program.stores_by_ids(template.store_ids) if template.store_ids else []
    return TemplateDefinition(
        template,
        store_codes=sorted(store.code for store in stores),
        min_tier=tier_for_rank(await uow.program.tiers(), template.min_tier_rank) if template.min_tier_rank else None,
    )


def _check_value(kind: str, value: int) -> None:
    if kind == CouponKind.PERCENT_OFF:
        whole_number(value, "value", low=1, high=100)
    elif kind == CouponKind.POINTS_MULTIPLIER:
        whole_number(value, "value", low=101, high=10_000)
    else:
        whole_number(value, "value", low=1, high=MAX_MONEY_MINOR)


def _check_validity(template: CouponTemplate) -> None:
    if template.valid_until is None and template.valid_days is None:
        raise InvalidInput("a coupon needs an end: valid_until, valid_days or both", field="valid_until")
    if template.valid_from and template.valid_until and template.valid_until < template.valid_from:
        raise InvalidInput("valid_until must not be before valid_from", field="valid_until")


def _check_auto_issue(template: CouponTemplate) -> None:
    # A tier coupon without a tier above the entry one would never be issued: refused on
    # create, and on an update that takes its tier away.
    if template.auto_issue == "tier" and template.min_tier_rank == 0:
        raise InvalidInput("a tier coupon names the tier that earns it in min_tier", field="min_tier")


async def _clean(uow: UnitOfWork, values: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "names":
            clean[name] = texts_by_locale(
                value, field_name="names", any_required=True, max_length=NAME_MAX_LENGTH
            )
        elif name == "image_url":
            clean[name] = image_url(value)
        elif name == "descriptions":
            clean[name] = texts_by_locale(
                value or {}, field_name="descriptions", required=(), max_length=DESCRIPTION_MAX_LENGTH,
                multiline=True,
            )
        elif name == "min_spend_minor":
            clean[name] = whole_number(value, name, low=0, high=MAX_MONEY_MINOR)
        elif name in ("valid_from", "valid_until"):
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise InvalidInput(f"{name} is a date, YYYY-MM-DD", field=name)
            clean[name] = value
        elif name == "valid_days":
            clean[name] = None if value is None else whole_number(value, name, low=0, high=MAX_VALID_DAYS)
        elif name == "stores":
            clean["store_ids"] = await _store_ids(uow, _listed(value, name))
        elif name == "cities":
            clean["cities"] = _cities(_listed(value, name))
        elif name == "min_tier":
            clean["min_tier_rank"] = await tier_rank(uow, value)
        elif name == "per_member_limit":
            clean[name] = whole_number(value, name, low=1, high=MAX_PER_MEMBER)
        elif name == "total_quantity":
            clean[name] = None if value is None else whole_number(value, name, low=1, high=MAX_QUANTITY)
        elif name == "active":
            if not isinstance(value, bool):
                raise InvalidInput("active is true or false", field="active")
            clean[name] = value
    return clean


async def _store_ids(uow: UnitOfWork, store_codes: Iterable[str]) -> list[int]:
    wanted = list(dict.fromkeys(store_codes))
    if len(wanted) > MAX_SCOPE:
        raise InvalidInput(f"at most {MAX_SCOPE} stores; use cities for more", field="stores")
    found = await uow.program.stores_by_codes(wanted)
    missing = [code for code in wanted if code not in found]
    if missing:
        raise InvalidInput(f"no store {missing[0]!r}", field="stores")
    return sorted(found[code].id for code in wanted)


def _listed(value: Any, name: str) -> Sequence[Any]:
    # A string is iterable too: "S001" must not become the stores "S", "0", "0" and "1".
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{name} is a list; an empty one for no limit", field=name)
    return value


def _cities(cities: Iterable[str]) -> list[str]:
    clean = []
    for city in cities:
        name = city.strip() if isinstance(city, str) else ""
        if not name or len(name) > CITY_MAX_LENGTH:
            raise InvalidInput(f"a city is 1-{CITY_MAX_LENGTH} characters", field="cities")
        clean.append(name)
    if len(clean) > MAX_SCOPE:
        raise InvalidInput(f"at most {MAX_SCOPE} cities", field="cities")
    return list(dict.fromkeys(clean))
