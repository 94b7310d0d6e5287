"""Rewards and coupon templates (owners and marketers): a list and a create/edit form for each,
read by the API's own models (RewardCreate/Update, CouponTemplateCreate/Update) and saved
through loyalty/rewards.py and loyalty/coupons.py, as the API's routes do. Names and
descriptions in one language or both; a refusal is shown beside its field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from api.console.deps import CheckedCsrf, CurrentStaff
from api.console.forms import Unreadable, field_of, major, money_minor, whole
from api.console.rendering import CONTENT_SECURITY_POLICY, PAGE_HEADERS, render
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas.coupons import CouponTemplateCreate, CouponTemplateUpdate
from api.schemas.rewards import RewardCreate, RewardUpdate
from db.uow import UnitOfWork
from loyalty import coupons, rewards, tiers
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import CouponTemplateExists, CouponTemplateNotFound, InvalidInput, RewardExists, RewardNotFound

router = APIRouter(prefix="/console", include_in_schema=False)

LISTED = 100
# These pages show the merchant's pictures, hosted wherever they chose (https only): their
# images may come from any https host; every other page keeps the console's own policy.
PICTURES_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", "img-src 'self' data: https:")
MONEY_KINDS = ("amount_off", "free_item")


@dataclass(frozen=True)
class Field:
    name: str  # the form's
    kind: str  # text, area, number, money, datetime, date, select, check, list
    api: str = ""  # the API model's field, when another name
    create_only: bool = False
    options: tuple[str, ...] = ()

    @property
    def api_name(self) -> str:
        return self.api or self.name


TEXTS = tuple(
    Field(f"{part}_{locale}", "text" if part == "name" else "area", api=f"{part}s")
    for part in ("name", "description") for locale in SUPPORTED_LOCALES
)
REWARD_FIELDS = (
    Field("code", "text", create_only=True), *TEXTS,
    Field("points_price", "number"), Field("cash_value", "money", api="cash_value_minor"), Field("stock", "number"),
    Field("min_tier", "tier"), Field("active_from", "datetime"), Field("active_until", "datetime"),
    Field("image_url", "text"), Field("active", "check"),
)
TEMPLATE_FIELDS = (
    Field("code", "text", create_only=True), *TEXTS,
    Field("kind", "select", create_only=True, options=tuple(coupons.KINDS)), Field("value", "value", create_only=True),
    Field("min_spend", "money", api="min_spend_minor"), Field("valid_from", "date"), Field("valid_until", "date"),
    Field("valid_days", "number"), Field("stores", "list"), Field("cities", "list"), Field("min_tier", "tier"),
    Field("per_member_limit", "number"), Field("total_quantity", "number"),
    Field("auto_issue", "select", create_only=True, options=("", *coupons.AUTO_ISSUE)), Field("image_url", "text"),
    Field("active", "check"),
)


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def read(fields: tuple[Field, ...], form: dict[str, str], settings: Settings, *, creating: bool) -> dict[str, Any]:
    """The API's JSON body for the form (an empty optional field is null, texts by locale)."""
    body: dict[str, Any] = {"names": {}, "descriptions": {}}
    for item in fields:
        if item.create_only and not creating:
            continue
        text = form.get(item.name, "").strip()
        name = item.api_name
        if item.api in ("names", "descriptions"):
            if text:
                body[name][item.name.split("_", 1)[1]] = text
            continue
        if item.kind == "check":
            body[name] = text == "1"
        elif item.kind == "list":
            body[name] = _listed(text)
        elif not text:
            body[name] = None
        elif item.kind == "money" or (item.kind == "value" and form.get("kind") in MONEY_KINDS):
            body[name] = money_minor(text, settings.currency, name)
        elif item.kind in ("number", "value"):
            body[name] = whole(text, name)
        elif item.kind == "datetime":
            try:
                body[name] = datetime.fromisoformat(text).replace(tzinfo=settings.zone)
            except ValueError:
                raise Unreadable(name) from None
        elif item.kind == "date":
            try:
                body[name] = date.fromisoformat(text)
            except ValueError:
                raise Unreadable(name) from None
        else:
            body[name] = text
    return body


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """For a create: a null means the model's default."""
    return {name: value for name, value in body.items() if value is not None}


