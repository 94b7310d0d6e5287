"""The owner's member care pages: search by phone or member number, a member's page (their file
from loyalty/member_care.py) and the actions on it, each a form that re-shows what was typed,
with a sentence next to the field, when a rule refuses it (HTTP 422, nothing written).

Owners only: these pages show and change one person's data, which a marketer's work (campaigns
to segments) never needs."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.rendering import PAGE_HEADERS, render, texts_for
from api.console.texts import ConsoleTexts
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas.purchases import AdjustmentCreate
from db.uow import UnitOfWork
from loyalty import coupons, member_care
from loyalty.blocking import set_blocked
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.data_export import export_for_merchant
from loyalty.errors import InvalidInput, LoyaltyError, MemberErased, MemberNotFound
from loyalty.idempotency import IdempotencyKey, fingerprint
from loyalty.members import find_member
from loyalty.points import DailyCap, adjust_points

router = APIRouter(prefix="/console/members", include_in_schema=False)

DONE = frozenset({"adjusted", "coupon", "card", "blocked", "unblocked"})
TEMPLATES_SHOWN = 100


def refusal(t: ConsoleTexts, error: LoyaltyError | ValidationError) -> dict[str, str]:
    """The sentence for each field a refusal is about, in the reader's language."""
    if isinstance(error, ValidationError):
        sentences: dict[str, str] = {}
        for problem in error.errors():
            # No location: the model's own check (an adjustment of 0 points), about the points.
            field = str(problem["loc"][0]) if problem["loc"] else "points"
            key = f"members.refused.{problem['type']}"
            sentences.setdefault(field, t(key) if t.has(key) else t(f"members.refused.field.{field}"))
        return sentences
    field = getattr(error, "field", None) or _FIELD_OF.get(error.code, "form")
    key = f"members.refused.{error.code}"
    if not t.has(key) and t.has(f"members.refused.field.{field}"):
        key = f"members.refused.field.{field}"  # a rule's plain InvalidInput: the field says what was wrong
    reason = getattr(error, "reason", None)
    if reason and t.has(f"{key}_{reason}"):
        key = f"{key}_{reason}"
    values: Mapping[str, object] = {name: t.number(value) if isinstance(value, int) else value for name, value in error.details.items()}
    return {field: t(key, **values) if t.has(key) else t("members.refused.other")}


# Refusals that name no field, and the field they are about.
_FIELD_OF = {
    "insufficient_points": "points",
    "adjustment_cap_exceeded": "points",
    "points_limit_exceeded": "points",
    "coupon_template_not_found": "template",
    "coupon_unavailable": "template",
}


def _missing(request: Request, user: ConsoleUser, settings: Settings) -> Response:
    return render(request, "message.html", settings=settings, user=user, page="member_not_found", status_code=404)


@router.get("", response_class=HTMLResponse)
async def search(
    request: Request, user: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=200)] = None, erased: str | None = None,
) -> Response:
    found = None
    errors: dict[str, str] = {}
    if q is not None:
        try:
            found = await member_care.search(uow, clock, settings, q, actor=user.actor)
        except InvalidInput as error:
            errors = refusal(texts_for(settings, user.locale), error)
    return render(
        request, "members.html", settings=settings, user=user, nav="members", q=q or "", found=found,
        errors=errors, erased=erased if erased and erased.isdigit() else None, status_code=422 if errors else 200,
    )


async def _page(
    request: Request, user: ConsoleUser, uow: UnitOfWork, clock: Clock, settings: Settings, number: str,
    *, status_code: int = 200, errors: Mapping[str, str] | None = None, typed: Mapping[str, str] | None = None,
    done: str | None = None,
) -> Response:
    try:
        file = await member_care.member_file(uow, clock, settings, number, actor=user.actor)
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    templates, _ = await coupons.list_templates(uow, page=1, page_size=TEMPLATES_SHOWN)
    return render(
        request, "member.html", settings=settings, user=user, nav="members", file=file,
        templates=[definition.template for definition in templates if definition.template.active],
        errors=errors or {}, typed=typed or {}, done=done if done in DONE else None,
        nonce=secrets.token_urlsafe(16), status_code=status_code,
    )


