"""A rollback in one request never breaks the next ones: the program cache holds plain values
built from the rows, never the rows themselves (which a rollback in the request that loaded them
would expire, leaving every later purchase a 500 until the entry expired)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from db.models import Store
from db.program_cache import ProgramCache
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from tests.utils.api import RunningApi
from tests.utils.members import till_member

TTL = 5.0


class CacheClock:
    """The cache's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache_clock() -> CacheClock:
    return CacheClock()


@pytest.fixture
def cached_factory(uow_factory: UnitOfWorkFactory, cache_clock: CacheClock) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(uow_factory.session_factory, uow_factory.cipher, ProgramCache(ttl=TTL, clock=cache_clock))


@pytest.fixture
def api_uow_factory(cached_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    return cached_factory


@pytest.fixture
async def stores(cached_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async with cached_factory() as uow:
        for code in ("S001", "S002"):
            store = Store(code=code, name=code, city="Shanghai", timezone="Asia/Shanghai", active=True)
            store.created_at = clock.now()
            uow.session.add(store)
        await uow.commit()


def purchase(member_number: str, order_id: str, **extra: Any) -> dict[str, Any]:
    return {"member": {"member_number": member_number}, "order_id": order_id, "store": "S001",
            "amount_minor": 12800, "currency": "CNY", **extra}


async def test_a_duplicate_order_leaves_every_later_purchase_working(
    api: RunningApi, auth: dict[str, str], stores: None, cached_factory: UnitOfWorkFactory,
    clock: FixedClock, cache_clock: CacheClock,
) -> None:
    number = (await till_member(cached_factory, clock)).member_number
    other = (await till_member(cached_factory, clock)).member_number
    first = await api.client.post(
        "/api/v1/purchases", json=purchase(number, "A-1"), headers={**auth, "Idempotency-Key": "k1"}
    )
    assert first.status_code == 201, first.text

    # The entries the first purchase filled have expired: the retry fills them again, then rolls back.
    cache_clock.now += TTL + 1
    retry = await api.client.post(
        "/api/v1/purchases", json=purchase(number, "A-1"), headers={**auth, "Idempotency-Key": "k2"}
    )
    assert retry.status_code == 409 and retry.json()["code"] == "duplicate_order"

    # Within the refilled entries' lifetime: in store, at another store, online, another member.
    cache_clock.now += TTL / 2
    for body in (
        purchase(number, "A-2"),
        purchase(other, "B-1", store="S002"),
        {**purchase(other, "B-2", channel="online"), "store": None},
    ):
        response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
        assert response.status_code == 201, response.text
        assert response.json()["points_earned"] == 128


async def test_uncommitted_configuration_is_read_by_its_own_unit_of_work_and_never_cached(
    cached_factory: UnitOfWorkFactory,
) -> None:
    async with cached_factory() as uow:
        before = {tier.code: tier.earn_multiplier_pct for tier in await uow.program.ladder()}
    async with cached_factory() as uow:
        gold = await uow.program.tier_by_code("gold")
        assert gold is not None
        gold.earn_multiplier_pct = 900
        await uow.flush()
        assert {t.code: t.earn_multiplier_pct for t in await uow.program.ladder()}["gold"] == 900
        await uow.rollback()
    async with cached_factory() as uow:
        assert {tier.code: tier.earn_multiplier_pct for tier in await uow.program.ladder()} == before


async def test_cached_configuration_is_plain_frozen_values(cached_factory: UnitOfWorkFactory, stores: None) -> None:
    async with cached_factory() as uow:
        ladder, rules = await uow.program.ladder(), await uow.program.live_rules()
        store = await uow.program.store_for("S001")
    for value in (*ladder, *rules, store):
        assert dataclasses.is_dataclass(value) and not hasattr(value, "_sa_instance_state")
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.id = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        ladder[0].names["en"] = "changed"  # type: ignore[index]
