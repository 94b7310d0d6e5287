"""The Mini App's offers: the reward catalogue with redemption, the member's reward codes, and
their coupons with code and QR.

Redeeming is confirmed in the page through Telegram's MainButton; the page makes one
Idempotency-Key per confirmation, so a double press (or a retry after a lost answer) redeems
once: the key is recorded with the redemption (loyalty/rewards.py `redeem_once`) under the
membership's scope, as the chat's confirmation nonce is. The same key sent for another reward or
price is a 409 `idempotency_conflict`, and nothing is written.

Every id in a path is looked up among the caller's own: someone else's coupon or reward code is
a 404, the same answer as one that does not exist.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ClockDep, SettingsDep, UowDep
from api.webapp.auth import MemberCaller
from api.webapp.own import member_of
from api.webapp.qr import qr_svg
from db.models import CouponStatus, RedemptionStatus
from loyalty import coupons, rewards
from loyalty.errors import CouponNotUsable, InsufficientPoints, RedemptionNotUsable
from loyalty.i18n import localized
from loyalty.idempotency import IdempotencyKey, fingerprint
from loyalty.quiet_hours import member_zone

router = APIRouter()

PAGE_SIZE = 20
MAX_PAGE = 1_000_000
MAX_ID = 2**31 - 1
MEMBER_ACTOR = "app"  # how the ledger records what a member does in the Mini App
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_LISTED_COUPONS = 50

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- rewards -------------------------------------------------------------------------------------


class RewardOfferPublic(BaseModel):
    id: int
    name: str
    description: str
    image_url: str | None
    points_price: int
    cash_value_minor: int
    currency: str
    stock: int | None  # None: unlimited
    can_redeem: bool
    # Why not, the most fundamental first: tier, out_of_stock, insufficient_points; None: it can.
    reason: str | None
    points_short: int  # how many more points it takes; 0 when affordable
    required_tier: str | None  # the tier's name when the reward asks for one


class CataloguePublic(BaseModel):
    available: int  # the caller's spendable points now
    page: int
    pages: int
    data: list[RewardOfferPublic]


class RedeemRequest(BaseModel):
    # The price the member saw on the MainButton: a reward whose price changed since is refused
    # (409 reward_unavailable, reason price_changed), never charged at a price not shown.
    points_price: int = Field(ge=1, le=rewards.MAX_POINTS_PRICE)


class RewardCodePublic(BaseModel):
    id: int
    code: str  # what the till takes, and what the QR holds
    reward: str
    points: int
    status: str  # issued, used, cancelled
    issued_at: datetime
    qr_svg: str  # the code as a QR, drawn as the card's


class RedeemedPublic(RewardCodePublic):
    balance: int  # the caller's points after it
    replayed: bool  # the same confirmation sent again: this is the first one's code


def _offer(offer: rewards.RewardOffer, locale: str, currency: str) -> RewardOfferPublic:
    reward = offer.reward
    return RewardOfferPublic(
        id=reward.id,
        name=localized(reward.names, locale),
        description=localized(reward.descriptions, locale) if reward.descriptions else "",
        image_url=reward.image_url,
        points_price=reward.points_price,
        cash_value_minor=reward.cash_value_minor,
        currency=reward.currency or currency,
        stock=reward.stock,
        can_redeem=offer.can_redeem,
        reason=offer.reason,
        points_short=offer.points_short,
        required_tier=localized(offer.required_tier.names, locale) if offer.required_tier else None,
    )


def _code(own: rewards.OwnRedemption, locale: str) -> RewardCodePublic:
    redemption = own.redemption
    return RewardCodePublic(
        id=redemption.id,
        code=redemption.code,
        reward=localized(own.reward.names, locale),
        points=redemption.points,
        status=redemption.status,
        issued_at=redemption.issued_at,
        qr_svg=qr_svg(redemption.code),
    )


@router.get("/rewards", summary="The rewards on offer to the caller, cheapest first")
async def catalogue(
    caller: MemberCaller,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> CataloguePublic:
    found = await rewards.catalogue(uow, member_of(caller), now=clock.now(), page=page, page_size=PAGE_SIZE)
    return CataloguePublic(
        available=found.available,
        page=found.page,
        pages=found.pages,
        data=[_offer(offer, caller.locale, settings.currency) for offer in found.offers],
    )


@router.get("/rewards/codes", summary="The caller's reward codes still to be used at a till")
async def my_codes(caller: MemberCaller, uow: UowDep) -> list[RewardCodePublic]:
    return [_code(own, caller.locale) for own in await rewards.member_redemptions(uow, member_of(caller))]


@router.get("/rewards/codes/{redemption_id}", summary="One of the caller's reward codes")
async def my_code(redemption_id: Id, caller: MemberCaller, uow: UowDep) -> RewardCodePublic:
    own = await rewards.member_redemption(uow, member_of(caller), redemption_id)  # anyone else's: 404
    if own.redemption.status != RedemptionStatus.ISSUED:
        raise RedemptionNotUsable(f"this code was already {own.redemption.status}", reason=own.redemption.status)
    return _code(own, caller.locale)


@router.get("/rewards/{reward_id}", summary="One reward as the caller sees it")
async def reward(
    reward_id: Id, caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> RewardOfferPublic:
    offer = await rewards.offer(uow, member_of(caller), reward_id, now=clock.now())
    return _offer(offer, caller.locale, settings.currency)


@router.post(
    "/rewards/{reward_id}/redeem",
    status_code=status.HTTP_201_CREATED,
    summary="Spend the caller's points on the reward; once per Idempotency-Key",
    response_model=RedeemedPublic,
)
async def redeem(
    reward_id: Id,
    body: RedeemRequest,
    caller: MemberCaller,
    uow: UowDep,
    clock: ClockDep,
    idempotency_key: Annotated[str, Header(pattern=IDEMPOTENCY_KEY.pattern)],
) -> RedeemedPublic | JSONResponse:
    member = member_of(caller)
    # Scoped by the membership, like the chat's nonce: the answer keeps no Telegram id.
    key = IdempotencyKey(
        scope=f"member:{member.id}",
        key=f"app-redeem:{idempotency_key}",
        fingerprint=fingerprint({"reward_id": reward_id, "price": body.points_price}),
    )
    try:
        result = await rewards.redeem_once(
            uow, clock, member_id=member.id, reward_id=reward_id, actor=MEMBER_ACTOR, key=key,
            expected_price=body.points_price,
        )
    except InsufficientPoints as error:
        # The page says how many more points it takes; the shared 409 body does not carry it.
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": str(error), "code": error.code, "short": error.needed - error.available},
        )
    own = await rewards.member_redemption(uow, member, result.redemption.id)
    return RedeemedPublic(
        **_code(own, caller.locale).model_dump(), balance=result.balance, replayed=result.replayed
    )


# --- coupons -------------------------------------------------------------------------------------


class CouponPublic(BaseModel):
    id: int
    code: str  # what the till takes, and what the QR holds
    name: str
    description: str
    kind: str  # percent_off, amount_off, free_item, points_multiplier
    value: int  # a percentage, minor units, or a multiplier in hundredths
    currency: str | None
    min_spend_minor: int | None
    valid_from: date
    valid_until: date  # included
    stores: list[str]  # where it works: these stores, else these cities, else everywhere
    cities: list[str]
    qr_svg: str | None  # the code as a QR, for the coupon shown on its own


class CouponsPublic(BaseModel):
    today: date  # in the member's time zone: a coupon from a later day shows its start
    data: list[CouponPublic]


def _coupon(described: dict[str, Any], code: str, *, with_qr: bool = False) -> CouponPublic:
    return CouponPublic(
        id=described["id"],
        code=code,
        name=described["name"],
        description=described["description"],
        kind=described["kind"],
        value=described["value"],
        currency=described["currency"],
        min_spend_minor=described["min_spend"] or None,
        valid_from=described["valid_from"],
        valid_until=described["valid_until"],
        stores=described["stores"],
        cities=described["cities"],
        qr_svg=qr_svg(code) if with_qr else None,
    )


@router.get("/coupons", summary="The caller's usable coupons, soonest-ending first")
async def my_coupons(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> CouponsPublic:
    now = clock.now()
    zone = member_zone(member_of(caller), settings)
    owned = await coupons.usable_coupons(uow, member_of(caller), now=now, zone=zone, limit=MAX_LISTED_COUPONS)
    described = await coupons.describe(uow, owned, caller.locale)
    return CouponsPublic(
        today=coupons.local_day(now, zone),
        data=[_coupon(entry, own.coupon.code) for entry, own in zip(described, owned, strict=True)],
    )


@router.get("/coupons/{coupon_id}", summary="One of the caller's coupons, to show at the till")
async def my_coupon(
    coupon_id: Id, caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> CouponPublic:
    own = await coupons.member_coupon(uow, member_of(caller), coupon_id)  # anyone else's: 404
    today = coupons.local_day(clock.now(), member_zone(member_of(caller), settings))
    if own.coupon.status == CouponStatus.USED:
        raise CouponNotUsable("this coupon was used", reason="used")
    if own.coupon.status != CouponStatus.ISSUED:
        raise CouponNotUsable("this coupon is void", reason="void")
    if own.coupon.valid_until < today:
        raise CouponNotUsable("this coupon has expired", reason="expired", valid_until=own.coupon.valid_until.isoformat())
    [described] = await coupons.describe(uow, [own], caller.locale)
    return _coupon(described, own.coupon.code, with_qr=True)
