"""The refusals that roll a request's transaction back (a unique constraint lost in a race: the
same store, coupon template or reward created twice at once, two tiers at one rank, the same
order under two keys) answer a clear 409, and every later request in the process works: nothing
read before a rollback is used after it, and nothing a request loaded outlives it in a cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from tests.utils.api import RunningApi
from tests.utils.members import till_member

RACERS = 8

CREATES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "store": [("POST", "/api/v1/stores", {"code": "S009", "name": "Jing'an"})] * RACERS,
    "coupon template": [
        ("POST", "/api/v1/coupon-templates",
         {"code": "MDAY", "names": {"en": "Member day", "zh_CN": "会员日"}, "kind": "percent_off", "value": 10,
          "valid_days": 30})
    ] * RACERS,
    "reward": [
        ("POST", "/api/v1/rewards",
         {"code": "LATTE", "names": {"en": "Latte", "zh_CN": "拿铁"}, "points_price": 250, "cash_value_minor": 3200})
    ] * RACERS,
    "tier rank": [
        ("PUT", f"/api/v1/tiers/platinum_{n}",
         {"rank": 4, "names": {"en": "Platinum", "zh_CN": "白金卡"}, "min_spend_minor": 2_000_000, "min_visits": 80})
        for n in range(RACERS)
    ],
}


@pytest.mark.parametrize("what", CREATES)
async def test_racing_creates_get_one_success_and_clear_conflicts(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, what: str
) -> None:
    responses = await asyncio.gather(
        *(api.client.request(method, path, json=body, headers=auth) for method, path, body in CREATES[what])
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * (RACERS - 1), [
        response.text for response in responses
    ]
    assert all(response.json()["code"] for response in responses if response.status_code == 409)
    # The process goes on: a purchase (which reads the cached ladder, rules and stores) and a read.
    member = await till_member(uow_factory, clock)
    order = {"member": {"member_number": member.member_number}, "order_id": "after-" + what.replace(" ", "-"),
             "channel": "online", "amount_minor": 12_800, "currency": "CNY"}
    purchase = await api.client.post("/api/v1/purchases", json=order, headers=auth)
    assert purchase.status_code == 201, purchase.text
    assert (await api.client.get("/api/v1/tiers", headers=auth)).status_code == 200
