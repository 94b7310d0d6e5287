"""The till in a staff member's pocket (the Mini App's Till tab), for the café with no POS.

An owner or a cashier scans the member's card (its rotating token, or the chat card's number),
and records the sale for the store they serve at, redeems a coupon or a reward code there, or
refunds a sale they recorded today. Every step goes through the rules the API's tills use
(loyalty.purchases, loyalty.coupons, loyalty.rewards), with the same idempotency: the page makes
one order id per sale, so a double tap records once. Each action is audited under
"staff:<telegram id>"; the member's receipt reaches the chat through the notification outbox,
as any purchase's does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from db.models import Member, Purchase, Staff, Store
from db.uow import UnitOfWork
from loyalty import coupons, rewards
from loyalty.access_audit import record_member_read
from loyalty.card_tokens import member_number_for_qr
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, PurchaseNotFound, StaffOnly, UnknownStore
from loyalty.i18n import localized
from loyalty.idempotency import IdempotencyKey, StoredAnswer, fingerprint
from loyalty.members import find_member
from loyalty.purchases import MemberRef, PurchaseRequest, RefundRequest, record_purchase, record_refund
from loyalty.staff import uses_till

CHANNEL = "store"
# What the page makes once per sale or refund ("sale-…", "refund-…"): printable, no spaces.
ID_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
TODAY_LIMIT = 50


@dataclass(frozen=True)
class Till:
    staff: Staff
    store: Store

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.telegram_id}"

    @property
    def scope(self) -> str:
        """Idempotency keys of this staff member's till never meet another caller's."""
        return f"staff:{self.staff.id}"


@dataclass(frozen=True)
class TillMember:
    member: Member
    first_name: str | None
    tier_code: str
    tier_name: str
    coupons: list[dict[str, Any]]  # usable at this store today, as loyalty.coupons.describe words them


async def open_till(uow: UnitOfWork, staff: Staff | None, store_code: str | None = None) -> Till:
    """The till of this staff member: at their own store, or, for an owner tied to none, at the
    store they pick. A marketer (or anyone not staff) has none: StaffOnly."""
    if staff is None or not uses_till(staff.role):
        raise StaffOnly("the till is for owners and cashiers")
    if staff.store_id is not None:
        store = await uow.program.store(staff.store_id)
        if store_code and store is not None and store_code != store.code:
            raise UnknownStore("you ring up sales at your own store only", field="store")
    elif store_code:
        store = await uow.program.store_by_code(store_code)
    else:
        raise UnknownStore("pick the store you serve at", field="store")
    if store is None or not store.active:
        raise UnknownStore("no such open store", field="store")
    return Till(staff, store)


def check_id(value: str, field: str) -> str:
    if not ID_SHAPE.match(value):
        raise InvalidInput("an id of 8 to 64 letters, digits and _.:-", field=field)
    return value


def start_of_day(store: Store, now: datetime) -> datetime:
    """Midnight of the store's own day."""
    zone = ZoneInfo(store.timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)


async def look_up(
    uow: UnitOfWork, clock: Clock, settings: Settings, till: Till, qr: str, *, locale: str
) -> TillMember:
    """Who the scanned card is, with the coupons they can use here today; audited as a read."""
    now = clock.now()
    number = await member_number_for_qr(uow, settings, now, qr)
    member = await find_member(uow, member_number=number)
    tier = await uow.program.tier(member.tier_id)
    assert tier is not None  # tier_id is a foreign key
    owned = await coupons.usable_coupons(uow, member, now=now, zone=settings.zone)
    usable = await coupons.describe(uow, coupons.usable_at(owned, till.store, now), locale)
    codes = {own.coupon.id: own.coupon.code for own in owned}
    for coupon in usable:
        coupon["code"] = codes[coupon["id"]]
    found = TillMember(
        member=member,
        first_name=uow.members.first_name_of(member),
        tier_code=tier.code,
        tier_name=localized(tier.names, locale),
        coupons=usable,
    )
    await record_member_read(uow, clock, actor=till.actor, member_id=member.id, what="till lookup")
    return found


