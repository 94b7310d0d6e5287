"""Reads of member data through the API are in the audit trail, under the key that read them,
at the cost of one INSERT in the request's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from tests.utils.api import RunningApi, audit_events, bearer, new_api_key
from tests.utils.database import writes
from tests.utils.members import chat_member

PHONE = "+8613912345678"


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    return await chat_member(uow_factory, clock, telegram_id=555001, phone=PHONE)



async def test_every_read_of_member_data_is_audited_with_its_key(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    till = bearer(await new_api_key(uow_factory, clock, "till-7", scopes=frozenset({Scope.TILL})))
    admin = bearer(await new_api_key(uow_factory, clock, "office", scopes=frozenset({Scope.ADMIN})))
    number = member.member_number
    reads = [
        (till, f"/api/v1/members?phone={PHONE}", "lookup by phone"),
        (till, "/api/v1/members?telegram_id=555001", "lookup by telegram_id"),
        (till, f"/api/v1/members/{number}", "by member number"),
        (till, f"/api/v1/members/{number}/points", "points"),
        (till, f"/api/v1/members/{number}/coupons", "coupons"),
        (admin, f"/api/v1/members/{number}/tags", "tags"),
    ]
    before = len(await audit_events(uow_factory))
    for key, url, _ in reads:
        assert (await api.client.get(url, headers=key)).status_code == 200, url
    miss = await api.client.get("/api/v1/members?phone=+8613900000000", headers=till)
    assert miss.status_code == 200 and miss.json()["count"] == 0
    page = await api.client.get("/api/v1/members?page=1&page_size=20", headers=admin)
    assert page.status_code == 200

    events = (await audit_events(uow_factory))[before:]
    assert [(e.actor, e.action, e.member_id, e.detail) for e in events] == [
        *(("apikey:till-7" if key is till else "apikey:office", "member.read", member.id, what) for key, _, what in reads),
        ("apikey:till-7", "member.read", None, "lookup by phone: no match"),
        ("apikey:office", "members.list", None, f"page 1 of 20: {number}"),
    ]
    assert all(e.at == clock.now() for e in events)
    # The trail names who read, never what was looked up by.
    assert not any(PHONE in (e.detail or "") or "13912345678" in (e.detail or "") for e in events)


async def test_a_lookup_at_the_till_costs_one_insert(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, engine: AsyncEngine
) -> None:
    till = bearer(await new_api_key(uow_factory, clock, "till-7", scopes=frozenset({Scope.TILL})))
    assert (await api.client.get("/api/v1/noop", headers=till)).status_code == 200  # last use noted
    with writes(engine) as sql:
        response = await api.client.get(f"/api/v1/members?phone={PHONE}", headers=till)
    assert response.status_code == 200 and response.json()["count"] == 1
    assert len(sql) == 1 and "audit_events" in sql[0], sql
