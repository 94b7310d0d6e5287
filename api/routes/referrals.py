"""The referral program: its terms (GET/PUT), held referrals reviewed, and the funnel report.
The rules live in loyalty/referrals.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.exceptions import RequestValidationError

from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.errors import field_error
from api.route_docs import INVALID, NOT_FOUND
from api.schemas import ErrorPublic
from api.schemas.referrals import (
    FunnelPublic,
    ReferralPublic,
    ReferralReportPublic,
    ReferralsPublic,
    ReferralTerms,
    ReferrerFunnelPublic,
)
from db.models import ReferralStatus
from loyalty import referrals
from loyalty.kpis import MAX_PERIOD_DAYS

MAX_ROW_ID = 2**31 - 1
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 200

router = APIRouter(tags=["referrals"])
ReferralId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The referral's id.")]


@router.get(
    "/referral-program",
    summary="The referral program's terms",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No terms set yet: the program is off"}},
)
async def get_referral_program(uow: UowDep) -> ReferralTerms:
    terms = await referrals.current_terms(uow)
    if terms is None:
        raise referrals.ReferralNotFound("the referral program's terms were never set")
    return ReferralTerms.of(terms)


@router.put(
    "/referral-program",
    summary="Set the referral program's terms",
    description=(
        "Replaces the terms as a whole (audited). The friend's coupon and the referrer's coupon name "
        "coupon templates by code; an active program rewards the referrer with points, a coupon or both."
    ),
    responses={status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID},
)
async def put_referral_program(body: ReferralTerms, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep) -> ReferralTerms:
    return ReferralTerms.of(await referrals.set_terms(uow, clock, body.terms(), actor=f"apikey:{api_key.name}"))


@router.get(
    "/referrals",
    summary="List referrals, newest first",
    description="With `status=held`: the ones waiting for review (one of a burst of joins), to approve or reject.",
)
async def list_referrals(
    uow: UowDep,
    status_: Annotated[ReferralStatus | None, Query(alias="status", description="Only referrals in this status.")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> ReferralsPublic:
    rows, count = await referrals.list_referrals(uow, status_, page=page, page_size=page_size)
    return ReferralsPublic(
        data=[
            ReferralPublic.model_validate(referral).model_copy(update={"referrer": referrer, "friend": friend})
            for referral, referrer, friend in rows
        ],
        count=count, page=page, page_size=page_size,
    )


@router.post(
    "/referrals/{referral_id}/approve",
    summary="Approve a held referral",
    description="A held referral (one of a burst of joins) is paid once its hold has passed, at once if it has.",
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such referral"},
        status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "The referral is not held"},
    },
)
async def approve_referral(
    referral_id: ReferralId, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> ReferralPublic:
    referral = await referrals.review(
        uow, clock, settings, referral_id, approve=True, actor=f"apikey:{api_key.name}"
    )
    return ReferralPublic.model_validate(referral)


@router.post(
    "/referrals/{referral_id}/reject",
    summary="Reject a held referral",
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such referral"},
        status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "The referral is not held"},
    },
)
async def reject_referral(
    referral_id: ReferralId, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> ReferralPublic:
    referral = await referrals.review(
        uow, clock, settings, referral_id, approve=False, actor=f"apikey:{api_key.name}"
    )
    return ReferralPublic.model_validate(referral)


@router.get(
    "/referrals/report",
    summary="The referral funnel for a period",
    description=(
        "Of the friends who joined from `start` to `end` (local days in the program's TIMEZONE, both "
        "included): invited (links opened) → joined → first purchase → rewarded, with those held, "
        "voided and capped, the cost of the rewards and the friends' net purchases; in all and per "
        "referrer, most friends first, a page at a time."
    ),
    responses={status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID},
)
async def referral_report(
    uow: UowDep,
    settings: SettingsDep,
    start: Annotated[date, Query(description="First day (YYYY-MM-DD).")],
    end: Annotated[date, Query(description="Last day (YYYY-MM-DD), included.")],
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> ReferralReportPublic:
    if end < start:
        raise RequestValidationError([field_error(["query", "end"], "the period ends before it starts", "invalid_period")])
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise RequestValidationError(
            [field_error(["query", "start"], f"a period is at most {MAX_PERIOD_DAYS} days", "invalid_period")]
        )
    begins = datetime.combine(start, time(), settings.zone)
    ends = datetime.combine(end + timedelta(days=1), time(), settings.zone)
    result = await referrals.report(uow, settings, start=begins, end=ends, page=page, page_size=page_size)
    return ReferralReportPublic(
        start=start,
        end=end,
        total=FunnelPublic.of(result.total, result.reward_cost_minor),
        referrers=[
            ReferrerFunnelPublic(
                member_number=line.member_number,
                **FunnelPublic.of(line.funnel, referrals.reward_cost(line.funnel, settings)).model_dump(),
            )
            for line in result.referrers
        ],
        referrer_count=result.referrer_count,
        page=page,
        page_size=page_size,
    )



