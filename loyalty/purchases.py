"""Purchases credit points, refunds take them back: in store and online, one ledger.

Both run as one transaction per request: resolve the member, lock them, replay an earlier
answer for a repeated idempotency key, then write the purchase, the ledger, the tier change and
the member's notification together, and remember the answer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from db.models import (
    LedgerKind,
    Member,
    Notification,
    NotificationKind,
    NotificationStatus,
    Purchase,
    PurchaseLine,
    Refund,
)
from db.uow import IntegrityError, UnitOfWork
from loyalty import earning, feedback, ledger, referrals, tiers
from loyalty.blocking import refuse_if_blocked
from loyalty.bonuses import grant_event_bonus
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import (
    Conflict,
    DuplicateOrder,
    DuplicateRefund,
    InvalidCurrency,
    InvalidInput,
    PurchaseNotFound,
    UnknownStore,
)
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.members import find_member
from loyalty.money import MAX_ORDER_MINOR, Money, accept_amount

log = logging.getLogger(__name__)

CLOCK_SKEW_ALLOWED = timedelta(minutes=5)  # tills' clocks drift; a purchase "from the future" beyond this is refused
MAX_AMOUNT_MINOR = MAX_ORDER_MINOR  # a billion in major units: anything larger is a typo, not a purchase


@dataclass(frozen=True)
class MemberRef:
    member_number: str | None = None
    phone_e164: str | None = None


@dataclass(frozen=True)
class PurchaseRequest:
    member: MemberRef
    order_id: str
    channel: str  # "store" or "online"
    amount_minor: int
    currency: str
    store_code: str | None = None
    purchased_at: datetime | None = None
    lines: tuple[earning.Line, ...] = ()
    staff_id: int | None = None  # who rang it up at the Mini App's till (loyalty/till.py)


@dataclass(frozen=True)
class PurchaseOutcome:
    purchase_id: int
    member_number: str
    order_id: str
    channel: str
    points_earned: int
    bonus_points: int
    balance: int
    tier: str
    tier_upgraded: bool
    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefundRequest:
    order_id: str
    channel: str
    refund_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class RefundOutcome:
    refund_id: str
    order_id: str
    member_number: str
    amount_minor: int
    points_clawed_back: int
    shortfall_points: int
    balance: int
    refunded_total_minor: int




async def record_purchase(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    request: PurchaseRequest,
    *,
    actor: str,
    idempotency: IdempotencyKey,
) -> tuple[StoredAnswer, bool]:
    """Credit a purchase. Returns the answer and whether it is a replay of an earlier one."""
    now = clock.now()
    _checked_money(request.amount_minor, request.currency, settings)
    purchased_at = request.purchased_at or now
    earning.check_lines(request.amount_minor, request.lines)
    member = await find_member(
        uow, member_number=request.member.member_number, phone_e164=request.member.phone_e164, lock=True
    )
    replay = await previous_answer(uow, idempotency)
    if replay is not None:
        return replay, True
    # After the replay check: a retry gets its first answer even if the store closed since, or
    # the purchase has since become too old to post.
    _check_purchased_at(purchased_at, now, settings)
    refuse_if_blocked(member)
    store_id = await _store_id(uow, request.channel, request.store_code)

    ladder = await uow.program.ladder()
    tier = next(t for t in ladder if t.id == member.tier_id)
    rules = await earning.active_rules(uow, at=purchased_at)
    earned = earning.points_for(
        rules,
        amount_minor=request.amount_minor,
        lines=request.lines,
        tier=tier,
        birthday_month=_is_birthday_month(member, purchased_at, settings),
    )
    # Before anything is written: the purchase row records these points too.
    ledger.check_room(member, earned.total, input_field="amount_minor")
    duplicate = DuplicateOrder(f"order {request.order_id!r} was already recorded with another idempotency key")
    async with _conflict_as(uow, duplicate):
        purchase = await uow.purchases.add(
            Purchase(
                member_id=member.id,
                order_id=request.order_id,
                channel=request.channel,
                store_id=store_id,
                amount_minor=request.amount_minor,
                currency=request.currency,
                purchased_at=purchased_at,
                points_earned=earned.total,
                refunded_minor=0,
                created_at=now,
                staff_id=request.staff_id,
            ),
            [
                PurchaseLine(sku=line.sku, category=line.category, quantity=line.quantity, amount_minor=line.amount_minor)
                for line in request.lines
            ],
        )
    expires_at = ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone)
    if earned.total > 0:
        await ledger.credit(
            uow, member, points=earned.total, kind=LedgerKind.EARN, at=now, expires_at=expires_at,
            actor=actor, purchase_id=purchase.id, reason=f"order {request.order_id}", input_field="amount_minor",
        )
    bonus = 0
    if rules.bonus("first_purchase") and await uow.purchases.count_for_member(member.id) == 1:
        bonus = await grant_event_bonus(
            uow, settings, member, event="first_purchase", now=now, actor=actor, input_field="amount_minor"
        )
    await referrals.purchase_recorded(uow, member, purchase, now=now)
    # A till clock a little ahead still counts the purchase inside the qualifying window.
    change = await tiers.upgrade_if_qualified(
        uow, member, now=max(now, purchased_at), months=settings.tier_window_months, zone=settings.zone,
        tiers=ladder,
    )
    new_tier = change.new if change else tier
    if earned.total + bonus > 0:
        uow.notifications.add(
            Notification(
                member_id=member.id,
                kind=NotificationKind.POINTS_EARNED,
                payload={"points": earned.total + bonus, "balance": member.points_balance, "order_id": request.order_id},
                status=NotificationStatus.PENDING,
                created_at=now,
            )
        )
    await feedback.owe_survey(uow, member, purchase, now=now, settings=settings)
    outcome = PurchaseOutcome(
        purchase_id=purchase.id,
        member_number=member.member_number,
        order_id=request.order_id,
        channel=request.channel,
        points_earned=earned.total,
        bonus_points=bonus,
        balance=member.points_balance,
        tier=new_tier.code,
        tier_upgraded=change is not None,
        applied=list(earned.applied),
    )
    answer = StoredAnswer(Outcome.created, asdict(outcome))
    remember(uow, idempotency, answer, at=now, member_id=member.id)
    async with _conflict_as(uow, duplicate):
        await uow.commit()
    log.info(
        "purchase %s/%s: member %s earned %d (+%d bonus) points, balance %d",
        request.channel, request.order_id, member.member_number, earned.total, bonus, member.points_balance,
    )
    return answer, False


async def record_refund(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    request: RefundRequest,
    *,
    actor: str,
    idempotency: IdempotencyKey,
) -> tuple[StoredAnswer, bool]:
    """Take back the points of the refunded part of a purchase, never more than the member has;
    what could not be taken back is recorded as the refund's shortfall."""
    now = clock.now()
    amount = _checked_money(request.amount_minor, request.currency, settings)
    purchase = await uow.purchases.by_order(request.channel, request.order_id)
    if purchase is None:
        raise PurchaseNotFound(f"no {request.channel} order {request.order_id!r}")
    member = await uow.lock_member(purchase.member_id)
    replay = await previous_answer(uow, idempotency)
    if replay is not None:
        return replay, True
    if await uow.purchases.refund_by_id(request.refund_id) is not None:
        raise DuplicateRefund(f"refund {request.refund_id!r} was already recorded with another idempotency key")
    await uow.session.refresh(purchase)  # the row may have changed while we waited for the lock
    if request.currency != purchase.currency:
        raise InvalidCurrency("the refund's currency differs from the purchase's", field="currency")
    remaining = Money(purchase.amount_minor, purchase.currency) - Money(purchase.refunded_minor, purchase.currency)
    if amount > remaining:
        raise InvalidInput(
            f"refund of {amount.minor} exceeds the {remaining.minor} not yet refunded", field="amount_minor"
        )
    # Cumulative proportion, so several partial refunds take back exactly what a full one would.
    before = purchase.points_earned * purchase.refunded_minor // purchase.amount_minor
    after = purchase.points_earned * (purchase.refunded_minor + request.amount_minor) // purchase.amount_minor
    owed = after - before
    refund = Refund(
        purchase_id=purchase.id,
        refund_id=request.refund_id,
        amount_minor=request.amount_minor,
        points_clawed_back=0,
        shortfall_points=0,
        refunded_at=now,
    )
    uow.purchases.add_refund(refund)
    await uow.flush()
    taken = shortfall = 0
    if owed > 0:
        result = await ledger.debit(
            uow, member, points=owed, kind=LedgerKind.CLAWBACK, at=now, actor=actor, allow_partial=True,
            prefer_lot_ids=await uow.purchases.earn_lot_ids(purchase.id),
            purchase_id=purchase.id, refund_id=refund.id, reason=f"refund {request.refund_id}",
        )
        taken, shortfall = result.debited, result.shortfall
    refund.points_clawed_back = taken
    refund.shortfall_points = shortfall
    purchase.refunded_minor += request.amount_minor
    await referrals.refund_recorded(uow, purchase, now=now)
    if taken > 0:
        uow.notifications.add(
            Notification(
                member_id=member.id,
                kind=NotificationKind.POINTS_CLAWED_BACK,
                payload={"points": taken, "balance": member.points_balance, "order_id": request.order_id},
                status=NotificationStatus.PENDING,
                created_at=now,
            )
        )
    outcome = RefundOutcome(
        refund_id=request.refund_id,
        order_id=request.order_id,
        member_number=member.member_number,
        amount_minor=request.amount_minor,
        points_clawed_back=taken,
        shortfall_points=shortfall,
        balance=member.points_balance,
        refunded_total_minor=purchase.refunded_minor,
    )
    answer = StoredAnswer(Outcome.created, asdict(outcome))
    remember(uow, idempotency, answer, at=now, member_id=member.id)
    async with _conflict_as(uow, DuplicateRefund(f"refund {request.refund_id!r} was recorded concurrently")):
        await uow.commit()
    if shortfall:
        log.warning(
            "refund %s: member %s had spent %d of the %d points it should take back",
            request.refund_id, member.member_number, shortfall, owed,
        )
    return answer, False


