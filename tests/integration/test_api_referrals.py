"""The referral program over real HTTP: terms set and read by marketing (not by a till), every
bad input a 422 naming the field with nothing written, held referrals reviewed, the report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent
from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.coupons import make_template
from tests.utils.members import chat_member
from tests.utils.referrals import buy, friend_joins, link_of, stored_referrals

TERMS: dict[str, Any] = {
    "active": True,
    "friend_coupon": "FRIEND",
    "reward_points": 300,
    "min_purchase_minor": 3000,
    "hold_days": 14,
    "monthly_cap": 5,
    "total_cap": 50,
}


@pytest.fixture
async def marketing(api_uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    return bearer(await new_api_key(api_uow_factory, clock, "mkt", scopes=frozenset({Scope.MARKETING})))


async def test_marketing_sets_and_reads_the_terms_and_a_till_may_not(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, marketing: dict[str, str]
) -> None:
    await make_template(uow_factory, clock, code="FRIEND")
    assert (await api.client.get("/api/v1/referral-program", headers=marketing)).status_code == 404, "off until set"
    put = await api.client.put("/api/v1/referral-program", json=TERMS, headers=marketing)
    assert put.status_code == 200, put.text
    got = (await api.client.get("/api/v1/referral-program", headers=marketing)).json()
    assert got == {**TERMS, "reward_coupon": None, "burst_size": 3, "burst_minutes": 10, "daily_join_limit": 10}
    async with uow_factory() as uow:
        [audit] = await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "referral_program.set"))
    assert audit.actor == "apikey:mkt"

    till = bearer(await new_api_key(uow_factory, clock, "till", scopes=frozenset({Scope.TILL})))
    assert (await api.client.put("/api/v1/referral-program", json=TERMS, headers=till)).status_code == 403
    assert (await api.client.get("/api/v1/referrals/report?start=2026-11-01&end=2026-11-30", headers=till)).status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"friend_coupon": "NOPE"}, "friend_coupon"),
        ({"reward_coupon": "NOPE"}, "reward_coupon"),
        ({"reward_points": 0}, "reward_points"),
        ({"reward_points": -1}, "reward_points"),
        ({"hold_days": 400}, "hold_days"),
        ({"burst_size": 1}, "burst_size"),
        ({"monthly_cap": -1}, "monthly_cap"),
        ({"min_purchase_minor": "3000"}, "min_purchase_minor"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_terms_are_a_422_naming_the_field_and_write_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, marketing: dict[str, str],
    change: dict[str, Any], field: str,
) -> None:
    await make_template(uow_factory, clock, code="FRIEND")
    response = await api.client.put("/api/v1/referral-program", json={**TERMS, **change}, headers=marketing)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert (await api.client.get("/api/v1/referral-program", headers=marketing)).status_code == 404


async def test_held_referrals_are_approved_or_rejected_once(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, marketing: dict[str, str]
) -> None:
    ann = await chat_member(uow_factory, clock, telegram_id=2001)
    put = await api.client.put(
        "/api/v1/referral-program", json={"active": True, "reward_points": 300, "hold_days": 0}, headers=marketing
    )
    assert put.status_code == 200
    link = await link_of(uow_factory, ann)
    for _ in range(3):
        friend, _ = await friend_joins(uow_factory, clock, settings, link)
        await buy(uow_factory, clock, settings, friend, 1000)
    first, second, _ = await stored_referrals(uow_factory)
    listing = (await api.client.get("/api/v1/referrals?status=held", headers=marketing)).json()
    assert listing["count"] == 3 and {row["id"] for row in listing["data"]} == {r.id for r in await stored_referrals(uow_factory)}
    assert {row["referrer"] for row in listing["data"]} == {ann.member_number}
    assert (await api.client.get("/api/v1/referrals?status=nonsense", headers=marketing)).status_code == 422

    approved = await api.client.post(f"/api/v1/referrals/{first.id}/approve", headers=marketing)
    assert approved.status_code == 200 and approved.json()["status"] == "rewarded"
    rejected = await api.client.post(f"/api/v1/referrals/{second.id}/reject", headers=marketing)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    still_held = (await api.client.get("/api/v1/referrals?status=held", headers=marketing)).json()
    assert still_held["count"] == 1
    again = await api.client.post(f"/api/v1/referrals/{first.id}/reject", headers=marketing)
    assert again.status_code == 409 and again.json()["code"] == "referral_not_held"
    assert (await api.client.post("/api/v1/referrals/999999/approve", headers=marketing)).status_code == 404


async def test_the_report_over_http(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, marketing: dict[str, str]
) -> None:
    ann = await chat_member(uow_factory, clock, telegram_id=2001)
    await api.client.put(
        "/api/v1/referral-program", json={"active": True, "reward_points": 250, "hold_days": 1}, headers=marketing
    )
    bob, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    await buy(uow_factory, clock, settings, bob, 6400)
    clock.advance(timedelta(days=2))
    await referrals.pay_due(uow_factory, clock, settings)
    day = clock.now().astimezone(settings.zone).date()
    url = f"/api/v1/referrals/report?start={day - timedelta(days=7)}&end={day}"
    report = (await api.client.get(url, headers=marketing)).json()
    total = report["total"]
    assert (total["joined"], total["first_purchase"], total["rewarded"]) == (1, 1, 1)
    assert (total["reward_points"], total["reward_cost_minor"], total["revenue_minor"]) == (250, 250, 6400)
    [line] = report["referrers"]
    assert line["member_number"] == ann.member_number and line["rewarded"] == 1
    backwards = await api.client.get(f"/api/v1/referrals/report?start={day}&end={day - timedelta(days=1)}", headers=marketing)
    assert backwards.status_code == 422 and "end" in backwards.json()["detail"][0]["loc"]
