"""Rewards and redemptions through the API over real HTTP: the merchant's catalogue, the till's
lookup and use of a code, and every refusal naming its field and writing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.rewards_view import reward_name
from db.models import Reward, RewardRedemption, Store
from db.uow import UnitOfWorkFactory
from loyalty import rewards
from loyalty.clock import FixedClock
from tests.utils.api import RunningApi, audit_events, bearer
from tests.utils.members import till_member
from tests.utils.rewards import give_points, make_reward

LATTE = {
    "code": "LATTE",
    "names": {"en": "Latte", "zh_CN": "拿铁"},
    "descriptions": {"en": "Any size, any milk."},
    "points_price": 250,
    "cash_value_minor": 3200,
}


async def written(uow_factory: UnitOfWorkFactory) -> tuple[int, int, int]:
    """(rewards, redemptions, audit events): what a refused request must leave unchanged."""
    async with uow_factory() as uow:
        counts = [
            int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (Reward, RewardRedemption)
        ]
    return counts[0], counts[1], len(await audit_events(uow_factory, auth=False))


async def stored(uow_factory: UnitOfWorkFactory, code: str) -> Reward:
    async with uow_factory() as uow:
        reward = await uow.rewards.by_code(code)
        assert reward is not None
        return reward


def error_locs(response: Any) -> list[list[str]]:
    return [error["loc"] for error in response.json()["detail"]]


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/rewards"),
        ("POST", "/api/v1/rewards"),
        ("GET", "/api/v1/rewards/LATTE"),
        ("PATCH", "/api/v1/rewards/LATTE"),
        ("GET", "/api/v1/redemptions/RW-0000-0000-0000"),
        ("POST", "/api/v1/redemptions/RW-0000-0000-0000/use"),
    ],
)
async def test_every_route_needs_a_key(api: RunningApi, uow_factory, method: str, path: str) -> None:
    before = await written(uow_factory)
    for headers in ({}, bearer("lk_not-a-key")):
        response = await api.client.request(method, path, json=LATTE if method != "GET" else None, headers=headers)
        assert response.status_code == 401
    assert await written(uow_factory) == before


# --- the catalogue ---------------------------------------------------------------------------


async def test_create_then_read(api: RunningApi, auth, uow_factory) -> None:
    body = LATTE | {"stock": 100, "min_tier": "gold", "active_from": "2026-12-01T00:00:00+08:00"}
    response = await api.client.post("/api/v1/rewards", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/api/v1/rewards/LATTE"
    created = response.json()
    assert created == {
        "code": "LATTE",
        "names": {"en": "Latte", "zh_CN": "拿铁"},
        "descriptions": {"en": "Any size, any milk."},
        "image_url": None,
        "points_price": 250,
        "cash_value_minor": 3200,
        "currency": "CNY",
        "stock": 100,
        "min_tier": "gold",
        "active_from": "2026-11-30T16:00:00Z",
        "active_until": None,
        "active": True,
        "created_at": "2026-11-24T12:00:00Z",
    }
    assert (await api.client.get("/api/v1/rewards/LATTE", headers=auth)).json() == created
    reward = await stored(uow_factory, "LATTE")
    assert reward.min_tier_rank == 2
    [event] = [event for event in await audit_events(uow_factory) if event.action == "reward.create"]
    assert event.actor == "apikey:till-1" and event.detail == "LATTE"


async def test_a_merchant_may_name_a_reward_in_one_language(api: RunningApi, auth, uow_factory) -> None:
    """Members of the other language read the name given (bot/rewards_view.reward_name)."""
    for code, names in (("CHA", {"zh_CN": "茶"}), ("TEA", {"en": "Tea"})):
        response = await api.client.post("/api/v1/rewards", json=LATTE | {"code": code, "names": names}, headers=auth)
        assert response.status_code == 201, response.text
        assert response.json()["names"] == names
    assert reward_name(await stored(uow_factory, "CHA"), "en") == "茶"
    assert reward_name(await stored(uow_factory, "TEA"), "zh_CN") == "Tea"
    renamed = await api.client.patch("/api/v1/rewards/TEA", json={"names": {"zh_CN": "茶饮"}}, headers=auth)
    assert renamed.status_code == 200 and renamed.json()["names"] == {"zh_CN": "茶饮"}


async def test_list_pages_and_filters(api: RunningApi, auth, uow_factory, clock) -> None:
    for code in ("A", "B", "C"):
        await make_reward(uow_factory, clock, code=code)
    await make_reward(uow_factory, clock, code="OFF", active=False)
    response = await api.client.get("/api/v1/rewards", params={"page": 2, "page_size": 2}, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert [row["code"] for row in body["data"]] == ["C", "OFF"] and body["count"] == 4
    inactive = (await api.client.get("/api/v1/rewards", params={"active": "false"}, headers=auth)).json()
    assert [row["code"] for row in inactive["data"]] == ["OFF"] and inactive["count"] == 1
    bad = await api.client.get("/api/v1/rewards", params={"page_size": 500}, headers=auth)
    assert bad.status_code == 422 and error_locs(bad) == [["query", "page_size"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "has space"}, "code"),
        ({"code": "x" * 33}, "code"),
        ({"code": ""}, "code"),
        ({"names": {}}, "names"),
        ({"names": {"en": "Latte", "zh_CN": "  "}}, "names"),
        ({"names": {"en": "Latte", "zh_CN": "拿铁", "fr": "Café"}}, "names"),
        ({"names": {"en": "L" * 81, "zh_CN": "拿铁"}}, "names"),
        ({"descriptions": {"de": "Milchkaffee"}}, "descriptions"),
        ({"points_price": 0}, "points_price"),
        ({"points_price": -5}, "points_price"),
        ({"points_price": 10**11 + 1}, "points_price"),  # more than a member may ever hold
        ({"points_price": "many"}, "points_price"),
        ({"cash_value_minor": -1}, "cash_value_minor"),
        ({"currency": "USD"}, "currency"),
        ({"stock": -1}, "stock"),
        ({"min_tier": "platinum"}, "min_tier"),
        ({"active_from": "2026-12-01T00:00:00"}, "active_from"),
        ({"active_from": "2026-12-02T00:00:00Z", "active_until": "2026-12-01T00:00:00Z"}, "active_until"),
        ({"active_from": "2026-12-01T00:00:00Z", "active_until": "2026-12-01T00:00:00Z"}, "active_until"),
        ({"active": "yes"}, "active"),
        ({"colour": "brown"}, "colour"),
    ],
)
async def test_bad_reward_is_422_naming_the_field_and_writes_nothing(
    api: RunningApi, auth, uow_factory, change: dict[str, Any], field: str
) -> None:
    before = await written(uow_factory)
    response = await api.client.post("/api/v1/rewards", json=LATTE | change, headers=auth)
    assert response.status_code == 422, response.text
    assert error_locs(response) == [["body", field]]
    assert await written(uow_factory) == before


async def test_a_missing_field_is_422(api: RunningApi, auth, uow_factory) -> None:
    before = await written(uow_factory)
    body = {key: value for key, value in LATTE.items() if key != "points_price"}
    response = await api.client.post("/api/v1/rewards", json=body, headers=auth)
    assert response.status_code == 422 and error_locs(response) == [["body", "points_price"]]
    assert await written(uow_factory) == before


async def test_a_taken_code_is_409(api: RunningApi, auth, uow_factory) -> None:
    assert (await api.client.post("/api/v1/rewards", json=LATTE, headers=auth)).status_code == 201
    before = await written(uow_factory)
    response = await api.client.post("/api/v1/rewards", json=LATTE | {"points_price": 1}, headers=auth)
    assert response.status_code == 409 and response.json()["code"] == "reward_exists"
    assert await written(uow_factory) == before
    assert (await stored(uow_factory, "LATTE")).points_price == 250


async def test_patch_changes_only_what_is_sent(api: RunningApi, auth, uow_factory, clock) -> None:
    await make_reward(uow_factory, clock, code="MUG", price=400, stock=1)
    response = await api.client.patch(
        "/api/v1/rewards/MUG", json={"stock": 20, "points_price": 350, "min_tier": "silver"}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stock"], body["points_price"], body["min_tier"]) == (20, 350, "silver")
    assert body["names"] == {"en": "Reward MUG", "zh_CN": "礼品 MUG"}

    unlimited = await api.client.patch(
        "/api/v1/rewards/MUG", json={"stock": None, "min_tier": None, "names": {"en": "Mug", "zh_CN": "杯子"}}, headers=auth
    )
    assert (unlimited.json()["stock"], unlimited.json()["min_tier"]) == (None, "member")
    reward = await stored(uow_factory, "MUG")
    assert reward.stock is None and reward.min_tier_rank == 0 and reward.names == {"en": "Mug", "zh_CN": "杯子"}
    events = [event for event in await audit_events(uow_factory) if event.action == "reward.update"]
    assert [event.actor for event in events] == ["apikey:till-1"] * 2
    assert '"stock": 20' in (events[0].detail or "")


async def test_patch_checks_the_window_against_what_is_stored(api: RunningApi, auth, uow_factory, clock) -> None:
    start = clock.now() + timedelta(days=1)
    await make_reward(uow_factory, clock, code="XMAS", active_from=start, active_until=start + timedelta(days=7))
    before = await written(uow_factory)
    response = await api.client.patch(
        "/api/v1/rewards/XMAS", json={"active_until": start.isoformat()}, headers=auth
    )
    assert response.status_code == 422 and error_locs(response) == [["body", "active_until"]]
    assert await written(uow_factory) == before
    assert (await stored(uow_factory, "XMAS")).active_until == start + timedelta(days=7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"points_price": 0}, "points_price"),
        ({"points_price": None}, "points_price"),
        ({"names": {}}, "names"),
        ({"currency": "EUR"}, "currency"),
        ({"min_tier": "nope"}, "min_tier"),
        ({"active": None}, "active"),
        ({"code": "RENAMED"}, "code"),
    ],
)
async def test_bad_patch_is_422_and_changes_nothing(
    api: RunningApi, auth, uow_factory, clock, change: dict[str, Any], field: str
) -> None:
    await make_reward(uow_factory, clock, code="MUG", price=400, stock=1)
    before = await written(uow_factory)
    response = await api.client.patch("/api/v1/rewards/MUG", json=change | {"stock": 50}, headers=auth)
    assert response.status_code == 422, response.text
    assert error_locs(response) == [["body", field]]
    assert await written(uow_factory) == before
    reward = await stored(uow_factory, "MUG")
    assert (reward.stock, reward.points_price) == (1, 400)


async def test_unknown_reward_is_404(api: RunningApi, auth, uow_factory) -> None:
    before = await written(uow_factory)
    for method in ("GET", "PATCH"):
        response = await api.client.request(method, "/api/v1/rewards/NOPE", json={"stock": 1}, headers=auth)
        assert response.status_code == 404 and response.json()["code"] == "reward_not_found"
    malformed = await api.client.get("/api/v1/rewards/bad%20code", headers=auth)
    assert malformed.status_code == 422 and error_locs(malformed) == [["path", "code"]]
    assert await written(uow_factory) == before


# --- the till --------------------------------------------------------------------------------


@pytest.fixture
async def issued(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> tuple[str, str]:
    """A member's redemption of a Latte: (code, member number)."""
    async with uow_factory() as uow:
        uow.session.add(Store(code="S001", name="Main St", timezone="Asia/Shanghai", active=True, created_at=clock.now()))
        await uow.commit()
    member = await till_member(uow_factory, clock)
    await give_points(uow_factory, clock, member, 500)
    reward = await make_reward(uow_factory, clock, code="LATTE", price=250, name="Latte", zh_name="拿铁")
    async with uow_factory() as uow:
        redemption = await rewards.redeem(uow, clock, member_id=member.id, reward_id=reward.id, actor="test")
    return redemption.code, member.member_number


