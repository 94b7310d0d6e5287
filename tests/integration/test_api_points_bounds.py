"""Points and balances beyond 32 bits, and the bound that keeps them far inside 64: a member's
points never pass loyalty.ledger.MAX_BALANCE, and a purchase, an adjustment, a coupon or a sum
of many that would take them past it is a 422 naming the field, never a 500, and writes nothing,
the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.purchases import MAX_AMOUNT_MINOR
from tests.utils.api import RunningApi
from tests.utils.coupons import add_store
from tests.utils.database import every_row
from tests.utils.members import till_member

INT32_MAX = 2**31 - 1


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    # Adjustments here test the balance's bound, far above a key's daily cap (which has tests of
    # its own: tests/integration/test_api_adjustment_cap.py).
    return settings.model_copy(update={"adjustment_daily_cap": 10**12})


@pytest.fixture
async def auth(auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    """The shared key, and the store the purchases here are made at."""
    await add_store(uow_factory, clock, "S001", city="Shanghai")
    return auth


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    return (await till_member(uow_factory, clock)).member_number


def purchase(member: str, order_id: str, amount_minor: int) -> dict[str, Any]:
    return {"member": {"member_number": member}, "order_id": order_id, "store": "S001",
            "amount_minor": amount_minor, "currency": "CNY"}


async def base_rate(api: RunningApi, auth: dict[str, str], points: int, per_amount_minor: int) -> None:
    response = await api.client.post(
        "/api/v1/earning-rules", headers=auth,
        json={"name": "Base", "kind": "base", "points": points, "per_amount_minor": per_amount_minor},
    )
    assert response.status_code == 201, response.text


async def balance_of(uow_factory: UnitOfWorkFactory, number: str) -> int:
    async with uow_factory() as uow:
        stored = await uow.members.by_number(number)
        assert stored is not None
        await ledger.check_consistency(uow, stored.id)
        return stored.points_balance


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field], error
    assert error["type"] == "points_limit_exceeded", error
    assert f"{ledger.MAX_BALANCE:,}" in error["msg"], error


async def test_two_large_purchases_take_a_balance_past_32_bits(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str
) -> None:
    answers = []
    for order in ("BIG-1", "BIG-2"):
        response = await api.client.post("/api/v1/purchases", json=purchase(member, order, MAX_AMOUNT_MINOR), headers=auth)
        assert response.status_code == 201, response.text
        answers.append(response.json())
    # The first makes the member Black; the second earns at Black's multiplier.
    assert answers[1]["balance"] > INT32_MAX
    assert await balance_of(uow_factory, member) == answers[1]["balance"]
    points = await api.client.get(f"/api/v1/members/{member}/points", headers=auth)
    assert points.json()["balance"] == points.json()["recent"][0]["balance_after"] == answers[1]["balance"]
    listed = await api.client.get(f"/api/v1/members/{member}", headers=auth)
    assert listed.json()["points_balance"] == answers[1]["balance"]


async def test_a_purchase_earning_more_than_a_member_may_hold_is_422_and_writes_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str
) -> None:
    await base_rate(api, auth, points=1_000_000, per_amount_minor=1)  # a typo'd rate: 10**12 for ¥10,000.00
    before = await every_row(uow_factory)
    response = await api.client.post("/api/v1/purchases", json=purchase(member, "HUGE", 1_000_000), headers=auth)
    assert_refused(response, "amount_minor")
    assert await every_row(uow_factory) == before


async def test_at_the_limit_every_further_credit_is_refused_naming_its_field(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, member: str, clock: FixedClock
) -> None:
    await base_rate(api, auth, points=1000, per_amount_minor=1)
    full = await api.client.post(
        "/api/v1/purchases", json=purchase(member, "FULL", ledger.MAX_BALANCE // 1000), headers=auth
    )
    assert full.status_code == 201, full.text
    assert full.json()["balance"] == ledger.MAX_BALANCE
    template = {"code": "TIMES2", "names": {"en": "Double points", "zh_CN": "双倍积分"}, "kind": "points_multiplier",
                "value": 200, "valid_days": 30}
    assert (await api.client.post("/api/v1/coupon-templates", json=template, headers=auth)).status_code == 201
    issued = await api.client.post("/api/v1/coupons", json={"template": "TIMES2", "member": member}, headers=auth)
    assert issued.status_code == 201, issued.text
    before = await every_row(uow_factory)

    more = await api.client.post("/api/v1/purchases", json=purchase(member, "ONE-MORE", 1), headers=auth)
    assert_refused(more, "amount_minor")
    adjusted = await api.client.post(
        f"/api/v1/members/{member}/adjustments", json={"points": 1, "reason": "goodwill"},
        headers=auth | {"Idempotency-Key": "adj-1"},
    )
    assert_refused(adjusted, "points")
    redeemed = await api.client.post(
        "/api/v1/coupons/redeem", headers=auth,
        json={"code": issued.json()["code"], "store": "S001", "order_id": "R-1", "amount_minor": 100, "currency": "CNY"},
    )
    assert_refused(redeemed, "amount_minor")
    assert await every_row(uow_factory) == before
    # Spending makes room again.
    spent = await api.client.post(
        f"/api/v1/members/{member}/adjustments", json={"points": -10_000, "reason": "redeemed"},
        headers=auth | {"Idempotency-Key": "adj-2"},
    )
    assert spent.status_code == 201
    again = await api.client.post("/api/v1/purchases", json=purchase(member, "ONE-MORE", 1), headers=auth)
    assert again.status_code == 201, again.text
    assert again.json()["balance"] == ledger.MAX_BALANCE - 10_000 + again.json()["points_earned"]


Request = tuple[str, int]  # ("purchase", amount_minor) or ("adjust", points)
requests = st.one_of(
    st.tuples(st.just("purchase"), st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR)),
    st.tuples(st.just("adjust"), st.integers(min_value=-10_000_000, max_value=10_000_000).filter(bool)),
)


@hypothesis_settings(
    max_examples=15,
    deadline=None,
    # Each example makes its own member; the earning rule is set again by each.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rate=st.sampled_from([(1, 100), (1000, 1), (1_000_000, 1)]),
    history=st.lists(requests, min_size=1, max_size=6),
)
async def test_no_sequence_of_credits_passes_the_limit_or_fails_with_a_500(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock,
    rate: tuple[int, int], history: list[Request],
) -> None:
    await base_rate(api, auth, *rate)
    member = (await till_member(uow_factory, clock)).member_number
    balance = 0
    for number, (kind, value) in enumerate(history):
        if kind == "purchase":
            response = await api.client.post(
                "/api/v1/purchases", json=purchase(member, f"P-{member}-{number}", value), headers=auth
            )
        else:
            response = await api.client.post(
                f"/api/v1/members/{member}/adjustments", json={"points": value, "reason": "property"},
                headers=auth | {"Idempotency-Key": f"adj-{member}-{number}"},
            )
        assert response.status_code in (201, 409, 422), response.text
        if response.status_code == 201:
            balance = response.json()["balance"]
        elif response.status_code == 422:
            assert response.json()["detail"][0]["type"] == "points_limit_exceeded", response.text
        else:
            assert response.json()["code"] == "insufficient_points", response.text
        assert 0 <= balance <= ledger.MAX_BALANCE
        assert await balance_of(uow_factory, member) == balance