@dataclass(frozen=True)
class Catalogue:
    """One kind of thing on offer: its page, fields, model and service."""

    path: str
    nav: str
    fields: tuple[Field, ...]
    create_model: type[BaseModel]
    update_model: type[BaseModel]
    listing: Callable[[UnitOfWork], Awaitable[list[Any]]]
    create: Callable[[UnitOfWork, Clock, Settings, dict[str, Any], str], Awaitable[Any]]
    update: Callable[[UnitOfWork, Clock, Settings, str, dict[str, Any], str], Awaitable[Any]]
    find: Callable[[UnitOfWork, str], Awaitable[Any]]
    form_of: Callable[[Any, Settings], dict[str, str]]
    exists: type[Exception]
    not_found: type[Exception]


def _moment(value: datetime | None, settings: Settings) -> str:
    return value.astimezone(settings.zone).strftime("%Y-%m-%dT%H:%M") if value else ""


def _texts(names: dict[str, str] | None, descriptions: dict[str, str] | None) -> dict[str, str]:
    form = {}
    for locale in SUPPORTED_LOCALES:
        form[f"name_{locale}"] = (names or {}).get(locale, "")
        form[f"description_{locale}"] = (descriptions or {}).get(locale, "")
    return form


def _reward_form(definition: rewards.RewardDefinition, settings: Settings) -> dict[str, str]:
    reward = definition.reward
    return {
        "code": reward.code, **_texts(reward.names, reward.descriptions), "points_price": str(reward.points_price),
        "cash_value": major(reward.cash_value_minor, settings.currency), "stock": "" if reward.stock is None else str(reward.stock),
        "min_tier": definition.min_tier.code if definition.min_tier and definition.min_tier.rank else "",
        "active_from": _moment(reward.active_from, settings), "active_until": _moment(reward.active_until, settings),
        "image_url": reward.image_url or "", "active": "1" if reward.active else "",
    }


def _template_form(definition: coupons.TemplateDefinition, settings: Settings) -> dict[str, str]:
    template = definition.template
    value = major(template.value, settings.currency) if template.kind in MONEY_KINDS else str(template.value)
    return {
        "code": template.code, **_texts(template.names, template.descriptions), "kind": str(template.kind), "value": value,
        "min_spend": major(template.min_spend_minor, settings.currency),
        "valid_from": template.valid_from.isoformat() if template.valid_from else "",
        "valid_until": template.valid_until.isoformat() if template.valid_until else "",
        "valid_days": "" if template.valid_days is None else str(template.valid_days),
        "stores": ", ".join(definition.store_codes), "cities": ", ".join(template.cities or []),
        "min_tier": definition.min_tier.code if definition.min_tier else "",
        "per_member_limit": str(template.per_member_limit),
        "total_quantity": "" if template.total_quantity is None else str(template.total_quantity),
        "auto_issue": template.auto_issue or "", "image_url": template.image_url or "",
        "active": "1" if template.active else "",
    }


async def _rewards(uow: UnitOfWork) -> list[Any]:
    return (await rewards.list_rewards(uow, page=1, page_size=LISTED))[0]


async def _templates(uow: UnitOfWork) -> list[Any]:
    return (await coupons.list_templates(uow, page=1, page_size=LISTED))[0]


async def _create_reward(uow: UnitOfWork, clock: Clock, settings: Settings, body: dict[str, Any], actor: str) -> Any:
    model = RewardCreate.model_validate(_without_nulls(body))
    return await rewards.create_reward(uow, clock, rewards.RewardSpec(**model.model_dump()), program_currency=settings.currency, actor=actor)


async def _update_reward(uow: UnitOfWork, clock: Clock, settings: Settings, code: str, body: dict[str, Any], actor: str) -> Any:
    changes = RewardUpdate.model_validate(body).model_dump(exclude_unset=True)
    return await rewards.update_reward(uow, clock, code, changes, program_currency=settings.currency, actor=actor)


async def _create_template(uow: UnitOfWork, clock: Clock, settings: Settings, body: dict[str, Any], actor: str) -> Any:
    model = CouponTemplateCreate.model_validate(_without_nulls(body))
    return await coupons.create_template(uow, clock, settings, coupons.TemplateSpec(**model.model_dump()), actor=actor)


