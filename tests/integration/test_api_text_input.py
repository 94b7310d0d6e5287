"""Texts from outside never hold a NUL byte or another control character: every text field of
the API, a CSV import's cells and the names stored as JSON answer 422 naming the field and write
nothing, the same on SQLite (which would store them) and PostgreSQL (which cannot)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from tests.utils.api import RunningApi
from tests.utils.coupons import add_store, make_template
from tests.utils.database import every_row
from tests.utils.members import till_member

Loc = tuple[str | int, ...]
# C0 controls, DEL and C1 controls: what no text may hold (line breaks and tabs aside, below).
CONTROL = [chr(code) for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
LINE_BREAKS = ["\n", "\r", "\t"]


@dataclass(frozen=True)
class Texts:
    """One request whose body holds valid texts at `locs`; `multiline` ones may break lines."""

    method: str
    path: str
    body: dict[str, Any]
    locs: Sequence[Loc]
    multiline: Sequence[Loc] = ()
    headers: dict[str, str] = field(default_factory=dict)


CAMPAIGN = {
    "name": "Member day",
    "texts": {"en": "Hello {{ tier }}"},
    "audience": {"tiers": ["member"], "cities": ["Shanghai"], "tags": ["vip"], "near_store": "S001"},
    "buttons": [{"texts": {"en": "Menu"}, "url": "https://shop.example.com/menu"}],
    "image_url": "https://shop.example.com/day.jpg",
    "coupon_template": "WELCOME10",
}
CAMPAIGN_LOCS: list[Loc] = [
    ("name",), ("texts", "en"), ("image_url",), ("coupon_template",), ("buttons", 0, "texts", "en"),
    ("buttons", 0, "url"), ("audience", "tiers", 0), ("audience", "cities", 0), ("audience", "tags", 0),
    ("audience", "near_store"),
]


def requests(member: str) -> list[Texts]:
    purchase = {"member": {"member_number": member}, "order_id": "T-1", "store": "S001", "amount_minor": 1000,
                "currency": "CNY", "lines": [{"sku": "LATTE", "category": "coffee", "amount_minor": 1000}]}
    return [
        Texts("POST", "/api/v1/members", {"phone": "+8613911112222", "consent": True, "consent_version": "2026-11"},
              [("phone",), ("consent_version",)]),
        Texts("PUT", f"/api/v1/members/{member}/tags", {"tags": ["vip", "lunch"]}, [("tags", 1)]),
        Texts("POST", "/api/v1/purchases", purchase, [("lines", 0, "sku"), ("lines", 0, "category")]),
        Texts("POST", "/api/v1/purchases", purchase | {"member": {"phone": "+8613911113333"}}, [("member", "phone")]),
        Texts("POST", f"/api/v1/members/{member}/adjustments", {"points": 10, "reason": "goodwill"}, [("reason",)],
              headers={"Idempotency-Key": "adjust-1"}),
        Texts("PUT", "/api/v1/tiers/diamond",
              {"rank": 9, "names": {"en": "Diamond", "zh_CN": "钻石"}, "min_visits": 500,
               "benefits": {"en": ["Free delivery"]}},
              [("names", "en"), ("names", "zh_CN"), ("benefits", "en", 0)]),
        Texts("POST", "/api/v1/earning-rules",
              {"name": "Double coffee", "kind": "promotion", "multiplier_pct": 200, "category": "coffee"},
              [("name",), ("category",)]),
        Texts("POST", "/api/v1/stores",
              {"code": "S002", "name": "Bund", "city": "Shanghai", "timezone": "Asia/Shanghai",
               "address": "1 Zhongshan East Rd"},
              [("name",), ("city",), ("timezone",), ("address",)]),
        Texts("POST", "/api/v1/rewards",
              {"code": "MUG", "names": {"en": "Mug", "zh_CN": "杯子"}, "descriptions": {"en": "A mug."},
               "points_price": 100, "cash_value_minor": 1000, "currency": "CNY", "min_tier": "member"},
              [("code",), ("names", "en"), ("currency",), ("min_tier",)], multiline=[("descriptions", "en")]),
        Texts("POST", "/api/v1/redemptions/RW-0000-0000-0000/use", {"store": "S001"}, [("store",)]),
        Texts("POST", "/api/v1/coupon-templates",
              {"code": "T2", "names": {"en": "Off", "zh_CN": "优惠"}, "descriptions": {"en": "On any order."},
               "kind": "amount_off", "value": 500, "currency": "CNY", "valid_days": 30, "stores": ["S001"],
               "cities": ["Shanghai"], "min_tier": "member"},
              [("code",), ("names", "en"), ("kind",), ("currency",), ("stores", 0), ("cities", 0), ("min_tier",)],
              multiline=[("descriptions", "en")]),
        Texts("PATCH", "/api/v1/coupon-templates/WELCOME10", {"names": {"en": "Welcome", "zh_CN": "欢迎"}},
              [("names", "en")]),
        Texts("POST", "/api/v1/coupons", {"template": "WELCOME10", "member": member}, [("template",)]),
        Texts("POST", "/api/v1/coupons/redeem",
              {"code": "CP-0000-0000-0000", "store": "S001", "order_id": "S1-1", "amount_minor": 1000,
               "currency": "CNY"},
              [("code",), ("store",), ("order_id",), ("currency",)]),
        Texts("POST", "/api/v1/campaigns", CAMPAIGN, CAMPAIGN_LOCS[:1] + CAMPAIGN_LOCS[2:], multiline=[("texts", "en")]),
        Texts("POST", "/api/v1/campaigns/preview", CAMPAIGN, CAMPAIGN_LOCS[:1] + CAMPAIGN_LOCS[2:],
              multiline=[("texts", "en")]),
    ]


def text_at(body: dict[str, Any], loc: Loc) -> str:
    value: Any = body
    for key in loc:
        value = value[key]
    assert isinstance(value, str)
    return value


def with_text(body: dict[str, Any], loc: Loc, text: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    holder: Any = changed
    for key in loc[:-1]:
        holder = holder[key]
    holder[loc[-1]] = text
    return changed


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    """A member, a store and a coupon template, so each request would reach its rule."""
    await add_store(uow_factory, clock, "S001", city="Shanghai")
    await make_template(uow_factory, clock, code="WELCOME10")
    return (await till_member(uow_factory, clock)).member_number


async def assert_refused(api: RunningApi, auth: dict[str, str], request: Texts, loc: Loc, text: str) -> None:
    response = await api.client.request(
        request.method, request.path, json=with_text(request.body, loc, text), headers=auth | request.headers
    )
    assert response.status_code == 422, (request.path, loc, repr(text), response.text)
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *loc], error
    assert error["type"] == "control_character", error
    assert "control character" in error["msg"]


async def test_a_nul_byte_in_any_text_field_is_422_naming_it_and_writes_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str
) -> None:
    before = await every_row(uow_factory)
    for request in requests(member):
        for loc in [*request.locs, *request.multiline]:
            good = text_at(request.body, loc)
            await assert_refused(api, auth, request, loc, good[:1] + "\x00" + good[1:])
    assert await every_row(uow_factory) == before


async def test_single_line_texts_refuse_line_breaks_and_multi_line_ones_keep_them(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str
) -> None:
    for request in requests(member):
        for loc in request.locs:
            await assert_refused(api, auth, request, loc, text_at(request.body, loc) + " \n2nd line")
    created = await api.client.post(
        "/api/v1/campaigns", headers=auth,
        json=with_text(CAMPAIGN, ("texts", "en"), "Member day!\r\n\tToday only: {{ points }} points."),
    )
    assert created.status_code == 201, created.text
    assert created.json()["texts"]["en"] == "Member day!\r\n\tToday only: {{ points }} points."
    reward = await api.client.post(
        "/api/v1/rewards", headers=auth,
        json={"code": "MUG", "names": {"en": "Mug", "zh_CN": "杯子"}, "descriptions": {"en": "Blue.\nDishwasher-safe."},
              "points_price": 100, "cash_value_minor": 1000},
    )
    assert reward.status_code == 201, reward.text
    assert reward.json()["descriptions"] == {"en": "Blue.\nDishwasher-safe."}


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    # Nothing is written by any example, so they can share the function's database.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_control_character_anywhere_in_any_text_is_refused_and_nothing_is_written(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str, data: st.DataObject
) -> None:
    request = data.draw(st.sampled_from(requests(member)), label="request")
    loc = data.draw(st.sampled_from([*request.locs, *request.multiline]), label="field")
    allowed = LINE_BREAKS if loc in request.multiline else []
    character = data.draw(st.sampled_from([c for c in CONTROL if c not in allowed]), label="character")
    good = text_at(request.body, loc)
    at = data.draw(st.integers(min_value=0, max_value=len(good)), label="position")
    before = await every_row(uow_factory)
    await assert_refused(api, auth, request, loc, good[:at] + character + good[at:])
    assert await every_row(uow_factory) == before


async def test_a_control_character_in_a_csv_cell_refuses_the_import_naming_row_and_column(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    before = await every_row(uow_factory)
    csv = (
        b"code,name,city,timezone,address\n"
        b"S010,Jing'an,Shanghai,Asia/Shanghai,1601 Nanjing West Rd\n"
        b"S011,Bund\x00,Shanghai,,\n"
        b'S012,People\'s Square,"Shang\nhai",,\n'
        b"S013,Xintiandi,Shanghai,Asia/Shanghai,\x1b[31mRed Rd\n"
    )
    response = await api.client.post(
        "/api/v1/stores/import", content=csv, headers=auth | {"Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [["body", 3, "name"], ["body", 4, "city"], ["body", 5, "address"]]
    assert all("control character" in error["msg"] for error in errors), errors
    assert await every_row(uow_factory) == before


# Strings the API reads whose schema has no pattern, and who checks them instead.
UNPATTERNED = {
    "GET /api/v1/members query:phone": "parsed as a phone number; anything else is a 422",
    "GET /api/v1/members/{member_number} path:member_number": "10 digits with a check digit",
    "GET /api/v1/members/{member_number}/tags path:member_number": "10 digits with a check digit",
    "PUT /api/v1/members/{member_number}/tags path:member_number": "10 digits with a check digit",
    "GET /api/v1/members/{member_number}/export path:member_number": "10 digits with a check digit",
    "POST /api/v1/members/{member_number}/erase path:member_number": "10 digits with a check digit",
    "GET /api/v1/redemptions/{code} path:code": "normalised as a code; anything else is a 404",
    "POST /api/v1/redemptions/{code}/use path:code": "normalised as a code; anything else is a 404",
    "GET /api/v1/coupons/{code} path:code": "normalised as a code; anything else is a 404",
    "POST /api/v1/stores/import body(text/csv)": "every cell is checked by loyalty.stores",
}


def unpatterned_strings(document: dict[str, Any]) -> list[str]:
    """Where the operations take a string whose schema allows any character."""
    components = document["components"]["schemas"]
    found: list[str] = []

    def walk(schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            walk(components[schema["$ref"].rsplit("/", 1)[-1]], where)
            return
        for alternative in schema.get("anyOf", []) + schema.get("allOf", []):
            walk(alternative, where)
        if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
            found.append(where)
        for name, property_ in schema.get("properties", {}).items():
            walk(property_, f"{where}.{name}")
        for extra in (schema.get("additionalProperties"), schema.get("items"), schema.get("propertyNames")):
            if isinstance(extra, dict):
                walk(extra, f"{where}[]")
        for value in schema.get("patternProperties", {}).values():
            walk(value, f"{where}[]")

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method.upper()} {path} {parameter['in']}:{parameter['name']}")
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                walk(content["schema"], f"{method.upper()} {path} body({media})")
    return found


async def test_every_string_the_api_reads_is_held_to_the_rule(api: RunningApi) -> None:
    """A new text field typed plain `str` would let control characters through: each string in
    the OpenAPI document has a pattern (SingleLine, MultiLine or its own), or is checked by the
    handler that reads it."""
    document = (await api.client.get("/openapi.json")).json()
    assert sorted(unpatterned_strings(document)) == sorted(UNPATTERNED)
