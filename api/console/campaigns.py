"""Campaigns from the console: the builder (a form with a live preview), creating one, and on a
campaign's page pause / resume / cancel and the live progress.

Thin, like every console page: the form is read into the API's own body and checked by the same
model and the same service (api/console/campaign_form.py, loyalty/campaigns/service.py), which
also decides who may change a campaign (a marketer their own, an owner any) and audits every
change with the staff member as actor. A double submit creates one campaign: the form carries a
token of its own, used as the idempotency key the API takes in a header.
"""

from __future__ import annotations

import html
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.campaign_form import (
    WHEN_CHOICES,
    Refusal,
    body_of,
    draft_of,
    form_values,
    refusal_of,
)
from api.console.deps import CheckedCsrf, ConsoleRefusal, CurrentStaff
from api.console.rendering import PAGE_HEADERS, render, texts_for
from api.console.texts import ConsoleTexts
from api.deps import IDEMPOTENCY_KEY_PATTERN, ClockDep, SettingsDep, UowDep
from db.uow import UnitOfWork
from loyalty import coupons, stores, tiers
from loyalty.campaigns import service
from loyalty.campaigns.audience import RfmSegment
from loyalty.campaigns.power import READABLE_MDE
from loyalty.campaigns.service import HOLDOUT_MAX_PCT, MAX_BUTTONS, Actor
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import (
    CampaignNotFound,
    CampaignStateConflict,
    IdempotencyConflict,
    InvalidCampaign,
    StaffOnly,
)
from loyalty.idempotency import IdempotencyKey, fingerprint

router = APIRouter(prefix="/console/campaigns", include_in_schema=False)

SAMPLES = 3
TEMPLATES_LISTED = 200
RFM_SEGMENTS: tuple[RfmSegment, ...] = ("champions", "loyal", "potential", "new", "at_risk", "hibernating")
# The progress fragment is polled this often while a campaign may still send.
POLL_SECONDS = 3
_TOKEN_BYTES = 18


def sentences(problems: dict[str, str], t: ConsoleTexts) -> dict[str, str]:
    """Each problem as a sentence in the reader's language: the field's own words for it when
    there are some (`builder.problems.holdout_pct.range`), else the problem's, else a general one."""
    said = {}
    for name, problem in problems.items():
        kind = re.sub(r"^text_.*$", "text", re.sub(r"^button_\d+_(url|texts)$", r"button_\1", name))
        kind = re.sub(r"^button_\d+_.*$", "button_label", kind)
        for key in (f"builder.problems.{kind}.{problem}", f"builder.problems.{problem}"):
            if t.has(key):
                said[name] = t(key)
                break
        else:
            said[name] = t("builder.problems.invalid")
    return said


def actor_of(user: ConsoleUser) -> Actor:
    return Actor(user.actor, user.role)


async def _choices(uow: UnitOfWork) -> dict[str, Any]:
    """What the builder offers to pick from: tiers, stores, active coupon templates."""
    templates, _ = await coupons.list_templates(uow, page=1, page_size=TEMPLATES_LISTED)
    return {
        "tier_choices": list(await tiers.list_tiers(uow)),
        "store_choices": await stores.list_stores(uow),
        "template_choices": [definition.template for definition in templates if definition.template.active],
        "rfm_choices": RFM_SEGMENTS,
        "locales_all": SUPPORTED_LOCALES,
        "max_buttons": MAX_BUTTONS,
        "when_choices": WHEN_CHOICES,
        "holdout_max": HOLDOUT_MAX_PCT,
    }


