"""Rate limits: failed authentications per address and per presented key, requests per key.

Each test runs with the counts in memory and, when TEST_REDIS_URL is set, in Redis (where
several API processes share them). The limits are set small so a test needs few requests;
`limits` counts in real time over a one-minute window, far longer than any test takes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from limits.aio.storage import Storage
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from api.ratelimit import RateLimits, storage_for
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope, revoke_api_key
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, audit_events, bearer, new_api_key, running_api
from tests.utils.database import statements

LIMITS = ("api_rate_limit", "auth_failure_limit", "auth_failure_limit_per_key")


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "memory":
        yield storage_for(None)
        return
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    # A key prefix of its own per test keeps parallel runs and leftovers apart.
    redis = storage_for(url, key_prefix=f"loyalty-test-{secrets.token_hex(4)}")
    try:
        yield redis
    finally:
        await redis.reset()


@pytest.fixture
def strict(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"api_rate_limit": "10/minute", "auth_failure_limit": "5/minute", "auth_failure_limit_per_key": "3/minute"}
    )


@pytest.fixture
async def api(
    strict: Settings, storage: Storage, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> AsyncIterator[RunningApi]:
    app = create_app(strict, uow_factory=uow_factory, clock=clock, rate_limits=RateLimits(strict, storage))
    async with running_api(app) as api:
        yield api



def wrong_key(_n: int) -> dict[str, str]:
    # Random, as a guesser's are: each presents another key prefix.
    return bearer("lk_" + secrets.token_urlsafe(32))


def assert_too_many(response: Any, limit_seconds: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= limit_seconds
    body = response.json()
    assert body["code"] == "rate_limited" and "retry in" in body["detail"], body


async def test_a_flood_of_wrong_keys_is_stopped_and_audited_twice(
    settings: Settings, storage: Storage, uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    # The limits as shipped: 1,000 wrong keys in a few seconds.
    shipped = settings.model_copy(update={name: Settings.model_fields[name].default for name in LIMITS})
    app = create_app(shipped, uow_factory=uow_factory, clock=clock, rate_limits=RateLimits(shipped, storage))
    allowed = RateLimits(shipped).failures_per_address.amount
    assert allowed == 20
    async with running_api(app) as api:
        statuses = [(await api.client.get("/api/v1/noop", headers=wrong_key(n))).status_code for n in range(allowed)]
        assert statuses == [401] * allowed
        crossing = await api.client.get("/api/v1/noop", headers=wrong_key(allowed))
        assert_too_many(crossing)
        # From then on each costs no database query, and writes no audit row.
        with statements(engine) as sql:
            for start in range(allowed + 1, 1000, 50):
                batch = range(start, min(start + 50, 1000))
                responses = await asyncio.gather(
                    *(api.client.get("/api/v1/noop", headers=wrong_key(n)) for n in batch)
                )
                assert {response.status_code for response in responses} == {429}
        assert sql == []
    events = [(e.action, e.actor) for e in await audit_events(uow_factory)]
    assert events == [("apikey.auth_failed", "address:127.0.0.1"), ("apikey.blocked", "address:127.0.0.1")]
    [_, blocked] = await audit_events(uow_factory)
    assert blocked.detail is not None and "over the limit (20 per 1 minute)" in blocked.detail


async def test_a_blocked_address_is_refused_even_with_a_working_key(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    key = await new_api_key(uow_factory, clock, "till-1", scopes=frozenset({Scope.TILL}))
    assert (await api.client.get("/api/v1/noop", headers=bearer(key))).status_code == 200
    for n in range(5):
        assert (await api.client.get("/api/v1/noop", headers=wrong_key(n))).status_code == 401
    assert_too_many(await api.client.get("/api/v1/noop", headers=wrong_key(99)))
    # Otherwise a guesser would still learn from each answer whether the guess was right.
    assert_too_many(await api.client.get("/api/v1/noop", headers=bearer(key)))


async def test_missing_and_malformed_headers_count_as_failures(api: RunningApi) -> None:
    headers: list[dict[str, str]] = [{}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"}, {}, {}]
    for header in headers:
        assert (await api.client.post("/api/v1/purchases", content=b"{", headers=header)).status_code == 401
    assert_too_many(await api.client.post("/api/v1/purchases", content=b"{"))


async def test_a_revoked_key_retried_in_a_loop_is_stopped_without_blocking_its_address(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    stale = await new_api_key(uow_factory, clock, "till-old", scopes=frozenset({Scope.TILL}))
    fresh = await new_api_key(uow_factory, clock, "till-new", scopes=frozenset({Scope.TILL}))
    async with uow_factory() as uow:
        await revoke_api_key(uow, clock, "till-old")
    for _ in range(3):  # AUTH_FAILURE_LIMIT_PER_KEY
        assert (await api.client.get("/api/v1/noop", headers=bearer(stale))).status_code == 401
    for _ in range(10):
        assert_too_many(await api.client.get("/api/v1/noop", headers=bearer(stale)))
    # The other tills of the shop (same address) go on working: 4 failures counted, 5 allowed.
    assert (await api.client.get("/api/v1/noop", headers=bearer(fresh))).status_code == 200
    blocked = [e for e in await audit_events(uow_factory) if e.action == "apikey.blocked"]
    assert len(blocked) == 1 and blocked[0].detail is not None
    assert f"key {stale[:10]}…" in blocked[0].detail and stale[10:] not in blocked[0].detail


async def test_a_key_over_its_request_limit_gets_429_audited_once(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    busy = await new_api_key(uow_factory, clock, "shop", scopes=frozenset({Scope.TILL}))
    other = await new_api_key(uow_factory, clock, "till-2", scopes=frozenset({Scope.TILL}))
    for _ in range(10):  # API_RATE_LIMIT
        assert (await api.client.get("/api/v1/noop", headers=bearer(busy))).status_code == 200
    for _ in range(3):
        response = await api.client.get("/api/v1/noop", headers=bearer(busy))
        assert_too_many(response)
        assert "over its request limit (10 per 1 minute)" in response.json()["detail"]
    assert (await api.client.get("/api/v1/noop", headers=bearer(other))).status_code == 200  # per key
    limited = [(e.actor, e.action) for e in await audit_events(uow_factory) if e.action.startswith("apikey.")]
    assert ("apikey:shop", "apikey.rate_limited") in limited
    assert sum(action == "apikey.rate_limited" for _, action in limited) == 1


async def test_api_processes_sharing_redis_count_together(
    strict: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    prefix = f"loyalty-test-{secrets.token_hex(4)}"
    # Two apps with a Redis client each, as two API processes have.
    storages = [storage_for(url, key_prefix=prefix), storage_for(url, key_prefix=prefix)]
    first, second = (
        create_app(strict, uow_factory=uow_factory, clock=clock, rate_limits=RateLimits(strict, storage))
        for storage in storages
    )
    try:
        async with running_api(first) as one, running_api(second) as two:
            for n in range(5):
                api = one if n % 2 else two
                assert (await api.client.get("/api/v1/noop", headers=wrong_key(n))).status_code == 401
            assert_too_many(await one.client.get("/api/v1/noop", headers=wrong_key(5)))
            assert_too_many(await two.client.get("/api/v1/noop", headers=wrong_key(6)))
    finally:
        await storages[0].reset()


async def test_requests_go_through_when_redis_is_down(
    strict: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    down = storage_for("redis://127.0.0.1:1/0")  # nothing listens there
    app = create_app(strict, uow_factory=uow_factory, clock=clock, rate_limits=RateLimits(strict, down))
    key = bearer(await new_api_key(uow_factory, clock, "till-1", scopes=frozenset({Scope.TILL})))
    async with running_api(app) as api:
        assert (await api.client.get("/api/v1/noop", headers=key)).status_code == 200
        for _ in range(6):  # over the failure limit, uncounted
            assert (await api.client.get("/api/v1/noop", headers=wrong_key(0))).status_code == 401
