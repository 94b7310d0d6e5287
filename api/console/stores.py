"""The owner's stores pages: the list with its map, the form that creates or changes a store
(with its opening hours per weekday), and the CSV import. Every check is the API's own: the
form is read into the API's StoreCreate / StoreUpdate models and handed to loyalty/stores.py,
and each refusal is shown next to its field in the reader's language.

The map is drawn by the vendored Leaflet with tiles from OpenStreetMap's tile server, which the
merchant's browser loads itself: the list page's CSP allows that host for images, on that page
only. Without the tiles the markers are drawn on a blank background, and nothing else on the
page depends on the map."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.rendering import CONTENT_SECURITY_POLICY, PAGE_HEADERS, render, texts_for
from api.console.texts import ConsoleTexts
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas import StoreCreate, StoreUpdate
from db.models import Store
from db.uow import UnitOfWork
from loyalty import geo, stores
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import InvalidHours, InvalidInput, StoreExists, StoreImportRejected, StoreNotFound

router = APIRouter(prefix="/console/stores", include_in_schema=False)

TILE_HOST = "https://tile.openstreetmap.org"
TILE_URL = TILE_HOST + "/{z}/{x}/{y}.png"
MAP_PAGE_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {TILE_HOST}")
FIELDS = ("code", "name", "city", "address", "timezone", "latitude", "longitude")
IMPORT_PATH = "/console/stores/import"
SAMPLE_CSV = (
    ",".join(stores.CSV_COLUMNS) + "\r\n"
    'S001,Jing\'an flagship,Shanghai,Asia/Shanghai,1601 Nanjing West Rd,31.2243,121.4462,'
    '"{""mon"": [[""08:00"", ""22:00""]], ""sat"": [[""10:00"", ""02:00""]]}"\r\n'
    "S002,Xuhui kiosk,Shanghai,,88 Caoxi North Rd,,,\r\n"
)


def _json_for_page(value: object) -> Markup:
    """JSON for a `<script type="application/json">` element: `<`, `>` and `&` escaped so that
    no value can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _map_data(rows: Sequence[Store], *, editing: bool = False) -> Markup:
    return _json_for_page(
        {
            "tiles": TILE_URL,
            "editing": editing,
            "stores": [
                {"code": s.code, "name": s.name, "lat": s.latitude, "lon": s.longitude, "active": s.active}
                for s in rows
                if s.latitude is not None and s.longitude is not None
            ],
        }
    )


