"""The merchant configures tiers, earning rules and stores over real HTTP: answers, audit rows,
and for every bad input a 422 naming the field with nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from sqlalchemy import select

from api.schemas.program import BonusEvent, RuleKind
from db.models import AuditEvent, EarningRule, Store, Tier
from db.uow import UnitOfWorkFactory
from loyalty import earning
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import AUTH_AUDIT, RunningApi, audit_events

ENDPOINTS = [
    ("GET", "/api/v1/tiers"),
    ("GET", "/api/v1/tiers/gold"),
    ("PUT", "/api/v1/tiers/gold"),
    ("GET", "/api/v1/earning-rules"),
    ("POST", "/api/v1/earning-rules"),
    ("GET", "/api/v1/earning-rules/1"),
    ("PATCH", "/api/v1/earning-rules/1"),
    ("DELETE", "/api/v1/earning-rules/1"),
    ("GET", "/api/v1/stores"),
    ("POST", "/api/v1/stores"),
    ("GET", "/api/v1/stores/S001"),
    ("GET", "/api/v1/stores/nearest?lat=31.2&lon=121.4"),
    ("POST", "/api/v1/stores/import"),
]

GOLD = {
    "rank": 2,
    "names": {"en": "Gold", "zh_CN": "金卡"},
    "min_spend_minor": 600_000,
    "min_visits": 25,
    "earn_multiplier_pct": 130,
    "birthday_multiplier_pct": 200,
    "benefits": {"en": ["30% more points"], "zh_CN": ["积分加赠30%"]},
}
PLATINUM = GOLD | {
    "rank": 4,
    "names": {"en": "Platinum", "zh_CN": "白金卡"},
    "min_spend_minor": 2_000_000,
    "min_visits": 80,
}


@pytest.fixture
def api_key_name() -> str:
    return "backoffice"  # the actor its audit events name


async def snapshot(uow_factory: UnitOfWorkFactory) -> dict[str, Any]:
    """Everything these routes could write."""
    async with uow_factory() as uow:

        async def rows(model: type, *columns: str) -> list[tuple[Any, ...]]:
            found = await uow.session.scalars(select(model).order_by(model.id))  # type: ignore[attr-defined]
            return [tuple(getattr(row, column) for column in columns) for row in found]

        return {
            "tiers": await rows(
                Tier,
                "code",
                "rank",
                "names",
                "min_spend_minor",
                "min_visits",
                "earn_multiplier_pct",
                "birthday_multiplier_pct",
                "benefits",
                "updated_at",
            ),
            "rules": await rows(
                EarningRule,
                "name",
                "kind",
                "points",
                "per_amount_minor",
                "multiplier_pct",
                "category",
                "event",
                "starts_at",
                "ends_at",
                "active",
            ),
            "stores": await rows(Store, "code", "name", "city", "timezone"),
            "audit": [row for row in await rows(AuditEvent, "action") if not row[0].startswith(AUTH_AUDIT)],
        }


async def actions(uow_factory: UnitOfWorkFactory) -> list[tuple[str, str]]:
    return [
        (event.actor, event.action)
        for event in await audit_events(uow_factory)
        if event.action != "apikey.create"
    ]


def assert_422_on(response: Any, loc: list[str | int]) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"][: len(loc)] for error in errors] == [loc], errors
    return errors[0]


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_program_route_needs_a_key(
    api: RunningApi, uow_factory: UnitOfWorkFactory, method: str, path: str
) -> None:
    before = await snapshot(uow_factory)
    body = (
        {"rank": 9, "names": {"en": "X", "zh_CN": "X"}, "min_spend_minor": 1}
        if method == "PUT"
        else {}
    )
    response = await api.client.request(
        method, path, json=body if method in {"PUT", "POST", "PATCH"} else None
    )
    assert response.status_code == 401
    assert response.json()["detail"].startswith("missing")
    assert await snapshot(uow_factory) == before


# --- tiers ------------------------------------------------------------------------------------


async def test_the_seeded_ladder_lowest_rank_first(api: RunningApi, auth: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/tiers", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [
        (t["code"], t["rank"], t["min_spend_minor"], t["min_visits"]) for t in body["data"]
    ] == [
        ("member", 0, 0, 0),
        ("silver", 1, 200_000, 10),
        ("gold", 2, 600_000, 25),
        ("black", 3, 1_200_000, 50),
    ]
    assert body["data"][2]["names"] == {"en": "Gold", "zh_CN": "金卡"}
    assert set(body["data"][0]) == {
        "code",
        "rank",
        "names",
        "min_spend_minor",
        "min_visits",
        "earn_multiplier_pct",
        "birthday_multiplier_pct",
        "benefits",
        "updated_at",
    }


async def test_put_updates_a_tier_and_audits_it_once(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    clock.advance(timedelta(hours=1))
    response = await api.client.put("/api/v1/tiers/gold", json=GOLD, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"code": "gold", **GOLD, "updated_at": "2026-11-24T13:00:00Z"}
    assert (await api.client.get("/api/v1/tiers/gold", headers=auth)).json()[
        "earn_multiplier_pct"
    ] == 130
    assert await actions(uow_factory) == [("apikey:backoffice", "tier.update")]

    again = await api.client.put("/api/v1/tiers/gold", json=GOLD, headers=auth)
    assert again.status_code == 200
    assert await actions(uow_factory) == [("apikey:backoffice", "tier.update")]  # nothing changed


async def test_put_creates_a_tier_at_a_new_rank(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    response = await api.client.put("/api/v1/tiers/platinum", json=PLATINUM, headers=auth)
    assert response.status_code == 201
    assert response.json()["code"] == "platinum"
    listed = (await api.client.get("/api/v1/tiers", headers=auth)).json()
    assert [t["code"] for t in listed["data"]] == ["member", "silver", "gold", "black", "platinum"]
    events = [event for event in await audit_events(uow_factory) if event.action == "tier.create"]
    assert [
        (e.actor, e.detail is not None and '"code": "platinum"' in e.detail) for e in events
    ] == [("apikey:backoffice", True)]


async def test_defaults_for_optional_tier_fields(api: RunningApi, auth: dict[str, str]) -> None:
    body = {"rank": 4, "names": {"en": "Club", "zh_CN": "俱乐部"}, "min_visits": 100}
    response = await api.client.put("/api/v1/tiers/club", json=body, headers=auth)
    assert response.status_code == 201
    created = response.json()
    assert (
        created["min_spend_minor"],
        created["earn_multiplier_pct"],
        created["birthday_multiplier_pct"],
    ) == (0, 100, 100)
    assert created["benefits"] == {}


async def test_a_taken_rank_is_409_and_writes_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    before = await snapshot(uow_factory)
    response = await api.client.put(
        "/api/v1/tiers/platinum", json=PLATINUM | {"rank": 3}, headers=auth
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "rank 3 is taken by tier 'black'",
        "code": "tier_rank_taken",
    }
    moved = await api.client.put("/api/v1/tiers/silver", json=GOLD | {"rank": 2}, headers=auth)
    assert moved.status_code == 409
    assert await snapshot(uow_factory) == before


async def test_a_tier_can_move_to_a_free_rank(api: RunningApi, auth: dict[str, str]) -> None:
    body = {
        "rank": 7,
        "names": {"en": "Black", "zh_CN": "黑金卡"},
        "min_spend_minor": 1_200_000,
        "min_visits": 50,
    }
    assert (await api.client.put("/api/v1/tiers/black", json=body, headers=auth)).status_code == 200
    assert [
        t["rank"] for t in (await api.client.get("/api/v1/tiers", headers=auth)).json()["data"]
    ] == [0, 1, 2, 7]


INVALID_TIERS = [
    pytest.param(
        "gold",
        GOLD | {"names": {"en": "Gold"}},
        ["body", "names", "zh_CN"],
        "",
        id="names-zh_CN-missing",
    ),
    pytest.param(
        "gold",
        GOLD | {"names": {"en": "Gold", "zh_CN": ""}},
        ["body", "names", "zh_CN"],
        "",
        id="name-empty",
    ),
    pytest.param(
        "gold",
        GOLD | {"names": {"en": "G", "zh_CN": "金", "fr": "Or"}},
        ["body", "names", "fr"],
        "",
        id="names-extra-locale",
    ),
    pytest.param(
        "gold",
        GOLD | {"benefits": {"de": ["x"]}},
        ["body", "benefits", "de"],
        "",
        id="benefits-locale",
    ),
    pytest.param(
        "gold",
        GOLD | {"benefits": {"en": [""]}},
        ["body", "benefits", "en", 0],
        "",
        id="benefit-empty",
    ),
    pytest.param(
        "gold",
        GOLD | {"earn_multiplier_pct": 99},
        ["body", "earn_multiplier_pct"],
        "",
        id="earn-below-x1",
    ),
    pytest.param(
        "gold",
        GOLD | {"birthday_multiplier_pct": 1_001},
        ["body", "birthday_multiplier_pct"],
        "",
        id="birthday-above-x10",
    ),
    pytest.param(
        "gold", GOLD | {"min_spend_minor": -1}, ["body", "min_spend_minor"], "", id="spend-negative"
    ),
    pytest.param(
        "gold", GOLD | {"min_visits": 1.5}, ["body", "min_visits"], "", id="visits-fraction"
    ),
    pytest.param("gold", GOLD | {"rank": "2"}, ["body", "rank"], "", id="rank-string"),
    pytest.param("gold", GOLD | {"rank": -1}, ["body", "rank"], "", id="rank-negative"),
    pytest.param(
        "gold",
        {k: v for k, v in GOLD.items() if k != "rank"},
        ["body", "rank"],
        "",
        id="rank-missing",
    ),
    pytest.param("gold", GOLD | {"colour": "gold"}, ["body", "colour"], "", id="unknown-field"),
    pytest.param("Gold", GOLD, ["path", "code"], "", id="code-uppercase"),
    pytest.param("g", GOLD, ["path", "code"], "", id="code-too-short"),
    pytest.param(
        "gold",
        GOLD | {"min_spend_minor": 100_000},
        ["body", "min_spend_minor"],
        "at least 200000, the threshold of silver (rank 1)",
        id="spend-below-lower-rank",
    ),
    pytest.param(
        "gold",
        GOLD | {"min_visits": 51},
        ["body", "min_visits"],
        "at most 50, the threshold of black (rank 3)",
        id="visits-above-higher-rank",
    ),
    pytest.param(
        "gold",
        GOLD | {"min_spend_minor": 0, "min_visits": 0},
        ["body", "min_spend_minor"],
        "needs a spend or a visits threshold",
        id="no-threshold",
    ),
    pytest.param(
        "member",
        {"rank": 0, "names": {"en": "M", "zh_CN": "M"}, "min_spend_minor": 1},
        ["body", "min_spend_minor"],
        "entry tier",
        id="entry-with-spend",
    ),
    pytest.param(
        "member",
        {"rank": 0, "names": {"en": "M", "zh_CN": "M"}, "min_visits": 1},
        ["body", "min_visits"],
        "entry tier",
        id="entry-with-visits",
    ),
    pytest.param(
        "member",
        {"rank": 5, "names": {"en": "M", "zh_CN": "M"}, "min_visits": 500},
        ["body", "rank"],
        "stays at rank 0",
        id="entry-re-ranked",
    ),
]


@pytest.mark.parametrize(("code", "body", "loc", "says"), INVALID_TIERS)
async def test_an_invalid_tier_is_422_on_the_field_and_writes_nothing(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    code: str,
    body: dict[str, Any],
    loc: list[str | int],
    says: str,
) -> None:
    before = await snapshot(uow_factory)
    error = assert_422_on(
        await api.client.put(f"/api/v1/tiers/{code}", json=body, headers=auth), loc
    )
    assert says in error["msg"]
    assert await snapshot(uow_factory) == before


async def test_an_unknown_tier_is_404(api: RunningApi, auth: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/tiers/diamond", headers=auth)
    assert response.status_code == 404
    assert response.json() == {"detail": "no tier 'diamond'", "code": "tier_not_found"}


# --- earning rules ----------------------------------------------------------------------------

DOUBLE_COFFEE = {
    "name": "Double coffee",
    "kind": "promotion",
    "multiplier_pct": 200,
    "category": "coffee",
    "starts_at": "2026-12-01T00:00:00+08:00",
    "ends_at": "2027-01-01T00:00:00+08:00",
}


async def rules(api: RunningApi, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get("/api/v1/earning-rules", params=params, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["data"])
    return body["data"]


async def test_the_seeded_base_rate_is_listed(api: RunningApi, auth: dict[str, str]) -> None:
    [base] = await rules(api, auth)
    assert {k: base[k] for k in ("name", "kind", "points", "per_amount_minor", "active")} == {
        "name": "Base rate",
        "kind": "base",
        "points": 1,
        "per_amount_minor": 100,
        "active": True,
    }


async def test_create_a_promotion(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    response = await api.client.post("/api/v1/earning-rules", json=DOUBLE_COFFEE, headers=auth)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/api/v1/earning-rules/{created['id']}"
    assert created | {"id": 0} == {
        "id": 0,
        "name": "Double coffee",
        "kind": "promotion",
        "points": None,
        "per_amount_minor": None,
        "multiplier_pct": 200,
        "category": "coffee",
        "event": None,
        "starts_at": "2026-11-30T16:00:00Z",
        "ends_at": "2026-12-31T16:00:00Z",
        "active": True,
        "created_at": "2026-11-24T12:00:00Z",
    }
    assert (await api.client.get(response.headers["location"], headers=auth)).json() == created
    assert await actions(uow_factory) == [("apikey:backoffice", "earning_rule.create")]
    assert [r["name"] for r in await rules(api, auth, kind="promotion")] == ["Double coffee"]


async def test_rules_apply_inside_their_window_only(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    await api.client.post("/api/v1/earning-rules", json=DOUBLE_COFFEE, headers=auth)
    welcome = {
        "name": "Welcome",
        "kind": "bonus",
        "event": "signup",
        "points": 100,
        "ends_at": "2027-01-01T00:00:00Z",
    }
    assert (
        await api.client.post("/api/v1/earning-rules", json=welcome, headers=auth)
    ).status_code == 201
    starts = datetime(2026, 11, 30, 16, tzinfo=timezone.utc)
    async with uow_factory() as uow:
        before = await earning.active_rules(uow, at=starts - timedelta(microseconds=1))
        during = await earning.active_rules(uow, at=starts)
        bonus = await earning.bonus_rule(uow, event="signup", at=starts)
        none_later = await earning.bonus_rule(uow, event="signup", at=starts + timedelta(days=40))
        other_event = await earning.bonus_rule(uow, event="first_purchase", at=starts)
    assert before.base is not None and before.base.name == "Base rate" and before.promotions == ()
    assert [p.name for p in during.promotions] == ["Double coffee"]
    assert bonus is not None and bonus.points == 100
    assert none_later is None and other_event is None


async def test_a_new_base_rate_replaces_the_old_one_in_one_go(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    [old] = await rules(api, auth)
    body = {"name": "Richer base", "kind": "base", "points": 3, "per_amount_minor": 200}
    created = (await api.client.post("/api/v1/earning-rules", json=body, headers=auth)).json()
    assert [(r["id"], r["active"]) for r in await rules(api, auth, kind="base")] == [
        (old["id"], False),
        (created["id"], True),
    ]
    assert await actions(uow_factory) == [
        ("apikey:backoffice", "earning_rule.deactivate"),
        ("apikey:backoffice", "earning_rule.create"),
    ]
    async with uow_factory() as uow:
        current = await earning.active_rules(uow, at=clock.now())
    assert current.base is not None and current.base.id == created["id"]

    # An inactive base rate is a draft: it replaces nothing until activated.
    draft = body | {"name": "Draft", "active": False}
    draft_id = (await api.client.post("/api/v1/earning-rules", json=draft, headers=auth)).json()[
        "id"
    ]
    assert [r["id"] for r in await rules(api, auth, kind="base", active=True)] == [created["id"]]
    response = await api.client.patch(
        f"/api/v1/earning-rules/{draft_id}", json={"active": True}, headers=auth
    )
    assert response.status_code == 200
    assert [r["id"] for r in await rules(api, auth, kind="base", active=True)] == [draft_id]


async def test_patch_changes_only_what_is_given(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    rule_id = (
        await api.client.post("/api/v1/earning-rules", json=DOUBLE_COFFEE, headers=auth)
    ).json()["id"]
    response = await api.client.patch(
        f"/api/v1/earning-rules/{rule_id}",
        json={"multiplier_pct": 300, "ends_at": None},
        headers=auth,
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["multiplier_pct"], changed["ends_at"], changed["category"]) == (
        300,
        None,
        "coffee",
    )
    assert changed["starts_at"] == "2026-11-30T16:00:00Z"
    assert await actions(uow_factory) == [
        ("apikey:backoffice", "earning_rule.create"),
        ("apikey:backoffice", "earning_rule.update"),
    ]


async def test_delete_deactivates_once(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    [base] = await rules(api, auth)
    for _ in range(2):
        response = await api.client.delete(f"/api/v1/earning-rules/{base['id']}", headers=auth)
        assert response.status_code == 200
        assert response.json()["active"] is False
    assert await actions(uow_factory) == [("apikey:backoffice", "earning_rule.deactivate")]
    async with uow_factory() as uow:
        assert (
            await earning.active_rules(uow, at=clock.now())
        ).base is None  # purchases earn 0 now


INVALID_RULES = [
    pytest.param(
        {"name": "B", "kind": "base", "points": 1},
        ["body", "per_amount_minor"],
        id="base-no-per-amount",
    ),
    pytest.param(
        {
            "name": "B",
            "kind": "base",
            "points": 1,
            "per_amount_minor": 100,
            "starts_at": "2026-12-01T00:00:00Z",
        },
        ["body", "starts_at"],
        id="base-with-window",
    ),
    pytest.param(
        {"name": "B", "kind": "base", "points": 0, "per_amount_minor": 100},
        ["body", "points"],
        id="zero-points",
    ),
    pytest.param(
        {"name": "B", "kind": "base", "points": "1", "per_amount_minor": 100},
        ["body", "points"],
        id="points-string",
    ),
    pytest.param(
        {"name": "B", "kind": "base", "points": 1, "per_amount_minor": 2**63},
        ["body", "per_amount_minor"],
        id="per-amount-huge",
    ),
    pytest.param(
        {"name": "P", "kind": "promotion"}, ["body", "multiplier_pct"], id="promo-no-multiplier"
    ),
    pytest.param(
        {"name": "P", "kind": "promotion", "multiplier_pct": 99},
        ["body", "multiplier_pct"],
        id="promo-below-x1",
    ),
    pytest.param(
        {"name": "P", "kind": "promotion", "multiplier_pct": 200, "points": 5},
        ["body", "points"],
        id="promo-with-points",
    ),
    pytest.param(
        DOUBLE_COFFEE | {"starts_at": "2026-12-01T00:00:00"},
        ["body", "starts_at"],
        id="naive-start",
    ),
    pytest.param(
        DOUBLE_COFFEE | {"ends_at": "2026-12-01T00:00:00+08:00"},
        ["body", "ends_at"],
        id="empty-window",
    ),
    pytest.param(
        DOUBLE_COFFEE | {"ends_at": "2026-11-01T00:00:00+08:00"},
        ["body", "ends_at"],
        id="reversed-window",
    ),
    pytest.param(DOUBLE_COFFEE | {"category": ""}, ["body", "category"], id="empty-category"),
    pytest.param(
        {"name": "W", "kind": "bonus", "event": "birthday", "points": 5},
        ["body", "event"],
        id="unknown-event",
    ),
    pytest.param(
        {"name": "W", "kind": "bonus", "points": 5}, ["body", "event"], id="bonus-no-event"
    ),
    pytest.param(
        {"name": "W", "kind": "bonus", "event": "signup"}, ["body", "points"], id="bonus-no-points"
    ),
    pytest.param({"name": "W", "kind": "cashback"}, ["body", "kind"], id="unknown-kind"),
    pytest.param({"kind": "promotion", "multiplier_pct": 200}, ["body", "name"], id="no-name"),
    pytest.param(
        {"name": "   ", "kind": "promotion", "multiplier_pct": 200},
        ["body", "name"],
        id="blank-name",
    ),
    pytest.param(DOUBLE_COFFEE | {"active": "yes"}, ["body", "active"], id="active-string"),
    pytest.param(DOUBLE_COFFEE | {"stack": True}, ["body", "stack"], id="unknown-field"),
]


@pytest.mark.parametrize(("body", "loc"), INVALID_RULES)
async def test_an_invalid_rule_is_422_on_the_field_and_writes_nothing(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    before = await snapshot(uow_factory)
    assert_422_on(await api.client.post("/api/v1/earning-rules", json=body, headers=auth), loc)
    assert await snapshot(uow_factory) == before


INVALID_PATCHES = [
    pytest.param({"kind": "base"}, ["body", "kind"], id="kind"),
    pytest.param({"points": 5}, ["body", "points"], id="field-of-another-kind"),
    pytest.param({"multiplier_pct": None}, ["body", "multiplier_pct"], id="required-cleared"),
    pytest.param({"ends_at": "2026-11-30T00:00:00Z"}, ["body", "ends_at"], id="ends-before-start"),
    pytest.param({"starts_at": "2027-02-01T00:00:00Z"}, ["body", "ends_at"], id="starts-after-end"),
    pytest.param({"name": None}, ["body", "name"], id="name-cleared"),
    pytest.param({"active": None}, ["body", "active"], id="active-cleared"),
]


@pytest.mark.parametrize(("patch", "loc"), INVALID_PATCHES)
async def test_an_invalid_change_is_422_on_the_field_and_writes_nothing(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    patch: dict[str, Any],
    loc: list[str],
) -> None:
    rule_id = (
        await api.client.post("/api/v1/earning-rules", json=DOUBLE_COFFEE, headers=auth)
    ).json()["id"]
    before = await snapshot(uow_factory)
    assert_422_on(
        await api.client.patch(f"/api/v1/earning-rules/{rule_id}", json=patch, headers=auth), loc
    )
    assert await snapshot(uow_factory) == before


@pytest.mark.parametrize("rule_id", ["0", "-1", "x", str(2**31)])
async def test_a_malformed_rule_id_is_422(
    api: RunningApi, auth: dict[str, str], rule_id: str
) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.client.request(
            method,
            f"/api/v1/earning-rules/{rule_id}",
            json={} if method == "PATCH" else None,
            headers=auth,
        )
        assert_422_on(response, ["path", "rule_id"])


async def test_an_unknown_rule_is_404(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    before = await snapshot(uow_factory)
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.client.request(
            method,
            "/api/v1/earning-rules/999",
            json={"name": "x"} if method == "PATCH" else None,
            headers=auth,
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "no earning rule 999", "code": "rule_not_found"}
    assert await snapshot(uow_factory) == before


async def test_bad_list_filters_are_422(api: RunningApi, auth: dict[str, str]) -> None:
    assert_422_on(
        await api.client.get("/api/v1/earning-rules", params={"kind": "cashback"}, headers=auth),
        ["query", "kind"],
    )
    assert_422_on(
        await api.client.get("/api/v1/earning-rules", params={"active": "maybe"}, headers=auth),
        ["query", "active"],
    )


# --- stores -----------------------------------------------------------------------------------


async def test_create_and_look_up_stores(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, settings: Settings
) -> None:
    response = await api.client.post(
        "/api/v1/stores", json={"code": "S002", "name": "Pudong"}, headers=auth
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/stores/S002"
    assert response.json() == {
        "code": "S002",
        "name": "Pudong",
        "city": None,
        "timezone": settings.timezone,
        "active": True,
        "created_at": "2026-11-24T12:00:00Z",
        "address": None,
        "latitude": None,
        "longitude": None,
        "opening_hours": None,
    }
    body = {"code": "S001", "name": "Jing'an", "city": "Shanghai", "timezone": "Europe/London"}
    assert (await api.client.post("/api/v1/stores", json=body, headers=auth)).status_code == 201

    assert (await api.client.get("/api/v1/stores/S001", headers=auth)).json()[
        "timezone"
    ] == "Europe/London"
    listed = (await api.client.get("/api/v1/stores", headers=auth)).json()
    assert (listed["count"], [s["code"] for s in listed["data"]]) == (2, ["S001", "S002"])
    events = [e for e in await audit_events(uow_factory) if e.action == "store.create"]
    assert [(e.actor, e.detail) for e in events] == [
        ("apikey:backoffice", "S002"),
        ("apikey:backoffice", "S001"),
    ]


async def test_a_duplicate_store_code_is_409_and_writes_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    await api.client.post("/api/v1/stores", json={"code": "S001", "name": "Jing'an"}, headers=auth)
    before = await snapshot(uow_factory)
    response = await api.client.post(
        "/api/v1/stores", json={"code": "S001", "name": "Other"}, headers=auth
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "a store with code 'S001' exists", "code": "store_exists"}
    assert await snapshot(uow_factory) == before


INVALID_STORES = [
    pytest.param({"code": "S 1", "name": "X"}, ["body", "code"], id="code-space"),
    pytest.param({"code": "S" * 33, "name": "X"}, ["body", "code"], id="code-too-long"),
    pytest.param({"code": "", "name": "X"}, ["body", "code"], id="code-empty"),
    pytest.param({"name": "X"}, ["body", "code"], id="code-missing"),
    pytest.param({"code": "S1"}, ["body", "name"], id="name-missing"),
    pytest.param({"code": "S1", "name": "   "}, ["body", "name"], id="name-blank"),
    pytest.param({"code": "S1", "name": "X" * 121}, ["body", "name"], id="name-too-long"),
    pytest.param({"code": "S1", "name": "X", "city": ""}, ["body", "city"], id="city-empty"),
    pytest.param(
        {"code": "S1", "name": "X", "timezone": "Mars/Olympus"},
        ["body", "timezone"],
        id="tz-unknown",
    ),
    pytest.param(
        {"code": "S1", "name": "X", "timezone": "America"}, ["body", "timezone"], id="tz-directory"
    ),
    pytest.param(
        {"code": "S1", "name": "X", "timezone": "../../etc/passwd"},
        ["body", "timezone"],
        id="tz-path",
    ),
    pytest.param(
        {"code": "S1", "name": "X", "timezone": "asia/shanghai"}, ["body", "timezone"], id="tz-case"
    ),
    pytest.param({"code": "S1", "name": "X", "open": True}, ["body", "open"], id="unknown-field"),
]


@pytest.mark.parametrize(("body", "loc"), INVALID_STORES)
async def test_an_invalid_store_is_422_on_the_field_and_writes_nothing(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    before = await snapshot(uow_factory)
    assert_422_on(await api.client.post("/api/v1/stores", json=body, headers=auth), loc)
    assert await snapshot(uow_factory) == before


async def test_store_lookups_404_and_422(api: RunningApi, auth: dict[str, str]) -> None:
    missing = await api.client.get("/api/v1/stores/S999", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no store 'S999'", "code": "store_not_found"}
    assert_422_on(await api.client.get("/api/v1/stores/S%20999", headers=auth), ["path", "code"])


def test_the_schema_literals_match_the_rules() -> None:
    assert get_args(RuleKind) == earning.KINDS
    assert get_args(BonusEvent) == earning.BONUS_EVENTS


async def test_the_openapi_document_tags_and_explains_money(api: RunningApi) -> None:
    document = (await api.client.get("/openapi.json")).json()
    tags = {
        tag
        for item in document["paths"].values()
        for operation in item.values()
        for tag in operation["tags"]
    }
    assert {"tiers", "earning rules", "stores"} <= tags
    schemas = document["components"]["schemas"]
    for schema, field in [
        ("TierUpsert", "min_spend_minor"),
        ("EarningRuleCreate", "per_amount_minor"),
    ]:
        assert "minor units" in schemas[schema]["properties"][field]["description"]