async def ring_up(
    uow: UnitOfWork, clock: Clock, settings: Settings, till: Till, *, qr: str, amount_minor: int, order_id: str
) -> tuple[StoredAnswer, bool]:
    """Record a sale for the till's store; the same order id again answers as the first time."""
    check_id(order_id, "order_id")
    number = await member_number_for_qr(uow, settings, clock.now(), qr)
    request = PurchaseRequest(
        member=MemberRef(member_number=number),
        order_id=order_id,
        channel=CHANNEL,
        amount_minor=amount_minor,
        currency=settings.currency,
        store_code=till.store.code,
        staff_id=till.staff.id,
    )
    body = {"member": number, "amount_minor": amount_minor, "store": till.store.code}
    key = IdempotencyKey(scope=till.scope, key=f"order:{order_id}", fingerprint=fingerprint(body))
    answer, replayed = await record_purchase(uow, clock, settings, request, actor=till.actor, idempotency=key)
    if not replayed:
        await _audit(uow, clock, till, "till.purchase", answer, f"{order_id} {amount_minor} {settings.currency}")
    return answer, replayed


async def today(uow: UnitOfWork, clock: Clock, till: Till) -> list[tuple[Purchase, str]]:
    """The sales this staff member recorded at this store today (the store's day), newest first."""
    since = start_of_day(till.store, clock.now())
    return await uow.purchases.rung_up_by(till.staff.id, till.store.id, since, limit=TODAY_LIMIT)


async def refund_today(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    till: Till,
    *,
    order_id: str,
    refund_id: str,
    amount_minor: int | None,
) -> tuple[StoredAnswer, bool]:
    """Refund (part of) a sale this till recorded today; `amount_minor` None: what is left of it.
    Anyone else's sale, or an older one, is not this till's to refund: PurchaseNotFound."""
    check_id(refund_id, "refund_id")
    purchase = await uow.purchases.by_order(CHANNEL, order_id)
    since = start_of_day(till.store, clock.now())
    if (
        purchase is None
        or purchase.staff_id != till.staff.id
        or purchase.store_id != till.store.id
        or purchase.created_at < since
    ):
        raise PurchaseNotFound("no sale of this till today has that order id")
    amount = purchase.amount_minor - purchase.refunded_minor if amount_minor is None else amount_minor
    request = RefundRequest(
        order_id=order_id, channel=CHANNEL, refund_id=refund_id, amount_minor=amount, currency=purchase.currency
    )
    key = IdempotencyKey(
        scope=till.scope, key=f"refund:{refund_id}", fingerprint=fingerprint({"order": order_id, "amount_minor": amount})
    )
    answer, replayed = await record_refund(uow, clock, settings, request, actor=till.actor, idempotency=key)
    if not replayed:
        await _audit(uow, clock, till, "till.refund", answer, f"{order_id} {refund_id} {amount} {purchase.currency}")
    return answer, replayed


async def redeem_coupon(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    till: Till,
    *,
    code: str,
    order_id: str,
    amount_minor: int,
    qr: str | None,
) -> coupons.Redeemed:
    """Redeem a coupon code against a sale at this store (loyalty.coupons.redeem audits it)."""
    number = await member_number_for_qr(uow, settings, clock.now(), qr, field="member") if qr else None
    request = coupons.RedeemRequest(
        code=code, store_code=till.store.code, order_id=order_id, amount_minor=amount_minor,
        currency=settings.currency, member_number=number,
    )
    return await coupons.redeem(uow, clock, settings, request, actor=till.actor)


async def hand_over_reward(uow: UnitOfWork, clock: Clock, till: Till, *, code: str) -> rewards.RedemptionDetails:
    """Hand over the reward a redemption code stands for, at this store (audited by the rule)."""
    await rewards.use_redemption(uow, clock, code=code, store_code=till.store.code, actor=till.actor)
    return await rewards.find_redemption(uow, code)


async def _audit(uow: UnitOfWork, clock: Clock, till: Till, action: str, answer: StoredAnswer, detail: str) -> None:
    # After the rule committed: the sale is recorded whatever happens here; the ledger names
    # the same actor in any case.
    member = await uow.members.by_number(str(answer.body["member_number"]))
    uow.audit.record(
        at=clock.now(), actor=till.actor, action=action, member_id=member.id if member else None,
        detail=f"{detail} at {till.store.code}",
    )
    await uow.commit()