def _check_purchased_at(purchased_at: datetime, now: datetime, settings: Settings) -> None:
    if purchased_at > now + CLOCK_SKEW_ALLOWED:
        minutes = int(CLOCK_SKEW_ALLOWED.total_seconds() // 60)
        raise InvalidInput(
            f"purchased_at is more than {minutes} minutes ahead of the server's clock", field="purchased_at"
        )
    days = settings.purchase_backdate_days
    if purchased_at < now - timedelta(days=days):
        span = f"{days} day{'' if days == 1 else 's'}"
        raise InvalidInput(
            f"purchased_at is more than {span} ago: a purchase may be posted at most {span} late",
            field="purchased_at",
        )


def _checked_money(amount_minor: int, currency: str, settings: Settings) -> Money:
    return accept_amount(
        amount_minor, currency, settings.currency,
        too_small="amount must be positive", too_large="amount is implausibly large", most=MAX_AMOUNT_MINOR,
    )


async def _store_id(uow: UnitOfWork, channel: str, store_code: str | None) -> int | None:
    if store_code is None:
        if channel == "store":
            raise UnknownStore("an in-store purchase needs its store", field="store")
        return None
    store = await uow.program.store_for(store_code)
    if store is None or not store.active:
        raise UnknownStore(f"no active store {store_code!r}", field="store")
    return store.id


def _is_birthday_month(member: Member, at: datetime, settings: Settings) -> bool:
    return member.birthday_month == at.astimezone(settings.zone).month


@contextlib.asynccontextmanager
async def _conflict_as(uow: UnitOfWork, conflict: Conflict) -> AsyncIterator[None]:
    # The lock and the replay check make repeats wait and replay; the unique constraints catch
    # what gets past them (the same order or refund under another idempotency key).
    try:
        yield
    except IntegrityError as exc:
        await uow.rollback()
        raise conflict from exc
