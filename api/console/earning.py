"""Earning rules (owner only): the base rate, promotions with their dates and categories, and
bonuses; created, edited and deactivated through loyalty/earning.py as the API's
/earning-rules routes do, each form read by the API's own models. And a calculator: what a
sample purchase would earn for a tier, by loyalty.earning.sample_points, writing nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.forms import Unreadable, field_of, major, money_minor, whole
from api.console.rendering import PAGE_HEADERS, render
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas import EarningRuleCreate, EarningRuleUpdate
from db.models import EarningRule
from db.uow import UnitOfWork
from loyalty import earning, tiers
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import InvalidInput, RuleNotFound

router = APIRouter(prefix="/console/earning", include_in_schema=False)

FIELDS = ("name", "kind", "points", "per_amount", "multiplier_pct", "category", "event", "starts_at", "ends_at")
CALCULATOR = ("amount", "category", "tier", "birthday")
MAX_RULE_ID = 2**31 - 1


def _form_of(rule: EarningRule, settings: Settings) -> dict[str, str]:
    def moment(value: datetime | None) -> str:
        return value.astimezone(settings.zone).strftime("%Y-%m-%dT%H:%M") if value else ""

    return {
        "name": rule.name, "kind": str(rule.kind), "points": "" if rule.points is None else str(rule.points),
        "per_amount": "" if rule.per_amount_minor is None else major(rule.per_amount_minor, settings.currency),
        "multiplier_pct": "" if rule.multiplier_pct is None else str(rule.multiplier_pct),
        "category": rule.category or "", "event": rule.event or "",
        "starts_at": moment(rule.starts_at), "ends_at": moment(rule.ends_at),
    }


def _body(form: dict[str, str], kind: str, settings: Settings) -> dict[str, Any]:
    """The API's JSON body for the form: the fields the kind uses, typed; an empty one is null."""
    used = earning.ALLOWED_FIELDS.get(kind, set())
    body: dict[str, Any] = {"name": form["name"].strip()}
    for name in sorted(used):
        text = form["per_amount" if name == "per_amount_minor" else name].strip()
        if not text:
            body[name] = None
        elif name == "per_amount_minor":
            body[name] = money_minor(text, settings.currency, name)
        elif name in ("points", "multiplier_pct"):
            body[name] = whole(text, name)
        elif name in ("starts_at", "ends_at"):
            try:
                body[name] = datetime.fromisoformat(text).replace(tzinfo=settings.zone)
            except ValueError:
                raise Unreadable(name) from None
        else:
            body[name] = text
    return body


async def _page(
    request: Request, uow: UnitOfWork, clock: Clock, settings: Settings, user: ConsoleUser, *,
    status_code: int = 200, **more: Any,
) -> Response:
    rules = await earning.list_rules(uow)
    context: dict[str, Any] = {
        "nav": "earning", "form": dict.fromkeys(FIELDS, ""), "problem": None, "editing": None,
        "calc": {"amount": "", "category": "", "tier": "", "birthday": ""}, "calc_problem": None, "earned": None,
        "saved": request.query_params.get("saved") == "1",
    }
    context.update(more)
    return render(
        request, "earning.html", settings=settings, user=user, status_code=status_code,
        rules=rules, kinds=earning.KINDS, events=earning.BONUS_EVENTS, ladder=await tiers.list_tiers(uow),
        now=clock.now(), **context,
    )


def _done() -> Response:
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": "/console/earning?saved=1"})


@router.get("", response_class=HTMLResponse)
async def rules_page(request: Request, user: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    asked = {name: request.query_params.get(name, "") for name in CALCULATOR}
    if not asked["amount"]:
        return await _page(request, uow, clock, settings, user)
    try:
        earned = await earning.sample_points(
            uow, clock,
            amount_minor=money_minor(asked["amount"], settings.currency, "amount_minor"),
            tier_code=asked["tier"], category=asked["category"].strip() or None, birthday_month=asked["birthday"] == "1",
        )
    except (Unreadable, InvalidInput) as refused:
        return await _page(request, uow, clock, settings, user, status_code=422, calc=asked, calc_problem=field_of(refused, "amount_minor"))
    return await _page(request, uow, clock, settings, user, calc=asked, earned=earned)


async def _typed(request: Request) -> dict[str, str]:
    form = await request.form()
    return {name: str(form.get(name) or "") for name in FIELDS}


@router.post("", response_class=HTMLResponse)
async def create_rule(
    request: Request, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    form = await _typed(request)
    try:
        body = {"kind": form["kind"], **_body(form, form["kind"], settings)}
        spec = EarningRuleCreate.model_validate({name: value for name, value in body.items() if value is not None}).spec()
        await earning.create_rule(uow, clock, spec, actor=owner.actor)
    except (Unreadable, ValidationError, InvalidInput) as refused:
        return await _page(request, uow, clock, settings, owner, status_code=422, form=form, problem=field_of(refused, "name"))
    return _done()


async def _rule(rule_id: str, uow: UnitOfWork) -> EarningRule:
    if not rule_id.isdigit() or not 0 < int(rule_id) <= MAX_RULE_ID:
        raise RuleNotFound(rule_id)
    return await earning.find_rule(uow, int(rule_id))


@router.get("/{rule_id}", response_class=HTMLResponse)
async def edit_page(
    request: Request, rule_id: str, user: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    try:
        rule = await _rule(rule_id, uow)
    except RuleNotFound:
        return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
    return await _page(request, uow, clock, settings, user, form=_form_of(rule, settings), editing=rule)


@router.post("/{rule_id}", response_class=HTMLResponse)
async def update_rule(
    request: Request, rule_id: str, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    try:
        rule = await _rule(rule_id, uow)
    except RuleNotFound:
        return render(request, "message.html", settings=settings, user=owner, page="not_found", status_code=404)
    form = await _typed(request)
    form["kind"] = str(rule.kind)
    try:
        changes = EarningRuleUpdate.model_validate(_body(form, form["kind"], settings)).changes()
        await earning.update_rule(uow, clock, rule.id, changes, actor=owner.actor)
    except (Unreadable, ValidationError, InvalidInput) as refused:
        return await _page(request, uow, clock, settings, owner, status_code=422, form=form, editing=rule, problem=field_of(refused, "name"))
    return _done()


@router.post("/{rule_id}/deactivate", response_class=HTMLResponse)
async def deactivate_rule(
    request: Request, rule_id: str, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    try:
        rule = await _rule(rule_id, uow)
    except RuleNotFound:
        return render(request, "message.html", settings=settings, user=owner, page="not_found", status_code=404)
    await earning.deactivate_rule(uow, clock, rule.id, actor=owner.actor)
    return _done()
