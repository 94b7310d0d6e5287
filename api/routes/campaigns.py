"""Campaigns: broadcast a message to a segment of members, watch it send, pause, resume or
cancel it, and read its report; and the RFM segments audiences choose from.

The routes only translate; the rules live in loyalty/campaigns/. An API key acts as the
program's owner (`apikey:<id>`), so it may act on any campaign, whoever started it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from datetime import date, time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError

from api.deps import IDEMPOTENCY_KEY_PATTERN, ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.errors import field_error
from api.replay import answer_as
from api.schemas.campaigns import (
    AudienceSizePublic,
    CampaignCreate,
    CampaignDetailPublic,
    CampaignPublic,
    CampaignsPublic,
    ExpectedPublic,
    PreviewPublic,
    ReportPublic,
    RfmSegmentPublic,
    RfmSegmentsPublic,
    SamplePublic,
)
from api.schemas.common import ErrorPublic
from api.schemas.evaluation import EvaluationPublic
from db.models import Campaign
from db.uow import UnitOfWork
from loyalty.apikeys import AuthenticatedKey
from loyalty.campaigns import service
from loyalty.campaigns.evaluation import evaluate_campaign, evaluate_range
from loyalty.campaigns.report import campaign_report
from loyalty.campaigns.rfm import rfm_counts
from loyalty.campaigns.service import Actor, Button, CampaignDraft
from loyalty.clock import Clock
from loyalty.errors import InvalidCampaign, InvalidPeriod
from loyalty.idempotency import IdempotencyKey, Outcome, fingerprint

router = APIRouter()
campaigns = APIRouter(prefix="/campaigns", tags=["campaigns"])
segments = APIRouter(prefix="/segments", tags=["campaigns"])
evaluation = APIRouter(prefix="/evaluation", tags=["campaigns"])

MAX_LISTED = 100
MAX_SAMPLES = 10

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The campaign's id.", examples=[42])]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Create safely on a retry: the same key and body get the campaign the first "
        "request created (`Idempotent-Replayed: true`); the same key with another body is a 409.",
    ),
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such campaign"}}
_INVALID: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "Invalid campaign; `loc` names the field (e.g. `body.texts.en`, "
        "`body.audience.tiers`, `body.send_at`) and nothing is written"
    }
}
_STATE: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "model": ErrorPublic,
        "description": "Not allowed in the campaign's current status; `reason` is that status",
    }
}


def _actor(api_key: AuthenticatedKey) -> Actor:
    return Actor(f"apikey:{api_key.id}", "owner")


def _draft(body: CampaignCreate) -> CampaignDraft:
    if body.send_at is not None and body.local is not None:
        raise RequestValidationError(
            [field_error(["body", "local"], "give send_at or local, not both", "one_send_time")]
        )
    return CampaignDraft(
        name=body.name,
        texts=body.texts,
        audience=body.audience,
        image_url=body.image_url,
        coupon_template=body.coupon_template,
        buttons=tuple(Button(texts=button.texts, url=button.url) for button in body.buttons),
        send_at=body.send_at,
        local_date=body.local.date if body.local else None,
        local_time=_parse_time(body.local.time) if body.local else None,
        recurrence=body.recurrence,
        holdout_pct=body.holdout_pct,
        attribution_days=body.attribution_days,
    )


# The draft's names for the local send time, and the body's.
_BODY_FIELD = {"local_date": "local.date", "local_time": "local.time"}


@contextlib.contextmanager
def _named_as_in_body() -> Iterator[None]:
    """Refusals name the field as the request body spells it."""
    try:
        yield
    except InvalidCampaign as error:
        error.field = _BODY_FIELD.get(error.field, error.field)
        raise


def _parse_time(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")  # the schema checked the shape
    return time(int(hours), int(minutes))


async def _template_code(uow: UnitOfWork, campaign: Campaign) -> str | None:
    if campaign.coupon_template_id is None:
        return None
    template = await uow.coupons.template(campaign.coupon_template_id)
    return template.code if template else None


async def _detail(uow: UnitOfWork, clock: Clock, campaign: Campaign) -> CampaignDetailPublic:
    return CampaignDetailPublic.from_campaign_progress(
        campaign,
        await service.progress(uow, clock, campaign.id),
        coupon_template=await _template_code(uow, campaign),
    )


@campaigns.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign",
    description=(
        "Checks everything before writing anything: texts and their placeholders, the audience's "
        "codes, the coupon template, the image URL (https), the send time (not in the past; "
        "`send_at` or `local`, never both), the hold-out share. It starts by itself at its time "
        "(now when none is given): recipients are chosen then, the hold-out set aside, and the "
        "messages go out at Telegram's limit, respecting each member's opt-outs and quiet hours."
    ),
    responses={
        **_INVALID,
        status.HTTP_409_CONFLICT: {
            "model": ErrorPublic,
            "description": "The idempotency key was used for another request",
        },
    },
)
async def create_campaign(
    body: CampaignCreate,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
    idempotency_key: IdempotencyHeader = None,
) -> CampaignDetailPublic:
    key = (
        IdempotencyKey(
            # Its own scope: a key a till also used for a purchase never collides with it.
            scope=f"apikey:{api_key.id}:campaigns",
            key=idempotency_key,
            fingerprint=fingerprint(body.model_dump(mode="json")),
        )
        if idempotency_key
        else None
    )
    with _named_as_in_body():
        created = await service.create_campaign_once(
            uow, clock, settings, _draft(body), actor=_actor(api_key), key=key
        )
    # A replay shows the campaign the first request created as it is now (it may have started since).
    answer_as(response, Outcome.created, replayed=created.replayed)
    return await _detail(uow, clock, await service.get_campaign(uow, created.campaign_id))


@campaigns.post(
    "/preview",
    summary="Preview a campaign: audience size and the text for a few members",
    description=(
        "Takes the body of `POST /api/v1/campaigns`, checks it the same way and writes nothing: "
        "how many members the audience holds now (reachable, opted out, unreachable), about how "
        "many the hold-out keeps back, the message rendered for a few of them, and whether the "
        "hold-out test could be read: the audience's usual conversion, the smallest lift it could "
        "detect, the hold-out share that would make it readable, and a warning when it could not be."
    ),
    responses=_INVALID,
)
async def preview_campaign(
    body: CampaignCreate,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    samples: Annotated[int, Query(ge=0, le=MAX_SAMPLES, description="How many members to render it for.")] = 3,
) -> PreviewPublic:
    with _named_as_in_body():
        preview = await service.preview(uow, clock, settings, _draft(body), samples=samples)
    size = preview.audience
    test = preview.readability
    return PreviewPublic(
        audience=AudienceSizePublic(
            total=size.total, reachable=size.reachable, opted_out=size.opted_out, unreachable=size.unreachable
        ),
        holdout=preview.holdout,
        expected=ExpectedPublic(**asdict(preview.expected)),
        coupon_rules_not_applied=list(preview.coupon_rules_not_applied),
        samples=[
            SamplePublic(member_number=sample.member_number, locale=sample.locale, text=sample.text)
            for sample in preview.samples
        ],
        baseline_conversion=test.baseline_conversion if test else None,
        minimum_detectable_lift=test.mde.relative if test and test.mde else None,
        suggested_holdout_pct=test.suggested_holdout_pct if test else None,
        holdout_warning=test.warning.value if test and test.warning else None,
    )


@campaigns.get("", summary="List campaigns, newest first")
async def list_campaigns(
    uow: UowDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="How many, newest first.")] = 20,
) -> CampaignsPublic:
    rows = await service.list_campaigns(uow, limit=limit)
    codes = {template.id: template.code for template in await _templates_of(uow, rows)}
    data = [
        CampaignPublic.from_campaign(row, coupon_template=codes.get(row.coupon_template_id or 0)) for row in rows
    ]
    return CampaignsPublic(data=data, count=len(data))


async def _templates_of(uow: UnitOfWork, rows: list[Campaign]) -> list[Any]:
    ids = {row.coupon_template_id for row in rows if row.coupon_template_id is not None}
    templates = [await uow.coupons.template(template_id) for template_id in sorted(ids)]
    return [template for template in templates if template is not None]


@campaigns.get(
    "/{campaign_id}",
    summary="A campaign and its progress",
    description="Its definition, and where delivery stands: recipients by outcome, the rate "
    "(messages per second over the last 10 seconds) and the seconds left at that rate.",
    responses=_NOT_FOUND,
)
async def get_campaign(campaign_id: CampaignId, uow: UowDep, clock: ClockDep) -> CampaignDetailPublic:
    return await _detail(uow, clock, await service.get_campaign(uow, campaign_id))


Transition = Callable[..., Awaitable[Campaign]]


async def _transition(
    change: Transition, campaign_id: int, uow: UnitOfWork, clock: Clock, api_key: AuthenticatedKey
) -> CampaignDetailPublic:
    campaign = await change(uow, clock, campaign_id, actor=_actor(api_key))  # commits
    return await _detail(uow, clock, campaign)


@campaigns.post(
    "/{campaign_id}/pause",
    summary="Pause a campaign",
    description="A scheduled or sending campaign stops sending; messages in flight finish. "
    "Any other status is a 409 whose `reason` is that status.",
    responses=_NOT_FOUND | _STATE,
)
async def pause_campaign(
    campaign_id: CampaignId, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> CampaignDetailPublic:
    return await _transition(service.pause, campaign_id, uow, clock, api_key)


@campaigns.post(
    "/{campaign_id}/resume",
    summary="Resume a paused campaign",
    description="It carries on where it stopped (or waits for its time if it never started). "
    "Any status but paused is a 409 whose `reason` is that status.",
    responses=_NOT_FOUND | _STATE,
)
async def resume_campaign(
    campaign_id: CampaignId, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> CampaignDetailPublic:
    return await _transition(service.resume, campaign_id, uow, clock, api_key)


@campaigns.post(
    "/{campaign_id}/cancel",
    summary="Cancel a campaign",
    description="Nothing more is sent: recipients still pending are marked cancelled. A campaign "
    "already done or cancelled is a 409 whose `reason` is that status.",
    responses=_NOT_FOUND | _STATE,
)
async def cancel_campaign(
    campaign_id: CampaignId, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> CampaignDetailPublic:
    return await _transition(service.cancel, campaign_id, uow, clock, api_key)


@campaigns.get(
    "/{campaign_id}/report",
    summary="A campaign's report: delivery, and targeted against hold-out",
    description=(
        "Delivery (sent, failed, skipped by reason, deferred by quiet hours, held out, "
        "cancelled, pending) and, over the attribution window (from the start, `attribution_days` "
        "long, up to now while open), each group's members, buyers, conversion, purchases, "
        "revenue net of refunds, revenue per member and coupons used. Targeted is every recipient "
        "not held out, reached or not (intent-to-treat). Then the relative conversion lift with "
        "its 95% confidence interval (null without buyers in both groups: not enough data), "
        "incremental revenue, what this campaign's coupons used in the window cost, and ROI."
    ),
    responses=_NOT_FOUND,
)
async def get_report(
    campaign_id: CampaignId, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> ReportPublic:
    return ReportPublic.from_report(await campaign_report(uow, clock, settings, campaign_id))


_EVALUATION = (
    "Three windows of equal length, before, during and after, each with new registrations and "
    "member growth (program-wide), the group's members, buyers, purchases, revenue net of refunds, "
    "buyer share, spend per member, purchase frequency, average order value, participation and "
    "conversion, and coupon cost; retention (during buyers who bought again after; null until the "
    "after window ends); the naive effect (during - before, with its ROI) and the reasons it may "
    "differ from the causal one."
)


@campaigns.get(
    "/{campaign_id}/evaluation",
    summary="A campaign before, during and after, naive against hold-out",
    description=(
        "During is the report's attribution window; the group is the targeted members (every "
        "recipient not held out), and who took part is those the message reached. " + _EVALUATION
        + " The causal effect is the report's: targeted against the hold-out over the during "
        "window, with the hold-out's own drift from before. A campaign that never started is a "
        "409 whose `reason` is its status."
    ),
    responses=_NOT_FOUND | _STATE,
)
async def get_evaluation(
    campaign_id: CampaignId, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> EvaluationPublic:
    return EvaluationPublic.of(await evaluate_campaign(uow, clock, settings, campaign_id))


@evaluation.get(
    "",
    summary="A range of days before, during and after",
    description=(
        "The local days `start`..`end` (both included, the program's time zone) for every member, "
        "against as many days just before and just after. Who took part is who bought, so "
        "conversion is null, and there is no hold-out, so no causal effect. " + _EVALUATION
        + " A range that ends before it starts, starts after today or runs longer than three "
        "years is a 422 naming `start` or `end`."
    ),
    responses=_INVALID,
)
async def get_range_evaluation(
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    start: Annotated[date, Query(description="The first day, local (YYYY-MM-DD).")],
    end: Annotated[date, Query(description="The last day, included.")],
) -> EvaluationPublic:
    try:
        return EvaluationPublic.of(await evaluate_range(uow, clock, settings, start, end))
    except InvalidPeriod as error:
        raise RequestValidationError(
            [field_error(["query", error.field or "start"], str(error), error.code)]
        ) from None


@segments.get(
    "/rfm",
    summary="Members per RFM segment",
    description=(
        "Recency, frequency and monetary scores (1-5, by quintile over members who bought in the "
        "last 365 days; below 100 such buyers, recency and frequency by fixed cut-offs: a last "
        "purchase within 14/30/60/120 days, 12/6/3/2 purchases) named as segments; campaigns "
        "choose them with `audience.rfm`."
    ),
)
async def rfm_segments(uow: UowDep, clock: ClockDep) -> RfmSegmentsPublic:
    now = clock.now()
    counts = await rfm_counts(uow, now=now)
    return RfmSegmentsPublic(
        as_of=now,
        data=[RfmSegmentPublic(segment=segment, members=count) for segment, count in counts.items()],
        total=sum(counts.values()),
    )


router.include_router(campaigns)
router.include_router(segments)
router.include_router(evaluation)