def _map_page(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = MAP_PAGE_POLICY
    return response


@router.get("", response_class=HTMLResponse)
async def stores_page(
    request: Request, user: OwnerOnly, uow: UowDep, settings: SettingsDep, saved: str | None = None
) -> Response:
    rows = await stores.list_stores(uow)
    return _map_page(
        render(
            request, "stores.html", settings=settings, user=user, nav="stores", rows=rows, map_json=_map_data(rows),
            saved=saved if saved and stores.STORE_CODE.match(saved) else None, import_errors=None, imported=None,
        )
    )


@router.get("/sample.csv")
async def sample_csv(user: OwnerOnly) -> Response:
    return Response(
        SAMPLE_CSV,
        media_type="text/csv; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="stores-sample.csv"'},
    )


@router.post(IMPORT_PATH.removeprefix("/console/stores"), response_class=HTMLResponse)
async def import_csv(
    request: Request,
    user: OwnerOnly,
    _: CheckedCsrf,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    t = texts_for(settings, user.locale)
    errors: list[tuple[int, str, str]] = []  # (line, column, sentence)
    report = None
    # The whole request is bounded by MAX_CSV_BODY_BYTES before it is read (api/request_limits.py).
    raw = await file.read() if file is not None else b""
    if not raw:
        errors.append((0, "file", t("stores.import.empty")))
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            errors.append((0, "file", t("stores.import.not_utf8")))
        else:
            try:
                report = await stores.import_stores(
                    uow, clock, text, default_timezone=settings.timezone, actor=user.actor
                )
            except StoreImportRejected as rejected:
                errors = [(error.row, error.field, _row_sentence(t, error)) for error in rejected.errors]
    rows = await stores.list_stores(uow)
    return _map_page(
        render(
            request, "stores.html", settings=settings, user=user, nav="stores", rows=rows, map_json=_map_data(rows),
            saved=None, import_errors=errors or None, imported=report, status_code=422 if errors else 200,
        )
    )


def _row_sentence(t: ConsoleTexts, error: stores.RowError) -> str:
    """A bad row's reason in the reader's words: by what the service says is wrong with the
    row, else by the column it is about, else the service's own sentence."""
    for key in (f"stores.import.bad.{error.reason}", f"stores.import.bad.{error.field}"):
        if key != "stores.import.bad." and t.has(key):
            return t(key)
    return t("stores.import.bad.row", detail=error.message)


@router.get("/new", response_class=HTMLResponse)
async def new_store(request: Request, user: OwnerOnly, uow: UowDep, settings: SettingsDep) -> Response:
    values = dict.fromkeys(FIELDS, "") | {"active": True}
    return await _form(request, user, uow, settings, values, _hours_rows(None), {}, creating=True)


@router.post("/new", response_class=HTMLResponse)
async def create_store(
    request: Request, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    return await _save(request, user, uow, clock, settings, creating=True, code=None)


@router.get("/{code}/edit", response_class=HTMLResponse)
async def edit_store(request: Request, code: str, user: OwnerOnly, uow: UowDep, settings: SettingsDep) -> Response:
    store = await _existing(uow, code)
    if store is None:
        return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
    values: dict[str, Any] = {name: "" if getattr(store, name) is None else str(getattr(store, name)) for name in FIELDS}
    values["active"] = store.active
    hours = store.opening_hours
    values["published"] = hours is not None
    return await _form(request, user, uow, settings, values, _hours_rows(hours), {}, creating=False)


@router.post("/{code}/edit", response_class=HTMLResponse)
async def update_store(
    request: Request, code: str, user: OwnerOnly, _: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    if await _existing(uow, code) is None:
        return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
    return await _save(request, user, uow, clock, settings, creating=False, code=code)


async def _existing(uow: UnitOfWork, code: str) -> Store | None:
    if not stores.STORE_CODE.match(code):
        return None
    try:
        return await stores.find_store(uow, code)
    except StoreNotFound:
        return None


def _hours_rows(hours: Mapping[str, Sequence[Sequence[str]]] | None) -> dict[str, list[dict[str, Any]]]:
    """Each weekday's spans as the form shows them, with one empty slot to add a span (up to
    the most a day may have)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for day in geo.WEEKDAYS:
        spans = [
            {"open": opens, "close": closes, "next": closes != "24:00" and closes <= opens}
            for opens, closes in (hours or {}).get(day, [])
        ]
        if len(spans) < geo.MAX_SPANS_PER_DAY:
            spans.append({"open": "", "close": "", "next": False})
        rows[day] = spans
    return rows


async def _form(
    request: Request,
    user: ConsoleUser,
    uow: UnitOfWork,
    settings: Settings,
    values: Mapping[str, Any],
    hours: Mapping[str, list[dict[str, Any]]],
    errors: Mapping[str, str],
    *,
    creating: bool,
    status_code: int = 200,
) -> HTMLResponse:
    rows = await stores.list_stores(uow)
    return _map_page(
        render(
            request, "store_form.html", settings=settings, user=user, nav="stores", values=values, hours=hours,
            errors=errors, creating=creating, weekdays=geo.WEEKDAYS, map_json=_map_data(rows, editing=True),
            status_code=status_code,
        )
    )


async def _save(
    request: Request, user: ConsoleUser, uow: UnitOfWork, clock: Clock, settings: Settings, *, creating: bool, code: str | None
) -> Response:
    t = texts_for(settings, user.locale)
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    values: dict[str, Any] = {name: text(name) for name in FIELDS}
    if code is not None:
        values["code"] = code  # a store's code never changes
    values["active"] = form.get("active") == "1"
    values["published"] = form.get("published") == "1"
    errors: dict[str, str] = {}
    shown: dict[str, list[dict[str, Any]]] = {}
    opening_hours: dict[str, list[list[str]]] = {}
    for day in geo.WEEKDAYS:
        shown[day] = []
        for slot in range(geo.MAX_SPANS_PER_DAY):
            opens, closes = text(f"hours-{day}-{slot}-open"), text(f"hours-{day}-{slot}-close")
            next_day = form.get(f"hours-{day}-{slot}-next") == "1"
            if not opens and not closes:
                continue
            shown[day].append({"open": opens, "close": closes, "next": next_day})
            if not opens or not closes:
                errors.setdefault(f"hours.{day}", t("stores.errors.hours_pair"))
                continue
            try:
                opening_hours.setdefault(day, []).append(geo.form_span(opens, closes, next_day=next_day))
            except InvalidHours as refused:
                errors.setdefault(f"hours.{day}", t(f"stores.errors.hours_{refused.reason}"))
        if len(shown[day]) < geo.MAX_SPANS_PER_DAY:
            shown[day].append({"open": "", "close": "", "next": False})

    # Spans typed in are meant to be published, ticked or not; the box alone publishes a week
    # with no spans: a store closed every day.
    values["published"] = values["published"] or any(span["open"] for day in shown.values() for span in day)
    if errors:
        return await _reshow(request, user, uow, settings, values, shown, errors, creating)
    payload: dict[str, Any] = {name: values[name] or None for name in FIELDS if name != "code"}
    payload["opening_hours"] = opening_hours if values["published"] else None
    try:
        if creating:
            body: StoreCreate | StoreUpdate = StoreCreate.model_validate(payload | {"code": values["code"]})
        else:
            body = StoreUpdate.model_validate(payload | {"active": values["active"]})
    except ValidationError as invalid:
        for problem in invalid.errors():
            where = str(problem["loc"][0]) if problem["loc"] else "name"
            if where == "opening_hours" and len(problem["loc"]) > 1:
                errors.setdefault(f"hours.{problem['loc'][1]}", t("stores.errors.hours_time"))
            else:
                errors.setdefault(where, t(f"stores.errors.{where}") if t.has(f"stores.errors.{where}") else t("stores.errors.invalid"))
        return await _reshow(request, user, uow, settings, values, shown, errors, creating)
    try:
        if isinstance(body, StoreCreate):
            store = await stores.create_store(
                uow, clock, body.spec(), default_timezone=settings.timezone, actor=user.actor, active=values["active"]
            )
        else:
            assert code is not None
            store = await stores.update_store(
                uow, clock, body.spec(code), active=body.active, default_timezone=settings.timezone, actor=user.actor
            )
    except StoreExists:
        errors["code"] = t("stores.errors.code_taken")
    except InvalidHours as refused:
        day = (refused.field or "").partition(".")[2]
        errors[f"hours.{day}" if day in geo.WEEKDAYS else "hours"] = t(f"stores.errors.hours_{refused.reason}")
    except InvalidInput as refused:
        where = refused.field if refused.field in FIELDS else "name"
        errors[where] = t(f"stores.errors.{where}")
    if errors:
        return await _reshow(request, user, uow, settings, values, shown, errors, creating)
    return RedirectResponse(f"/console/stores?saved={store.code}", status_code=303, headers=PAGE_HEADERS)


async def _reshow(
    request: Request,
    user: ConsoleUser,
    uow: UnitOfWork,
    settings: Settings,
    values: Mapping[str, Any],
    shown: Mapping[str, list[dict[str, Any]]],
    errors: Mapping[str, str],
    creating: bool,
) -> Response:
    return await _form(request, user, uow, settings, values, shown, errors, creating=creating, status_code=422)
