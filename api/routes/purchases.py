"""Purchases and refunds from tills and the online shop, and members' points."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from api.deps import IDEMPOTENCY_KEY_PATTERN, ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.replay import answer_as
from api.schemas import ErrorPublic
from api.schemas.common import MEMBER_ERASED, MemberNumberStr
from api.schemas.purchases import (
    AdjustmentCreate,
    ExpiringPublic,
    LedgerEntryPublic,
    PointsPublic,
    PurchaseCreate,
    PurchasePublic,
    RefundCreate,
    RefundPublic,
    TierProgressPublic,
)
from loyalty import earning
from loyalty.access_audit import record_member_read
from loyalty.apikeys import AuthenticatedKey
from loyalty.card_tokens import member_number_for_qr
from loyalty.idempotency import IdempotencyKey, StoredAnswer, fingerprint
from loyalty.members import find_member
from loyalty.points import DailyCap, adjust_points, points_summary
from loyalty.profile import normalize_phone
from loyalty.purchases import (
    MemberRef,
    PurchaseRequest,
    RefundRequest,
    record_purchase,
    record_refund,
)

router = APIRouter()
purchases = APIRouter(prefix="/purchases", tags=["purchases"])
refunds = APIRouter(prefix="/refunds", tags=["purchases"])
points = APIRouter(prefix="/members/{member_number}", tags=["points"])

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Repeat a write safely: the same key and body get the first answer back. "
        "Defaults to the order id (purchases) or the refund id (refunds).",
    ),
]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "Unknown member or order"},
    409: {"model": ErrorPublic, "description": "Idempotency key reused for another request, a duplicate, (adjustments) over the key's daily cap, or (purchases) a member staff blocked (`member_blocked`)"},
}
# Writes that find the member by number.
MEMBER_WRITE_ERRORS: dict[int | str, dict[str, Any]] = WRITE_ERRORS | {410: MEMBER_ERASED}


def _key(api_key: AuthenticatedKey, header: str | None, default: str, body: dict[str, Any]) -> IdempotencyKey:
    return IdempotencyKey(scope=f"apikey:{api_key.id}", key=header or default, fingerprint=fingerprint(body))


def _respond(response: Response, answer: StoredAnswer, replayed: bool) -> dict[str, Any]:
    answer_as(response, answer.outcome, replayed=replayed)
    return answer.body


@purchases.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PurchasePublic,
    summary="Record a purchase and credit its points",
    responses=MEMBER_WRITE_ERRORS,
)
async def create_purchase(
    body: PurchaseCreate,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
    idempotency_key: IdempotencyHeader = None,
) -> dict[str, Any]:
    member = body.member
    scanned = (
        await member_number_for_qr(uow, settings, clock.now(), member.qr, field="member.qr") if member.qr else None
    )
    request = PurchaseRequest(
        member=MemberRef(
            member_number=member.member_number or scanned,
            phone_e164=normalize_phone(member.phone, settings.phone_region) if member.phone else None,
        ),
        order_id=body.order_id,
        channel=body.channel,
        amount_minor=body.amount_minor,
        currency=body.currency,
        store_code=body.store,
        purchased_at=body.purchased_at,
        lines=tuple(earning.Line(line.sku, line.category, line.quantity, line.amount_minor) for line in body.lines),
    )
    key = _key(api_key, idempotency_key, f"order:{body.channel}:{body.order_id}", body.model_dump(mode="json"))
    answer, replayed = await record_purchase(
        uow, clock, settings, request, actor=f"apikey:{api_key.name}", idempotency=key
    )
    return _respond(response, answer, replayed)


@refunds.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundPublic,
    summary="Refund (part of) a purchase and take its points back",
    responses=WRITE_ERRORS,
)
async def create_refund(
    body: RefundCreate,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
    idempotency_key: IdempotencyHeader = None,
) -> dict[str, Any]:
    request = RefundRequest(
        order_id=body.order_id,
        channel=body.channel,
        refund_id=body.refund_id,
        amount_minor=body.amount_minor,
        currency=body.currency,
    )
    key = _key(api_key, idempotency_key, f"refund:{body.refund_id}", body.model_dump(mode="json"))
    answer, replayed = await record_refund(uow, clock, settings, request, actor=f"apikey:{api_key.name}", idempotency=key)
    return _respond(response, answer, replayed)


@points.get(
    "/points",
    response_model=PointsPublic,
    summary="A member's points, expiry and tier progress",
    responses={404: {"model": ErrorPublic, "description": "No such member"}, 410: MEMBER_ERASED},
)
async def get_points(
    member_number: MemberNumberStr, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> PointsPublic:
    member = await find_member(uow, member_number=member_number)
    summary = await points_summary(uow, member, now=clock.now(), settings=settings)
    progress = summary.progress
    public = PointsPublic(
        member_number=member.member_number,
        balance=summary.balance,
        available=summary.available,
        expiring=[ExpiringPublic(expires_at=e.expires_at, points=e.points) for e in summary.expiring],
        tier=TierProgressPublic(
            tier=progress.tier.code,
            next_tier=progress.next_tier.code if progress.next_tier else None,
            spend_to_next_minor=progress.spend_to_next_minor,
            visits_to_next=progress.visits_to_next,
            keep_spend_minor=progress.keep_spend_minor,
            keep_visits=progress.keep_visits,
            keep_by=progress.keep_by,
        ),
        recent=[
            LedgerEntryPublic(at=e.at, kind=e.kind, points=e.points, balance_after=e.balance_after, reason=e.reason)
            for e in summary.recent
        ],
    )
    await record_member_read(uow, clock, actor=api_key.actor, member_id=member.id, what="points")
    return public


@points.post(
    "/adjustments",
    status_code=status.HTTP_201_CREATED,
    summary="Add or remove points by hand (audited)",
    description=(
        "Each API key may adjust at most `ADJUSTMENT_DAILY_CAP` points a day (gains and losses "
        "added up, days in the program's time zone); an adjustment beyond it is a 409 with "
        "`reason` `daily_cap` and writes nothing."
    ),
    responses=MEMBER_WRITE_ERRORS,
)
async def create_adjustment(
    member_number: MemberNumberStr,
    body: AdjustmentCreate,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
    idempotency_key: Annotated[
        str,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN, description="Required: an adjustment has no natural id"),
    ],
) -> dict[str, Any]:
    key = _key(api_key, idempotency_key, idempotency_key, {"member": member_number, **body.model_dump(mode="json")})
    answer, replayed = await adjust_points(
        uow, clock, settings, member_number=member_number, points=body.points, reason=body.reason,
        actor=f"apikey:{api_key.name}", idempotency=key,
        cap=DailyCap(api_key_id=api_key.id, points=settings.adjustment_daily_cap),
    )
    return _respond(response, answer, replayed)


router.include_router(purchases)
router.include_router(refunds)
router.include_router(points)