async def _update_template(uow: UnitOfWork, clock: Clock, settings: Settings, code: str, body: dict[str, Any], actor: str) -> Any:
    changes = CouponTemplateUpdate.model_validate(body).model_dump(exclude_unset=True)
    return await coupons.update_template(uow, clock, code, changes, actor=actor)


REWARDS = Catalogue(
    "rewards", "rewards", REWARD_FIELDS, RewardCreate, RewardUpdate, _rewards, _create_reward, _update_reward,
    rewards.reward_definition, _reward_form, RewardExists, RewardNotFound,
)
TEMPLATES = Catalogue(
    "coupon-templates", "coupon_templates", TEMPLATE_FIELDS, CouponTemplateCreate, CouponTemplateUpdate, _templates,
    _create_template, _update_template, coupons.template_definition, _template_form, CouponTemplateExists,
    CouponTemplateNotFound,
)


async def _page(
    request: Request, uow: UnitOfWork, settings: Settings, user: ConsoleUser, part: Catalogue, *,
    form: dict[str, str] | None = None, editing: str | None = None, problem: str | None = None, status_code: int = 200,
) -> Response:
    blank = {item.name: "" for item in part.fields} | {"active": "1", "per_member_limit": "1"}
    page = render(
        request, "catalogue.html", settings=settings, user=user, status_code=status_code, nav=part.nav, part=part,
        items=await part.listing(uow), form=form or blank, editing=editing, problem=problem,
        ladder=await tiers.list_tiers(uow), saved=request.query_params.get("saved") == "1", money_kinds=MONEY_KINDS,
    )
    page.headers["Content-Security-Policy"] = PICTURES_POLICY
    return page


def _problem(refused: Exception, part: Catalogue) -> str:
    if isinstance(refused, part.exists):
        return "exists"
    assert isinstance(refused, ValidationError | InvalidInput | Unreadable)
    return field_of(refused, "code").split(".")[0]


def _routes(part: Catalogue) -> None:
    base = f"/{part.path}"

    @router.get(base, response_class=HTMLResponse, name=f"{part.nav}_page")
    async def listing(request: Request, user: CurrentStaff, uow: UowDep, settings: SettingsDep) -> Response:
        return await _page(request, uow, settings, user, part)

    @router.post(base, response_class=HTMLResponse, name=f"{part.nav}_create")
    async def create(request: Request, user: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
        form = {name: str(value) for name, value in (await request.form()).items() if name != "csrf_token"}
        try:
            await part.create(uow, clock, settings, read(part.fields, form, settings, creating=True), user.actor)
        except (Unreadable, ValidationError, InvalidInput, part.exists) as refused:
            return await _page(request, uow, settings, user, part, form=form, problem=_problem(refused, part), status_code=422)
        return Response(status_code=303, headers={**PAGE_HEADERS, "Location": f"/console{base}?saved=1"})

    @router.get(base + "/{code}", response_class=HTMLResponse, name=f"{part.nav}_edit")
    async def edit(request: Request, code: str, user: CurrentStaff, uow: UowDep, settings: SettingsDep) -> Response:
        try:
            found = await part.find(uow, code)
        except part.not_found:
            return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
        return await _page(request, uow, settings, user, part, form=part.form_of(found, settings), editing=code)

    @router.post(base + "/{code}", response_class=HTMLResponse, name=f"{part.nav}_update")
    async def update(request: Request, code: str, user: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
        try:
            found = await part.find(uow, code)
        except part.not_found:
            return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
        form = {name: str(value) for name, value in (await request.form()).items() if name != "csrf_token"}
        kept = part.form_of(found, settings)
        form |= {item.name: kept[item.name] for item in part.fields if item.create_only}
        try:
            await part.update(uow, clock, settings, code, read(part.fields, form, settings, creating=False), user.actor)
        except (Unreadable, ValidationError, InvalidInput) as refused:
            await uow.rollback()  # a rule may refuse after setting fields: none may be flushed
            return await _page(request, uow, settings, user, part, form=form, editing=code, problem=_problem(refused, part), status_code=422)
        return Response(status_code=303, headers={**PAGE_HEADERS, "Location": f"/console{base}?saved=1"})


_routes(REWARDS)
_routes(TEMPLATES)
