"""The owner's pages for who may run the program: staff (add, change role, remove) and API keys
(create, shown once; scopes, expiry, revoke; last use). Thin: loyalty.staff and loyalty.apikeys
hold every rule, and a refusal is shown next to its field, in the reader's language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.rendering import PAGE_HEADERS, render
from api.deps import ClockDep, SettingsDep, UowDep
from db.uow import UnitOfWork
from loyalty import apikeys, staff
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import ApiKeyExists, InvalidInput, LastOwner, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)


def _back(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=PAGE_HEADERS)


def _telegram_id(raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 16):
        raise InvalidInput("a Telegram user id is a positive whole number", field="telegram_id")
    return int(text)


# --- staff -------------------------------------------------------------------------------------


async def _staff_page(
    request: Request, uow: UnitOfWork, settings: Settings, user: ConsoleUser, *, status_code: int = 200,
    form: dict[str, str] | None = None, problem: str | None = None,
) -> Response:
    return render(
        request, "staff.html", settings=settings, user=user, status_code=status_code, nav="staff",
        people=await staff.list_staff(uow), roles=staff.ROLES, stores=await uow.program.stores(),
        form=form or {"telegram_id": "", "name": "", "role": "marketer", "store": ""}, problem=problem,
    )


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(request: Request, user: OwnerOnly, uow: UowDep, settings: SettingsDep) -> Response:
    return await _staff_page(request, uow, settings, user)


@router.post("/staff", response_class=HTMLResponse)
async def staff_add(
    request: Request,
    user: CheckedCsrf,
    owner: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    telegram_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
) -> Response:
    """Add someone, or change the role, store (and name, when given) of someone who is staff."""
    form = {"telegram_id": telegram_id, "name": name, "role": role, "store": store}
    try:
        await staff.add(
            uow, clock, telegram_id=_telegram_id(telegram_id), role=role, name=name or None, actor=owner.actor,
            store_code=store,
        )
    except LastOwner:
        return await _staff_page(request, uow, settings, owner, status_code=409, form=form, problem="last_owner")
    except InvalidInput as refused:
        return await _staff_page(request, uow, settings, owner, status_code=422, form=form, problem=refused.field or "telegram_id")
    return _back("/console/staff")


@router.post("/staff/{telegram_id}/remove", response_class=HTMLResponse)
async def staff_remove(
    request: Request, telegram_id: str, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """Take access away; their console sessions end with it (loyalty.staff.remove)."""
    try:
        await staff.remove(uow, clock, _telegram_id(telegram_id), actor=owner.actor)
    except LastOwner:
        return await _staff_page(request, uow, settings, owner, status_code=409, problem="last_owner")
    except (InvalidInput, NotFound):
        return await _staff_page(request, uow, settings, owner, status_code=404, problem="unknown")
    return _back("/console/staff")


# --- API keys ----------------------------------------------------------------------------------


async def _keys_page(
    request: Request, uow: UnitOfWork, clock: Clock, settings: Settings, user: ConsoleUser, *,
    status_code: int = 200, form: dict[str, object] | None = None, problem: str | None = None,
    new_key: str | None = None,
) -> Response:
    keys = [(key, sorted(scope.value for scope in apikeys.scopes_of(key))) for key in await apikeys.list_api_keys(uow)]
    return render(
        request, "apikeys.html", settings=settings, user=user, status_code=status_code, nav="keys", keys=keys,
        now=clock.now(), scopes=[scope.value for scope in apikeys.Scope],
        form=form or {"name": "", "scopes": ["till"], "expires": ""}, problem=problem, new_key=new_key,
    )


@router.get("/keys", response_class=HTMLResponse)
async def keys_list(request: Request, user: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    return await _keys_page(request, uow, clock, settings, user)


@router.post("/keys", response_class=HTMLResponse)
async def keys_create(
    request: Request,
    user: CheckedCsrf,
    owner: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    name: Annotated[str, Form()] = "",
    scope: Annotated[list[str] | None, Form()] = None,
    expires: Annotated[str, Form()] = "",
) -> Response:
    """Create a key and show it on this answer only: it is stored as a hash, never shown again."""
    form: dict[str, object] = {"name": name, "scopes": scope or [], "expires": expires}
    try:
        scopes = apikeys.parse_scopes(scope or [])
        expires_at = apikeys.parse_expiry(expires, now=clock.now(), zone=settings.zone) if expires.strip() else None
        raw = await apikeys.create_api_key(uow, clock, name.strip(), scopes=scopes, expires_at=expires_at, actor=owner.actor)
    except ApiKeyExists:
        return await _keys_page(request, uow, clock, settings, owner, status_code=422, form=form, problem="name_taken")
    except InvalidInput as refused:
        return await _keys_page(request, uow, clock, settings, owner, status_code=422, form=form, problem=refused.field or "name")
    return await _keys_page(request, uow, clock, settings, owner, status_code=201, new_key=raw)


@router.post("/keys/{name}/revoke", response_class=HTMLResponse)
async def keys_revoke(
    request: Request, name: str, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    try:
        await apikeys.revoke_api_key(uow, clock, name, actor=owner.actor)
    except NotFound:
        return await _keys_page(request, uow, clock, settings, owner, status_code=404, problem="unknown")
    return _back("/console/keys")