async def _builder(
    request: Request,
    uow: UnitOfWork,
    settings: Settings,
    user: ConsoleUser,
    values: dict[str, Any],
    *,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = await _choices(uow)
    await uow.release()
    return render(
        request, "campaign_new.html", settings=settings, user=user, status_code=status_code, nav="campaigns",
        values=values, problems=sentences(problems or {}, texts_for(settings, user.locale)), **context,
    )


def _defaults(settings: Settings) -> dict[str, Any]:
    return {
        "form_token": secrets.token_urlsafe(_TOKEN_BYTES),
        "when": "now",
        "holdout_pct": str(settings.campaign_holdout_pct),
        "attribution_days": str(settings.campaign_attribution_days),
        "tiers": [],
        "rfm": [],
    }


@router.get("/new", response_class=HTMLResponse)
async def new_campaign(request: Request, user: CurrentStaff, uow: UowDep, settings: SettingsDep) -> Response:
    return await _builder(request, uow, settings, user, _defaults(settings))


async def _typed(request: Request) -> dict[str, Any]:
    form = await request.form()
    multi = {name: [str(value) for value in form.getlist(name)] for name in ("tiers", "rfm")}
    return form_values({key: form.get(key) for key in form}, multi)


@router.post("/preview", response_class=HTMLResponse)
async def preview(
    request: Request, user: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """The fragment htmx swaps in as the form changes: the audience's size, the expected
    hold-out, the smallest lift it could show, the suggested share and the text for a few
    members. A form that cannot be previewed yet says why, in the same place (200, so htmx
    swaps it in)."""
    values = await _typed(request)
    try:
        draft = draft_of(body_of(values, settings.zone))
        result = await service.preview(uow, clock, settings, draft, samples=SAMPLES)
    except Refusal as refusal:
        return _fragment(request, settings, user, problems=refusal.problems)
    except InvalidCampaign as error:
        return _fragment(request, settings, user, problems=refusal_of(error).problems)
    await uow.release()
    test = result.readability
    samples = [(sample.member_number, sample.locale, html.unescape(sample.text)) for sample in result.samples]
    holdout_pct = draft.holdout_pct if draft.holdout_pct is not None else settings.campaign_holdout_pct
    return _fragment(
        request, settings, user, preview=result, samples=samples, holdout_pct=holdout_pct,
        mde=test.mde.relative if test and test.mde else None,
        suggested=test.suggested_holdout_pct if test else None,
        warning=test.warning.value if test and test.warning else None,
        baseline=test.baseline_conversion if test else None,
        readable_mde=READABLE_MDE,
    )


def _fragment(request: Request, settings: Settings, user: ConsoleUser, **context: Any) -> HTMLResponse:
    context["problems"] = sentences(context.get("problems") or {}, texts_for(settings, user.locale))
    context.setdefault("preview", None)
    return render(request, "campaign_preview.html", settings=settings, user=user, **context)


@router.post("/new", response_class=HTMLResponse)
async def create(
    request: Request, user: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    values = await _typed(request)
    token = str(values.get("form_token") or "")
    if not _token_ok(token):
        values["form_token"] = secrets.token_urlsafe(_TOKEN_BYTES)
        return await _builder(request, uow, settings, user, values, problems={"form": "stale_form"}, status_code=422)
    try:
        body = body_of(values, settings.zone)
        draft = draft_of(body)
        key = IdempotencyKey(scope=f"{user.actor}:console-campaigns", key=token, fingerprint=fingerprint(body))
        created = await service.create_campaign_once(uow, clock, settings, draft, actor=actor_of(user), key=key)
    except Refusal as refusal:
        await uow.rollback()
        return await _builder(request, uow, settings, user, values, problems=refusal.problems, status_code=422)
    except InvalidCampaign as error:
        await uow.rollback()
        return await _builder(request, uow, settings, user, values, problems=refusal_of(error).problems, status_code=422)
    except IdempotencyConflict:
        await uow.rollback()
        values["form_token"] = secrets.token_urlsafe(_TOKEN_BYTES)
        return await _builder(request, uow, settings, user, values, problems={"form": "sent_already"}, status_code=409)
    return RedirectResponse(f"/console/campaigns/{created.campaign_id}", status_code=303, headers=PAGE_HEADERS)


def _token_ok(token: str) -> bool:
    return re.fullmatch(IDEMPOTENCY_KEY_PATTERN, token) is not None


def _campaign_id(raw: str, user: ConsoleUser) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise ConsoleRefusal(404, "not_found", user)
    return int(raw)


@router.get("/{campaign_id}/progress", response_class=HTMLResponse)
async def progress(
    request: Request, campaign_id: str, user: CurrentStaff, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """The live progress, polled while the campaign may still send; once it is over, the page
    reloads to show the report as it ended."""
    number = _campaign_id(campaign_id, user)
    try:
        campaign = await service.get_campaign(uow, number)
    except CampaignNotFound:
        raise ConsoleRefusal(404, "not_found", user) from None
    delivery = await service.progress(uow, clock, number)
    await uow.release()
    response = render(
        request, "campaign_progress.html", settings=settings, user=user, campaign=campaign, progress=delivery,
        poll_seconds=POLL_SECONDS,
    )
    seen = request.query_params.get("seen")
    if seen is not None and seen != campaign.status and request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"  # the status changed: the page's buttons and report with it
    return response


@router.get("/{campaign_id}/cancel", response_class=HTMLResponse)
async def confirm_cancel(
    request: Request, campaign_id: str, user: CurrentStaff, uow: UowDep, settings: SettingsDep
) -> Response:
    """Cancelling cannot be undone: this page asks first, refusing as the cancel would."""
    number = _campaign_id(campaign_id, user)
    try:
        campaign = await service.cancellable(uow, number, actor=actor_of(user))
    except CampaignNotFound:
        raise ConsoleRefusal(404, "not_found", user) from None
    except StaffOnly:
        raise ConsoleRefusal(403, "forbidden", user) from None
    except CampaignStateConflict:
        raise ConsoleRefusal(409, "campaign_state", user) from None
    return render(request, "campaign_cancel.html", settings=settings, user=user, campaign=campaign, nav="campaigns")


CHANGES = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}


async def _change(action: str, campaign_id: str, user: ConsoleUser, uow: UnitOfWork, clock: ClockDep) -> Response:
    number = _campaign_id(campaign_id, user)
    try:
        await CHANGES[action](uow, clock, number, actor=actor_of(user))  # commits, and audits
    except CampaignNotFound:
        raise ConsoleRefusal(404, "not_found", user) from None
    except StaffOnly:
        raise ConsoleRefusal(403, "forbidden", user) from None
    except CampaignStateConflict:
        raise ConsoleRefusal(409, "campaign_state", user) from None
    return RedirectResponse(f"/console/campaigns/{number}", status_code=303, headers=PAGE_HEADERS)


@router.post("/{campaign_id}/pause")
async def pause(campaign_id: str, user: CheckedCsrf, uow: UowDep, clock: ClockDep) -> Response:
    return await _change("pause", campaign_id, user, uow, clock)


@router.post("/{campaign_id}/resume")
async def resume(campaign_id: str, user: CheckedCsrf, uow: UowDep, clock: ClockDep) -> Response:
    return await _change("resume", campaign_id, user, uow, clock)


@router.post("/{campaign_id}/cancel")
async def cancel(
    campaign_id: str,
    user: CheckedCsrf,
    uow: UowDep,
    clock: ClockDep,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes":  # only the confirmation page's button sends it
        number = _campaign_id(campaign_id, user)
        return RedirectResponse(f"/console/campaigns/{number}/cancel", status_code=303, headers=PAGE_HEADERS)
    return await _change("cancel", campaign_id, user, uow, clock)
