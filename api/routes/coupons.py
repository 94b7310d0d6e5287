"""Coupon templates, issuing coupons to members, and the till looking up and redeeming a code.

The routes only translate; the rules live in loyalty/coupons.py. Template changes, every coupon
issued and every coupon redeemed are audited under the API key's name.

A string that cannot be a coupon code is answered like an unknown code (404 "no coupon with
this code"), never with a 422 about its shape: the answer tells a till nothing about how close
a guess came, and never quotes what was typed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from api.deps import IDEMPOTENCY_KEY_PATTERN, ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.route_docs import INVALID, NOT_FOUND
from api.schemas import (
    CouponIssue,
    CouponPublic,
    CouponRedeem,
    CouponsPublic,
    CouponTemplateCreate,
    CouponTemplatePublic,
    CouponTemplatesPublic,
    CouponTemplateUpdate,
    ErrorPublic,
    RedeemedPublic,
    RefusalPublic,
)
from api.schemas.common import MEMBER_ERASED, MemberNumberStr
from loyalty import coupons
from loyalty.access_audit import record_member_read
from loyalty.apikeys import AuthenticatedKey
from loyalty.card_tokens import member_number_for_qr
from loyalty.members import find_member

router = APIRouter()
templates = APIRouter(prefix="/coupon-templates", tags=["coupons"])
issued = APIRouter(tags=["coupons"])

MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000_000  # keeps the row offset inside a 64-bit integer
MAX_LISTED = 100  # a member's coupons, newest first

TemplateCode = Annotated[
    str,
    Path(pattern=coupons.TEMPLATE_CODE.pattern, description="The template's code.", examples=["WELCOME10"]),
]
CouponCode = Annotated[
    str,
    Path(
        description="The code the member shows, in any case, with or without dashes. Anything "
        "that is not a coupon's code is a 404.",
        examples=["CP-7KQ4-M9XD-2HPA"],
    ),
]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Issue safely on a retry: the same key gets the coupon the first request "
        "issued (`Idempotent-Replayed: true`); the same key for another member or template is a 409.",
    ),
]

_REFUSED = {
    "model": RefusalPublic,
    "description": "Refused; `reason` says why: expired, not_yet_valid, used, void, wrong_store, "
    "below_minimum, other_member or key_reused. Nothing is written.",
}


def _actor(api_key: AuthenticatedKey) -> str:
    return f"apikey:{api_key.name}"


# --- the merchant's templates ------------------------------------------------------------------


@templates.get("", summary="List coupon templates, oldest first")
async def list_templates(
    uow: UowDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> CouponTemplatesPublic:
    rows, count = await coupons.list_templates(uow, page=page, page_size=page_size)
    return CouponTemplatesPublic(
        data=[CouponTemplatePublic.from_definition(row) for row in rows], count=count, page=page, page_size=page_size
    )


@templates.get(
    "/{code}",
    name="get_coupon_template",
    summary="Get a coupon template",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such template"}},
)
async def get_template(code: TemplateCode, uow: UowDep) -> CouponTemplatePublic:
    return CouponTemplatePublic.from_definition(await coupons.template_definition(uow, code))


@templates.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a coupon template",
    description=(
        "A campaign's offer, which coupons are issued from: by `POST /api/v1/coupons`, or by "
        "themselves on signup or on reaching a tier (`auto_issue`). Validity is in calendar "
        "days, read in the time zone of the store redeeming the coupon. The answer's "
        "`Location` header is the template's URL."
    ),
    responses={
        status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "A template has this code"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def create_template(
    body: CouponTemplateCreate,
    request: Request,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> CouponTemplatePublic:
    definition = await coupons.create_template(
        uow, clock, settings, coupons.TemplateSpec(**body.model_dump()), actor=_actor(api_key)
    )
    response.headers["Location"] = str(
        request.app.url_path_for("get_coupon_template", code=definition.template.code)
    )
    return CouponTemplatePublic.from_definition(definition)


@templates.patch(
    "/{code}",
    summary="Change a coupon template",
    description=(
        "Only the fields sent change; kind, value, currency and auto-issue never do. Coupons "
        "already issued keep their days; scope and minimum spend apply when they are redeemed."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such template"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def update_template(
    code: TemplateCode, body: CouponTemplateUpdate, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> CouponTemplatePublic:
    definition = await coupons.update_template(
        uow, clock, code, body.model_dump(exclude_unset=True), actor=_actor(api_key)
    )
    return CouponTemplatePublic.from_definition(definition)


# --- members' coupons --------------------------------------------------------------------------


@issued.post(
    "/coupons",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a coupon to a member",
    description=(
        "Refused with a 409 whose `reason` says why: the template is `inactive`, its days have "
        "`ended`, it is `sold_out`, the member's `tier` is too low, the member has reached the "
        "`limit`, or the idempotency key was used for another coupon (`key_reused`)."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such member or template"},
        status.HTTP_409_CONFLICT: {"model": RefusalPublic, "description": "Cannot be issued; `reason` says why"},
        status.HTTP_410_GONE: MEMBER_ERASED,
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def issue_coupon(
    body: CouponIssue,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
    idempotency_key: IdempotencyHeader = None,
) -> CouponPublic:
    member = await find_member(uow, member_number=body.member)
    # Scoped by the API key, as purchases are: keys of different callers never collide.
    issue_key = f"apikey:{api_key.id}:{idempotency_key}" if idempotency_key else None
    result = await coupons.issue(
        uow, clock, settings, member_id=member.id, template_code=body.template,
        actor=_actor(api_key), issue_key=issue_key,
    )
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CouponPublic.from_details(await coupons.find_coupon(uow, result.coupon.code))


@issued.get(
    "/members/{member_number}/coupons",
    summary="A member's coupons, newest first",
    description=f"Every coupon of the member, used ones included: the newest {MAX_LISTED}.",
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such member"},
        status.HTTP_410_GONE: MEMBER_ERASED,
    },
)
async def member_coupons(
    member_number: MemberNumberStr, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> CouponsPublic:
    member = await find_member(uow, member_number=member_number)
    rows = await coupons.member_coupons(uow, member, limit=MAX_LISTED)
    public = CouponsPublic(data=[CouponPublic.from_details(row) for row in rows], count=len(rows))
    await record_member_read(uow, clock, actor=_actor(api_key), member_id=member.id, what="coupons")
    return public


@issued.get(
    "/coupons/{code}",
    summary="Look up a coupon code a member shows",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No coupon with this code"}},
)
async def get_coupon(code: CouponCode, uow: UowDep) -> CouponPublic:
    return CouponPublic.from_details(await coupons.find_coupon(uow, code))


@issued.post(
    "/coupons/redeem",
    summary="Redeem a coupon against an order",
    description=(
        "Once per coupon: two tills redeeming one code at once get one success and one 409 "
        "`used`. The same order redeeming it again with the same body gets the first answer back, "
        "with `replayed: true` and `Idempotent-Replayed: true`; with another amount it is a 409 "
        "`key_reused`. Every refusal writes nothing."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No coupon with this code"},
        status.HTTP_409_CONFLICT: _REFUSED,
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def redeem_coupon(
    body: CouponRedeem,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> RedeemedPublic:
    request = coupons.RedeemRequest(
        code=body.code,
        store_code=body.store,
        order_id=body.order_id,
        amount_minor=body.amount_minor,
        currency=body.currency,
        member_number=(
            await member_number_for_qr(uow, settings, clock.now(), body.member, field="member") if body.member else None
        ),
    )
    redeemed = await coupons.redeem(uow, clock, settings, request, actor=_actor(api_key))
    if redeemed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return RedeemedPublic(
        discount_minor=redeemed.discount_minor,
        bonus_points=redeemed.bonus_points,
        replayed=redeemed.replayed,
        coupon=CouponPublic.from_details(
            coupons.CouponDetails(redeemed.coupon, redeemed.template, redeemed.member_number, redeemed.store_code)
        ),
    )


router.include_router(templates)
router.include_router(issued)
