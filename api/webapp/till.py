"""The Till tab's routes (/app/api/till/...): owners and cashiers only (403 `not_till_staff` for
anyone else, a member or a marketer). Thin: loyalty/till.py holds the rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas.common import SingleLine
from api.webapp.auth import AppCaller, AppRefusal, Caller
from db.uow import UnitOfWork
from loyalty import till
from loyalty.i18n import localized
from loyalty.staff import uses_till

router = APIRouter(prefix="/till")
MAX_AMOUNT = 10**12


async def till_caller(caller: Caller) -> AppCaller:
    if caller.staff is None or not uses_till(caller.staff.role):
        raise AppRefusal(status.HTTP_403_FORBIDDEN, "not_till_staff", "the till is for owners and cashiers")
    return caller


TillCaller = Annotated[AppCaller, Depends(till_caller)]


class StoreChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: SingleLine | None = Field(default=None, max_length=32, description="An owner tied to no store picks one.")


class Lookup(StoreChoice):
    qr: SingleLine = Field(min_length=1, max_length=64)


class Sale(StoreChoice):
    qr: SingleLine = Field(min_length=1, max_length=64)
    amount_minor: int = Field(ge=1, le=MAX_AMOUNT)
    order_id: SingleLine = Field(min_length=1, max_length=64)


class CouponUse(StoreChoice):
    code: SingleLine = Field(min_length=1, max_length=64)
    amount_minor: int = Field(ge=1, le=MAX_AMOUNT)
    order_id: SingleLine = Field(min_length=1, max_length=64)
    qr: SingleLine | None = Field(default=None, max_length=64)


class RewardUse(StoreChoice):
    code: SingleLine = Field(min_length=1, max_length=64)


class RefundAsk(StoreChoice):
    order_id: SingleLine = Field(min_length=1, max_length=64)
    refund_id: SingleLine = Field(min_length=1, max_length=64)
    amount_minor: int | None = Field(default=None, ge=1, le=MAX_AMOUNT, description="None: all that is left")


async def _open(uow: UnitOfWork, caller: AppCaller, store: str | None) -> till.Till:
    return await till.open_till(uow, caller.staff, store)


@router.get("/stores")
async def stores(caller: TillCaller, uow: UowDep) -> dict[str, Any]:
    """Where this till may ring up: the staff member's store, or (tied to none) every open store."""
    assert caller.staff is not None
    own = await uow.program.store(caller.staff.store_id) if caller.staff.store_id is not None else None
    listed = [own] if own is not None else [store for store in await uow.program.stores() if store.active]
    return {
        "fixed": own is not None,
        "stores": [{"code": store.code, "name": store.name} for store in listed],
    }


@router.post("/lookup")
async def lookup(body: Lookup, caller: TillCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> dict[str, Any]:
    opened = await _open(uow, caller, body.store)
    found = await till.look_up(uow, clock, settings, opened, body.qr, locale=caller.locale)
    return {
        "number": found.member.member_number,
        "first_name": found.first_name,
        "tier": found.tier_code,
        "tier_name": found.tier_name,
        "balance": found.member.points_balance,
        "blocked": found.member.blocked_at is not None,
        "coupons": found.coupons,
    }


@router.post("/purchases", status_code=status.HTTP_201_CREATED)
async def purchase(
    body: Sale, response: Response, caller: TillCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    opened = await _open(uow, caller, body.store)
    answer, replayed = await till.ring_up(
        uow, clock, settings, opened, qr=body.qr, amount_minor=body.amount_minor, order_id=body.order_id
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return {**answer.body, "replayed": replayed, "amount_minor": body.amount_minor, "currency": settings.currency}


@router.get("/today")
async def today(caller: TillCaller, uow: UowDep, clock: ClockDep, store: str | None = None) -> dict[str, Any]:
    opened = await _open(uow, caller, store)
    rows = await till.today(uow, clock, opened)
    return {
        "store": {"code": opened.store.code, "name": opened.store.name},
        "purchases": [
            {
                "order_id": purchase.order_id,
                "member_number": number,
                "amount_minor": purchase.amount_minor,
                "refunded_minor": purchase.refunded_minor,
                "currency": purchase.currency,
                "points_earned": purchase.points_earned,
                "at": purchase.created_at,
            }
            for purchase, number in rows
        ],
    }


@router.post("/refunds", status_code=status.HTTP_201_CREATED)
async def refund(
    body: RefundAsk, response: Response, caller: TillCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    opened = await _open(uow, caller, body.store)
    answer, replayed = await till.refund_today(
        uow, clock, settings, opened, order_id=body.order_id, refund_id=body.refund_id, amount_minor=body.amount_minor
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return {**answer.body, "replayed": replayed, "currency": settings.currency}


@router.post("/coupons/redeem")
async def redeem_coupon(
    body: CouponUse, caller: TillCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    opened = await _open(uow, caller, body.store)
    redeemed = await till.redeem_coupon(
        uow, clock, settings, opened, code=body.code, order_id=body.order_id, amount_minor=body.amount_minor, qr=body.qr
    )
    return {
        "code": redeemed.coupon.code,
        "member_number": redeemed.member_number,
        "discount_minor": redeemed.discount_minor,
        "bonus_points": redeemed.bonus_points,
        "currency": settings.currency,
        "replayed": redeemed.replayed,
    }


@router.post("/rewards/redeem")
async def hand_over_reward(body: RewardUse, caller: TillCaller, uow: UowDep, clock: ClockDep) -> dict[str, Any]:
    opened = await _open(uow, caller, body.store)
    details = await till.hand_over_reward(uow, clock, opened, code=body.code)
    return {
        "code": details.redemption.code,
        "member_number": details.member_number,
        "reward": localized(details.reward.names, caller.locale),
        "points": details.redemption.points,
    }