async def test_look_up_and_use_a_code(api: RunningApi, auth, uow_factory, clock, issued) -> None:
    code, member_number = issued
    looked_up = await api.client.get(f"/api/v1/redemptions/{code}", headers=auth)
    assert looked_up.status_code == 200
    assert looked_up.json() == {
        "code": code,
        "status": "issued",
        "reward": "LATTE",
        "reward_names": {"en": "Latte", "zh_CN": "拿铁"},
        "points": 250,
        "member_number": member_number,
        "issued_at": "2026-11-24T12:00:00Z",
        "used_at": None,
        "store": None,
    }
    clock.advance(timedelta(minutes=3))
    typed = code.replace("-", "").lower()
    used = await api.client.post(f"/api/v1/redemptions/{typed}/use", json={"store": "S001"}, headers=auth)
    assert used.status_code == 200, used.text
    assert used.json() | {} == looked_up.json() | {
        "status": "used",
        "used_at": "2026-11-24T12:03:00Z",
        "store": "S001",
    }
    [event] = [event for event in await audit_events(uow_factory) if event.action == "redemption.use"]
    assert event.actor == "apikey:till-1" and event.detail == f"{code} at S001"

    again = await api.client.post(f"/api/v1/redemptions/{code}/use", json={"store": "S001"}, headers=auth)
    assert again.status_code == 409
    assert again.json()["code"] == "redemption_not_usable" and "already used" in again.json()["detail"]


