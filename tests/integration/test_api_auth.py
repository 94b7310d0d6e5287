"""Every /api/v1 route refuses a request without a working API key, and says nothing else."""

from __future__ import annotations

import re

import pytest
from fastapi.dependencies.models import Dependant

from api.deps import INVALID_KEY, require_api_key
from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import revoke_api_key
from loyalty.clock import FixedClock
from tests.utils.api import (
    RunningApi,
    bearer,
    call,
    member_count,
    new_api_key,
    v1_operations,
    v1_routes,
)
from tests.utils.members import chat_member


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    return await chat_member(uow_factory, clock, telegram_id=777001)


def _calls(dependant: Dependant) -> set[object]:
    calls = {dependant.call}
    for sub in dependant.dependencies:
        calls |= _calls(sub)
    return calls


async def test_every_v1_route_depends_on_the_api_key_check(api: RunningApi) -> None:
    routes = v1_routes(api)
    assert len(routes) >= 4
    for route in routes:
        assert require_api_key in _calls(route.dependant), route.path


BAD_CREDENTIALS = [
    pytest.param({}, "missing", id="no-header"),
    pytest.param({"Authorization": ""}, "missing", id="empty-header"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed", id="basic-scheme"),
    pytest.param({"Authorization": "Bearer"}, "malformed", id="bearer-without-key"),
    pytest.param({"Authorization": "lk_abcdef"}, "malformed", id="key-without-scheme"),
    pytest.param(bearer("lk_" + "x" * 43), "invalid", id="unknown-key"),
    pytest.param(bearer("not-even-our-format"), "invalid", id="foreign-token"),
]


@pytest.mark.parametrize(("headers", "kind"), BAD_CREDENTIALS)
async def test_every_v1_route_refuses_bad_credentials(
    api: RunningApi,
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    member: Member,
    headers: dict[str, str],
    kind: str,
) -> None:
    await new_api_key(uow_factory, clock, "till-1")  # a working key exists, just not in this request
    before = await member_count(uow_factory)
    for method, path in v1_operations(api):
        response = await call(api, method, path, member, headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.headers["www-authenticate"] == "Bearer"
        body = response.json()
        assert body["code"] == "unauthorized" and set(body) == {"detail", "code"}, body
        assert body["detail"].startswith(kind), body
        assert member.member_number not in response.text
        assert "777001" not in response.text
    assert await member_count(uow_factory) == before


async def test_a_revoked_key_is_refused_like_an_unknown_one(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    key = await new_api_key(uow_factory, clock, "till-1")
    operations = v1_operations(api)
    for method, path in operations:
        response = await call(api, method, path, member, bearer(key))
        # Past authentication; the route may still refuse this generic body (404/409/422).
        assert response.status_code != 401, (method, path, response.text)

    async with uow_factory() as uow:
        await revoke_api_key(uow, clock, "till-1")
    before = await member_count(uow_factory)
    unknown = await api.client.get("/api/v1/noop", headers=bearer("lk_" + "y" * 43))
    for method, path in operations:
        response = await call(api, method, path, member, bearer(key))
        assert response.status_code == 401, (method, path)
        # Same answer as for a key that never existed: nothing says the name is taken.
        assert response.json() == unknown.json() == {"detail": INVALID_KEY, "code": "unauthorized"}
        assert response.headers["www-authenticate"] == "Bearer"
        assert member.member_number not in response.text
    assert await member_count(uow_factory) == before


async def test_a_working_key_opens_every_route(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    key = await new_api_key(uow_factory, clock, "till-1")
    for method, path in v1_operations(api):
        response = await call(api, method, path, member, bearer(key))
        # Past authentication; the route may still refuse this generic body (404/409/422).
        assert response.status_code != 401, (method, path, response.text)
        assert response.status_code < 500, (method, path, response.text)


async def test_auth_runs_before_input_validation(
    api: RunningApi, uow_factory: UnitOfWorkFactory
) -> None:
    # Without a key, even a malformed request learns only that it needs a key.
    for response in [
        await api.client.get("/api/v1/members/123"),
        await api.client.get("/api/v1/members", params={"page_size": 0}),
        await api.client.post("/api/v1/members", json={"phone": "nope"}),
    ]:
        assert response.status_code == 401
        assert response.json()["detail"].startswith("missing")
    assert await member_count(uow_factory) == 0


async def test_noop_answers_ok_to_an_authenticated_caller(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    key = await new_api_key(uow_factory, clock, "bench")
    response = await api.client.get("/api/v1/noop", headers=bearer(key))
    assert response.status_code == 200
    assert response.json() == {"ok": True}


# --- the key is checked before the body is read ------------------------------------------------

UNAUTHENTICATED_BODIES = [
    pytest.param(b'{"phone": ', "application/json", id="malformed-json"),
    pytest.param(b'{"phone": "\xff\xfe"}', "application/json", id="not-utf8"),
    pytest.param(b'{"phone": 12, "consent": "maybe"}', "application/json", id="wrong-types"),
    pytest.param(b"\x00\x01\x02", "application/octet-stream", id="binary"),
]


@pytest.mark.parametrize(("content", "content_type"), UNAUTHENTICATED_BODIES)
async def test_unauthenticated_malformed_bodies_get_401_on_every_write(
    api: RunningApi, uow_factory: UnitOfWorkFactory, member: Member, content: bytes, content_type: str
) -> None:
    for method, path in v1_operations(api):
        if method not in {"POST", "PUT", "PATCH"}:
            continue
        url = re.sub(r"\{[^}]+\}", member.member_number, path)
        for headers in ({}, bearer("lk_" + "z" * 43)):
            response = await api.client.request(
                method, url, content=content, headers={"Content-Type": content_type, **headers}
            )
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert response.json()["detail"].startswith("missing" if not headers else "invalid")

