"""The API served over real HTTP for tests: uvicorn on 127.0.0.1, on a port the OS picks,
in the test's own event loop, talked to with httpx."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy import func, select

from db.models import AuditEvent, Member
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope, create_api_key
from loyalty.clock import Clock
from tests.utils.database import AUTH_AUDIT
from tests.utils.members import next_phone

STARTUP_TIMEOUT_SECONDS = 10


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run `app` under uvicorn (lifespan included) and yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # raises what startup raised
                    raise RuntimeError("uvicorn stopped during startup")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class RunningApi:
    app: FastAPI
    client: httpx.AsyncClient
    bodies: list[str] = field(default_factory=list)  # every response body, to check disclosure


@asynccontextmanager
async def running_api(app: FastAPI) -> AsyncIterator[RunningApi]:
    bodies: list[str] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        bodies.append(response.text)

    async with serve(app) as base_url, httpx.AsyncClient(
        base_url=base_url, timeout=60, event_hooks={"response": [record]}
    ) as client:
        yield RunningApi(app=app, client=client, bodies=bodies)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_api_key(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    name: str = "till-1",
    *,
    scopes: frozenset[Scope] = frozenset({Scope.ADMIN}),
    expires_at: datetime | None = None,
) -> str:
    """A key for tests of what routes do: admin, so any route opens (tests of scopes say theirs)."""
    async with uow_factory() as uow:
        return await create_api_key(uow, clock, name, scopes=scopes, expires_at=expires_at)


async def member_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Member)) or 0)




async def audit_events(uow_factory: UnitOfWorkFactory, *, auth: bool = True) -> list[AuditEvent]:
    """The audit trail; without `auth`, less what authenticating requests wrote to it."""
    statement = select(AuditEvent).order_by(AuditEvent.id)
    if not auth:
        statement = statement.where(~AuditEvent.action.startswith(AUTH_AUDIT))
    async with uow_factory() as uow:
        return list(await uow.session.scalars(statement))


async def stored_phones(uow_factory: UnitOfWorkFactory) -> list[str]:
    async with uow_factory() as uow:
        members = await uow.session.scalars(select(Member))
        return [phone for member in members if (phone := uow.members.phone_of(member))]


def phone_forms(e164: str) -> list[str]:
    """Ways a full number could show up in a body: +8613800138000, 8613800138000, 13800138000."""
    digits = e164.lstrip("+")
    return [e164, digits, digits[2:] if digits.startswith("86") else digits]


async def assert_no_phone_disclosed(api: RunningApi, uow_factory: UnitOfWorkFactory) -> None:
    phones = await stored_phones(uow_factory)
    for body in api.bodies:
        for phone in phones:
            for form in phone_forms(phone):
                assert form not in body, f"a full phone number appears in a response: {body[:200]}"


def v1_routes(api: RunningApi) -> list[RouteContext]:
    # Since FastAPI 0.137 `app.routes` holds included routers, not their routes: walk the tree.
    return [
        context
        for context in iter_route_contexts(api.app.routes)
        if isinstance(context.original_route, APIRoute)
        and (context.path or "").startswith("/api/v1")
    ]


def v1_operations(api: RunningApi) -> list[tuple[str, str]]:
    operations = sorted(
        (method, context.path) for context in v1_routes(api) for method in context.methods or ()
    )
    # The walk must find at least what the OpenAPI document lists, or the checks are vacuous.
    documented = sorted(
        (method.upper(), path)
        for path, item in api.app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in item
    )
    assert documented and set(documented) <= set(operations), (documented, operations)
    assert ("POST", "/api/v1/members") in operations
    return operations


async def call(
    api: RunningApi, method: str, path: str, member: Member, headers: dict[str, str]
) -> httpx.Response:
    """A request that a route without authentication would answer with data (or a write)."""
    url = re.sub(r"\{[^}]+\}", member.member_number, path)
    body = {"phone": next_phone(), "consent": True} if method in {"POST", "PUT", "PATCH"} else None
    return await api.client.request(method, url, json=body, headers=headers)


