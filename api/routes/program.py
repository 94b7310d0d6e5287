"""Tiers, earning rules and stores: the program's configuration, managed by the merchant.

Every change is audited under the API key's name. The routes only translate: the rules live in
loyalty/tiers.py, loyalty/earning.py and loyalty/stores.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.route_docs import INVALID, NOT_FOUND, Responses
from api.schemas import (
    EarningRuleCreate,
    EarningRulePublic,
    EarningRulesPublic,
    EarningRuleUpdate,
    ErrorPublic,
    StoreCreate,
    StorePublic,
    StoresPublic,
    StoreUpdate,
    TierPublic,
    TiersPublic,
    TierUpsert,
)
from api.schemas.program import (
    NearbyStorePublic,
    NearbyStoresPublic,
    RuleKind,
    StoreImportPublic,
)
from loyalty import earning, geo, stores, tiers
from loyalty.apikeys import AuthenticatedKey

MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL

RuleId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The rule's id.")]
TierCodePath = Annotated[
    str, Path(pattern=tiers.TIER_CODE.pattern, description="The tier's code.", examples=["gold"])
]
StoreCodePath = Annotated[
    str, Path(pattern=stores.STORE_CODE.pattern, description="The store's code.", examples=["S001"])
]



def _actor(api_key: AuthenticatedKey) -> str:
    return f"apikey:{api_key.name}"


# --- tiers ---------------------------------------------------------------------------------------

tiers_router = APIRouter(prefix="/tiers", tags=["tiers"])


@tiers_router.get("", summary="List the tier ladder, lowest rank first")
async def list_tiers(uow: UowDep) -> TiersPublic:
    rows = await tiers.list_tiers(uow)
    return TiersPublic(data=[TierPublic.model_validate(tier) for tier in rows], count=len(rows))


@tiers_router.get(
    "/{code}",
    name="get_tier",
    summary="Get a tier",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such tier"}},
)
async def get_tier(code: TierCodePath, uow: UowDep) -> TierPublic:
    return TierPublic.model_validate(await tiers.find_tier(uow, code))


@tiers_router.put(
    "/{code}",
    summary="Create a tier or replace its settings",
    description=(
        "201 when the tier is new, 200 when it existed. Ranks are unique; rank 0 is the entry "
        "tier, with no thresholds, and stays at rank 0. A tier above rank 0 is reached by net "
        "spend OR visits over the rolling window (a threshold of 0 means not by that measure), "
        "and each threshold in use is at least the one of every lower rank. Members keep their "
        "tier when the ladder changes: their next purchase or the scheduled review moves them."
    ),
    responses={
        status.HTTP_201_CREATED: {"model": TierPublic, "description": "Tier created"},
        status.HTTP_409_CONFLICT: {
            "model": ErrorPublic,
            "description": "Another tier has this rank",
        },
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def put_tier(
    code: TierCodePath,
    body: TierUpsert,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    api_key: ApiKeyDep,
) -> TierPublic:
    tier, created = await tiers.put_tier(uow, clock, code, body.spec(), actor=_actor(api_key))
    if created:
        response.status_code = status.HTTP_201_CREATED
    return TierPublic.model_validate(tier)


# --- earning rules -------------------------------------------------------------------------------

rules_router = APIRouter(prefix="/earning-rules", tags=["earning rules"])
_RULE_NOT_FOUND: Responses = {status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such rule"}}


@rules_router.get("", summary="List earning rules, oldest first")
async def list_rules(
    uow: UowDep,
    kind: Annotated[RuleKind | None, Query(description="Only rules of this kind.")] = None,
    active: Annotated[
        bool | None, Query(description="Only active (or only inactive) rules.")
    ] = None,
) -> EarningRulesPublic:
    rows = await earning.list_rules(uow, kind=kind, active=active)
    return EarningRulesPublic(
        data=[EarningRulePublic.model_validate(rule) for rule in rows], count=len(rows)
    )


@rules_router.get(
    "/{rule_id}", name="get_earning_rule", summary="Get an earning rule", responses=_RULE_NOT_FOUND
)
async def get_rule(rule_id: RuleId, uow: UowDep) -> EarningRulePublic:
    return EarningRulePublic.model_validate(await earning.find_rule(uow, rule_id))


@rules_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an earning rule",
    description=(
        "A `base` rate needs `points` and `per_amount_minor`; a `promotion` needs "
        "`multiplier_pct` and may have a `category` and a window; a `bonus` needs `event` and "
        "`points` and may have a window. Fields that do not apply to the kind are refused. "
        "An active base rate replaces the previous one. `Location` is the new rule's URL."
    ),
    responses={status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID},
)
async def create_rule(
    body: EarningRuleCreate,
    request: Request,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    api_key: ApiKeyDep,
) -> EarningRulePublic:
    rule = await earning.create_rule(uow, clock, body.spec(), actor=_actor(api_key))
    response.headers["Location"] = str(
        request.app.url_path_for("get_earning_rule", rule_id=rule.id)
    )
    return EarningRulePublic.model_validate(rule)


@rules_router.patch(
    "/{rule_id}",
    summary="Change an earning rule",
    description="Fields left out stay; `null` clears an optional field. The kind cannot change.",
    responses=_RULE_NOT_FOUND | {status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID},
)
async def update_rule(
    rule_id: RuleId, body: EarningRuleUpdate, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> EarningRulePublic:
    rule = await earning.update_rule(uow, clock, rule_id, body.changes(), actor=_actor(api_key))
    return EarningRulePublic.model_validate(rule)


@rules_router.delete(
    "/{rule_id}",
    summary="Deactivate an earning rule",
    description=(
        "Rules are kept (receipts name them) and stop applying. Deactivating the base rate "
        "means purchases earn nothing until a new one is created. Repeating it is harmless."
    ),
    responses=_RULE_NOT_FOUND,
)
async def deactivate_rule(
    rule_id: RuleId, uow: UowDep, clock: ClockDep, api_key: ApiKeyDep
) -> EarningRulePublic:
    rule = await earning.deactivate_rule(uow, clock, rule_id, actor=_actor(api_key))
    return EarningRulePublic.model_validate(rule)


# --- stores --------------------------------------------------------------------------------------

stores_router = APIRouter(prefix="/stores", tags=["stores"])


@stores_router.get("", summary="List stores by code")
async def list_stores(uow: UowDep) -> StoresPublic:
    rows = await stores.list_stores(uow)
    return StoresPublic(data=[StorePublic.model_validate(store) for store in rows], count=len(rows))


@stores_router.get(
    "/nearest",
    summary="The nearest active stores to a point",
    description=(
        "Active stores with coordinates within `radius_m` of the point, nearest first, each with "
        "its great-circle distance in metres. With `open_now`, only stores open at this moment "
        "by their own opening hours and time zone (stores without published hours count as "
        "open). Stores without coordinates never appear."
    ),
    responses={status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID},
)
async def nearest_stores(
    uow: UowDep,
    clock: ClockDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude, WGS 84.")],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude, WGS 84.")],
    radius_m: Annotated[
        float, Query(gt=0, le=geo.HALF_CIRCUMFERENCE_M, allow_inf_nan=False, description="Metres.")
    ] = 3000,
    limit: Annotated[int, Query(ge=1, le=stores.MAX_NEAREST)] = 10,
    open_now: Annotated[bool, Query(description="Only stores open now.")] = False,
) -> NearbyStoresPublic:
    found = await stores.nearest_stores(
        uow, lat, lon, now=clock.now(), radius_m=radius_m, limit=limit, open_only=open_now
    )
    rows = [
        NearbyStorePublic.model_validate(
            StorePublic.model_validate(hit.store).model_dump() | {"distance_m": round(hit.distance_m)}
        )
        for hit in found
    ]
    return NearbyStoresPublic(data=rows, count=len(rows))


@stores_router.post(
    "/import",
    summary="Create or update stores from CSV, all or nothing",
    description=(
        "A `text/csv` (UTF-8) body with a header row; the columns are "
        f"`{','.join(stores.CSV_COLUMNS)}`, of which only `code` and `name` are required. "
        "Stores are matched by code: new codes are created, known ones updated; an empty cell "
        "clears the field (an empty `timezone` is the program's). `hours` is the JSON of "
        "`opening_hours`, e.g. `{\"mon\": [[\"08:00\", \"22:00\"]]}`. One transaction: if any row "
        "is bad, nothing is written and the 422 lists every bad row as `loc` "
        "`[\"body\", <row>, <field>]`, rows numbered as a spreadsheet does (the header is row 1)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": (
                "code,name,city,timezone,address,latitude,longitude,hours\n"
                'S001,Jing\'an,Shanghai,Asia/Shanghai,1601 Nanjing West Rd,31.2243,121.4462,'
                '"{""mon"": [[""08:00"", ""22:00""]]}"\n'
            )}},
        }
    },
    responses={
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: {"model": ErrorPublic, "description": "Not text/csv"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {"description": "Bad rows; nothing written"},
    },
)
async def import_stores(
    request: Request, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> StoreImportPublic:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/csv":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the stores as text/csv")
    body = await request.body()  # at most MAX_CSV_BODY_BYTES: api/request_limits.py
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestValidationError([{"loc": ("body",), "msg": "the CSV is not UTF-8 text", "type": "csv_invalid"}]) from exc
    report = await stores.import_stores(
        uow, clock, text, default_timezone=settings.timezone, actor=_actor(api_key)
    )
    return StoreImportPublic(created=report.created, updated=report.updated)


@stores_router.get(
    "/{code}",
    name="get_store",
    summary="Get a store",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such store"}},
)
async def get_store(code: StoreCodePath, uow: UowDep) -> StorePublic:
    return StorePublic.model_validate(await stores.find_store(uow, code))


@stores_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a store",
    description="`timezone` defaults to the program's. `Location` is the new store's URL.",
    responses={
        status.HTTP_409_CONFLICT: {
            "model": ErrorPublic,
            "description": "A store with this code exists",
        },
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def create_store(
    body: StoreCreate,
    request: Request,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> StorePublic:
    store = await stores.create_store(
        uow, clock, body.spec(), default_timezone=settings.timezone, actor=_actor(api_key)
    )
    response.headers["Location"] = str(request.app.url_path_for("get_store", code=store.code))
    return StorePublic.model_validate(store)


@stores_router.put(
    "/{code}",
    summary="Change a store",
    description="The store's whole description (a field left out is cleared) and whether it is active.",
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such store"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def update_store(
    code: StoreCodePath, body: StoreUpdate, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> StorePublic:
    store = await stores.update_store(
        uow, clock, body.spec(code), active=body.active, default_timezone=settings.timezone, actor=_actor(api_key)
    )
    return StorePublic.model_validate(store)


router = APIRouter()
router.include_router(tiers_router)
router.include_router(rules_router)
router.include_router(stores_router)