async def test_use_without_a_body(api: RunningApi, auth, issued) -> None:
    code, _ = issued
    response = await api.client.post(f"/api/v1/redemptions/{code}/use", headers=auth)
    assert response.status_code == 200 and response.json()["store"] is None


async def test_unknown_and_malformed_codes(api: RunningApi, auth, uow_factory, issued) -> None:
    before = await written(uow_factory)
    for method, suffix in (("GET", ""), ("POST", "/use")):
        unknown = await api.client.request(method, f"/api/v1/redemptions/RW-0000-0000-0000{suffix}", headers=auth)
        assert unknown.status_code == 404 and unknown.json()["code"] == "redemption_not_found"
        for bad in ("RW-0000", "RW-UUUU-0000-0000", "hello"):
            malformed = await api.client.request(method, f"/api/v1/redemptions/{bad}{suffix}", headers=auth)
            assert malformed.status_code == 422 and error_locs(malformed) == [["path", "code"]]
    assert await written(uow_factory) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [({"store": "NOPE"}, "store"), ({"store": 5}, "store"), ({"shop": "S001"}, "shop")],
)
async def test_bad_use_body_is_422_and_leaves_the_code_usable(
    api: RunningApi, auth, uow_factory, issued, body: dict[str, Any], field: str
) -> None:
    code, _ = issued
    before = await written(uow_factory)
    response = await api.client.post(f"/api/v1/redemptions/{code}/use", json=body, headers=auth)
    assert response.status_code == 422 and error_locs(response) == [["body", field]]
    assert await written(uow_factory) == before
    assert (await api.client.get(f"/api/v1/redemptions/{code}", headers=auth)).json()["status"] == "issued"
