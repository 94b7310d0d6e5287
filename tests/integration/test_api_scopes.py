"""Key scopes: every /api/v1 route answers each scope as api/access.py says, and nothing else.

The matrix is generated from the map and the app's own routes, so a route added later is
checked too (unlisted: admin only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from api.access import ROUTE_SCOPES, allowed_scopes, operation_name
from api.routes import API_V1_PREFIX
from db.models import ApiKey, AuditEvent, Member
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import ALL_SCOPES, Scope, scopes_of, set_api_key_scopes
from loyalty.clock import FixedClock
from tests.utils.api import (
    RunningApi,
    bearer,
    call,
    member_count,
    new_api_key,
    v1_operations,
)
from tests.utils.members import chat_member

ONE_SCOPE = [pytest.param(frozenset({scope}), id=scope.value) for scope in Scope]


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    return await chat_member(uow_factory, clock, telegram_id=777002)


async def audit_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def expected(method: str, path: str) -> frozenset[Scope]:
    operation = operation_name(method, path, API_V1_PREFIX)
    # `call` sends GET /members without a filter: paging the whole list.
    return frozenset({Scope.ADMIN}) if operation == "GET /members" else allowed_scopes(operation)


async def test_the_map_names_only_routes_that_exist(api: RunningApi) -> None:
    operations = {operation_name(method, path, API_V1_PREFIX) for method, path in v1_operations(api)}
    assert set(ROUTE_SCOPES) <= operations, set(ROUTE_SCOPES) - operations
    # Today every route is listed; a route added later without a line is admin only.
    assert allowed_scopes("DELETE /not-listed") == {Scope.ADMIN}


@pytest.mark.parametrize("scopes", [*ONE_SCOPE, pytest.param(frozenset({Scope.TILL, Scope.MARKETING}), id="till+marketing")])
async def test_every_route_answers_each_scope_as_the_map_says(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, scopes: frozenset[Scope]
) -> None:
    key = bearer(await new_api_key(uow_factory, clock, "key", scopes=scopes))
    operations = v1_operations(api)
    refused = [(m, p) for m, p in operations if scopes.isdisjoint(expected(m, p))]
    allowed = [(m, p) for m, p in operations if not scopes.isdisjoint(expected(m, p))]
    assert allowed, "every scope opens some route"

    writes = (await member_count(uow_factory), await audit_count(uow_factory))
    for method, path in refused:
        response = await call(api, method, path, member, key)
        assert response.status_code == 403, (method, path, response.text)
        body = response.json()
        route = allowed_scopes(operation_name(method, path, API_V1_PREFIX))
        # The route's scopes first; then, for the member list without a filter, admin.
        needs = [scope.value for scope in Scope if scope in (route if scopes.isdisjoint(route) else expected(method, path))]
        assert body["code"] == "insufficient_scope" and body["required_scopes"] == needs, body
        assert f"it needs {' or '.join(needs)}" in body["detail"]
        assert member.member_number not in response.text
    assert (await member_count(uow_factory), await audit_count(uow_factory)) == writes  # a 403 writes nothing

    for method, path in allowed:
        response = await call(api, method, path, member, key)
        # Past the scope check; the route may refuse this generic body (404/409/422).
        assert response.status_code not in {401, 403} and response.status_code < 500, (method, path, response.text)


async def test_admin_may_call_every_route(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    key = bearer(await new_api_key(uow_factory, clock, "owner", scopes=frozenset({Scope.ADMIN})))
    for method, path in v1_operations(api):
        response = await call(api, method, path, member, key)
        assert response.status_code not in {401, 403} and response.status_code < 500, (method, path, response.text)


async def test_a_till_finds_a_member_but_cannot_page_through_all_of_them(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    till = bearer(await new_api_key(uow_factory, clock, "till-1", scopes=frozenset({Scope.TILL})))
    found = await api.client.get("/api/v1/members", params={"telegram_id": 777002}, headers=till)
    assert found.status_code == 200 and found.json()["count"] == 1
    paged = await api.client.get("/api/v1/members", params={"page": 1}, headers=till)
    assert paged.status_code == 403 and paged.json()["required_scopes"] == ["admin"]


async def test_a_forbidden_route_is_refused_before_its_body_is_validated(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    till = bearer(await new_api_key(uow_factory, clock, "till-1", scopes=frozenset({Scope.TILL})))
    response = await api.client.put("/api/v1/tiers/gold", json={"rank": "not a number"}, headers=till)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'


async def test_a_key_from_before_scopes_keeps_every_scope_until_narrowed(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    raw = await new_api_key(uow_factory, clock, "old-till")
    async with uow_factory() as uow:  # as migration 0009 leaves a key that existed before it
        await uow.session.execute(update(ApiKey).where(ApiKey.name == "old-till").values(scopes=None))
        await uow.commit()
    for method, path in v1_operations(api):
        response = await call(api, method, path, member, bearer(raw))
        assert response.status_code not in {401, 403}, (method, path, response.text)

    async with uow_factory() as uow:
        narrowed = await set_api_key_scopes(uow, clock, "old-till", frozenset({Scope.TILL}))
        assert scopes_of(narrowed) == {Scope.TILL}
    # At once, for the very next request.
    assert (await api.client.get("/api/v1/tiers", headers=bearer(raw))).status_code == 403
    assert (await api.client.get("/api/v1/noop", headers=bearer(raw))).status_code == 200


async def test_every_operation_documents_401_403_and_429(api: RunningApi) -> None:
    document = api.app.openapi()
    for path, item in document["paths"].items():
        if not path.startswith(API_V1_PREFIX):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"401", "403", "429"} <= set(responses), (method, path)
            assert "Retry-After" in responses["429"]["headers"]
            assert operation["security"] == [{"ApiKey": []}]


# --- expiry and last use -------------------------------------------------------------------


async def test_an_expired_key_is_refused_like_a_revoked_one(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    raw = await new_api_key(uow_factory, clock, "temp", scopes=ALL_SCOPES, expires_at=clock.now() + timedelta(days=90))
    assert (await api.client.get("/api/v1/noop", headers=bearer(raw))).status_code == 200
    clock.advance(timedelta(days=90) - timedelta(seconds=1))
    assert (await api.client.get("/api/v1/noop", headers=bearer(raw))).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = await api.client.get("/api/v1/noop", headers=bearer(raw))
    unknown = await api.client.get("/api/v1/noop", headers=bearer("lk_" + "q" * 43))
    assert expired.status_code == 401
    assert expired.json() == unknown.json() == {"detail": "invalid API key", "code": "unauthorized"}


async def last_used(uow_factory: UnitOfWorkFactory, name: str) -> object:
    async with uow_factory() as uow:
        key = await uow.api_keys.by_name(name)
        assert key is not None
        return key.last_used_at


async def test_last_use_is_written_at_most_once_a_minute(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    raw = bearer(await new_api_key(uow_factory, clock, "till-1", scopes=frozenset({Scope.TILL})))
    start = clock.now()
    assert await last_used(uow_factory, "till-1") is None
    assert (await api.client.get("/api/v1/noop", headers=raw)).status_code == 200
    assert await last_used(uow_factory, "till-1") == start
    for _ in range(5):
        clock.advance(timedelta(seconds=11))  # 55 s in all: not written again
        assert (await api.client.get("/api/v1/noop", headers=raw)).status_code == 200
        assert await last_used(uow_factory, "till-1") == start
    clock.advance(timedelta(seconds=5))
    assert (await api.client.get("/api/v1/noop", headers=raw)).status_code == 200
    assert await last_used(uow_factory, "till-1") == start + timedelta(seconds=60)