@router.get("/{number}", response_class=HTMLResponse)
async def member(
    request: Request, number: str, user: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    done: str | None = None,
) -> Response:
    return await _page(request, user, uow, clock, settings, number, done=done)


def _back(number: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/members/{number}?done={done}", status_code=303, headers=PAGE_HEADERS)


@router.post("/{number}/adjust")
async def adjust(
    request: Request, number: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    points: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "", nonce: Annotated[str, Form()] = "",
) -> Response:
    typed = {"points": points, "reason": reason}
    try:
        asked = AdjustmentCreate.model_validate({"points": _whole(points), "reason": reason})
        await adjust_points(
            uow, clock, settings, member_number=number, points=asked.points, reason=asked.reason, actor=user.actor,
            idempotency=IdempotencyKey(
                scope=user.actor, key=f"console-adjust:{nonce or secrets.token_urlsafe(16)}",
                fingerprint=fingerprint({"member": number, "points": asked.points, "reason": asked.reason}),
            ),
            cap=DailyCap(points=settings.adjustment_daily_cap, staff_id=user.staff_id),
            tell_member=True,
        )
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    except (LoyaltyError, ValidationError) as error:
        await uow.rollback()
        errors = refusal(texts_for(settings, user.locale), error)
        return await _page(request, user, uow, clock, settings, number, status_code=422, errors=errors, typed=typed)
    return _back(number, "adjusted")


def _whole(raw: str) -> object:
    """A typed whole number as an int; anything else as typed, for the model to refuse."""
    text = raw.strip().replace(",", "").replace(" ", "")
    try:
        return int(text)
    except ValueError:
        return raw


@router.post("/{number}/coupon")
async def issue_coupon(
    request: Request, number: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    template: Annotated[str, Form()] = "",
) -> Response:
    try:
        if not template:
            raise InvalidInput("choose a coupon template", field="template")
        member = await find_member(uow, member_number=number)
        await coupons.issue(uow, clock, settings, member_id=member.id, template_code=template, actor=user.actor, source="api")
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    except LoyaltyError as error:
        await uow.rollback()
        errors = refusal(texts_for(settings, user.locale), error)
        return await _page(request, user, uow, clock, settings, number, status_code=422, errors=errors, typed={"template": template})
    return _back(number, "coupon")


@router.post("/{number}/card")
async def resend_card(
    request: Request, number: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep,
) -> Response:
    try:
        await member_care.resend_card(uow, clock, number, actor=user.actor)
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    except InvalidInput as error:
        errors = refusal(texts_for(settings, user.locale), error)
        return await _page(request, user, uow, clock, settings, number, status_code=422, errors=errors)
    return _back(number, "card")


@router.post("/{number}/block")
async def block(
    request: Request, number: str, settings: SettingsDep, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep,
    blocked: Annotated[str, Form()] = "",
) -> Response:
    try:
        member = await find_member(uow, member_number=number)
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    await set_blocked(uow, clock, member.id, blocked=blocked == "1", actor=user.actor)
    return _back(number, "blocked" if blocked == "1" else "unblocked")


@router.post("/{number}/export")
async def export(request: Request, number: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    try:
        exported = await export_for_merchant(uow, clock, settings, number, actor=user.actor)
    except (MemberNotFound, MemberErased):
        return _missing(request, user, settings)
    return Response(
        exported.model_dump_json(indent=2),
        media_type="application/json",
        headers={**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="member-{number}.json"'},
    )


@router.post("/{number}/erase")
async def erase(
    request: Request, number: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    confirmation: Annotated[str, Form()] = "",
) -> Response:
    try:
        await member_care.erase_confirmed(uow, clock, number, typed=confirmation, actor=user.actor)
    except MemberNotFound:
        return _missing(request, user, settings)
    except InvalidInput as error:
        errors = refusal(texts_for(settings, user.locale), error)
        return await _page(request, user, uow, clock, settings, number, status_code=422, errors=errors, typed={"confirmation": confirmation})
    return RedirectResponse(f"/console/members?erased={number}", status_code=303, headers=PAGE_HEADERS)
