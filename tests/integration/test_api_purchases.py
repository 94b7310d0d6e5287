"""Purchases and refunds through the real HTTP API: points right to the point under retries,
concurrency, refunds and bad input."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from api.main import create_app
from db.models import EarningRule, LedgerEntry, Notification, Purchase, Refund, Store
from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import FixedClock
from tests.utils.api import running_api
from tests.utils.members import till_member


@pytest.fixture
async def store(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    async with uow_factory() as uow:
        uow.session.add(Store(code="S001", name="People's Square", city="Shanghai", timezone="Asia/Shanghai", active=True, created_at=clock.now()))
        uow.session.add(Store(code="CLOSED", name="Closed", city="Shanghai", timezone="Asia/Shanghai", active=False, created_at=clock.now()))
        await uow.commit()
    return "S001"


@pytest.fixture
async def member_number(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    return (await till_member(uow_factory, clock)).member_number


def purchase(member_number: str, order_id: str = "A-1", amount: int = 12800, **extra: Any) -> dict[str, Any]:
    return {"member": {"member_number": member_number}, "order_id": order_id, "store": "S001",
            "amount_minor": amount, "currency": "CNY", **extra}


async def counts(uow_factory: UnitOfWorkFactory) -> tuple[int, int, int]:
    async with uow_factory() as uow:
        purchases = await uow.session.scalar(select(func.count()).select_from(Purchase))
        entries = await uow.session.scalar(select(func.count()).select_from(LedgerEntry))
        refunds = await uow.session.scalar(select(func.count()).select_from(Refund))
        return int(purchases or 0), int(entries or 0), int(refunds or 0)


async def balance_of(uow_factory: UnitOfWorkFactory, number: str) -> int:
    async with uow_factory() as uow:
        member = await uow.members.by_number(number)
        assert member is not None
        await ledger.check_consistency(uow, member.id)
        return member.points_balance


async def test_purchase_credits_points_at_the_base_rate(api, auth, store, member_number, uow_factory) -> None:
    response = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["points_earned"] == 128  # 1 point per ¥1.00 on ¥128.00
    assert body["balance"] == 128 and body["tier"] == "member" and not body["tier_upgraded"]
    assert await balance_of(uow_factory, member_number) == 128
    async with uow_factory() as uow:
        [note] = (await uow.session.scalars(select(Notification))).all()
    assert note.kind == "points_earned" and note.payload["points"] == 128


async def test_member_can_be_named_by_phone_or_card_qr(api, auth, store, uow_factory, clock) -> None:
    member = await till_member(uow_factory, clock, phone="+8613912345678")
    by_phone = {**purchase("x"), "member": {"phone": "139 1234 5678"}, "order_id": "P-1"}
    by_qr = {**purchase("x"), "member": {"qr": member.member_number}, "order_id": "P-2"}
    for body in (by_phone, by_qr):
        response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
        assert response.status_code == 201 and response.json()["member_number"] == member.member_number
    assert await balance_of(uow_factory, member.member_number) == 256


async def test_same_order_twice_posts_once_and_answers_the_same(api, auth, store, member_number, uow_factory) -> None:
    first = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    again = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await counts(uow_factory))[0] == 1
    assert await balance_of(uow_factory, member_number) == 128


async def test_same_key_with_a_different_body_is_a_conflict(api, auth, store, member_number, uow_factory) -> None:
    headers = {**auth, "Idempotency-Key": "till-7-0001"}
    assert (await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=headers)).status_code == 201
    other = await api.client.post("/api/v1/purchases", json=purchase(member_number, amount=999), headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert (await counts(uow_factory))[0] == 1


async def test_same_order_under_another_key_is_refused(api, auth, store, member_number, uow_factory) -> None:
    await api.client.post("/api/v1/purchases", json=purchase(member_number), headers={**auth, "Idempotency-Key": "k1"})
    other = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers={**auth, "Idempotency-Key": "k2"})
    assert other.status_code == 409 and other.json()["code"] == "duplicate_order"
    assert await balance_of(uow_factory, member_number) == 128


async def test_twenty_concurrent_repeats_post_once(api, auth, store, member_number, uow_factory) -> None:
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert (await counts(uow_factory))[0] == 1
    assert await balance_of(uow_factory, member_number) == 128


async def test_concurrent_purchases_for_one_member_lose_nothing(api, auth, store, member_number, uow_factory) -> None:
    amounts = [100 * (n + 1) for n in range(30)]
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/purchases", json=purchase(member_number, f"C-{n}", amount), headers=auth)
          for n, amount in enumerate(amounts))
    )
    assert [r.status_code for r in responses] == [201] * 30
    # The 10th visit makes the member Silver (10 visits), so later purchases earn 110%.
    earned = [r.json()["points_earned"] for r in responses]
    assert sum(earned) > sum(a // 100 for a in amounts)
    assert await balance_of(uow_factory, member_number) == sum(earned)
    balances = sorted(r.json()["balance"] for r in responses)
    assert len(set(balances)) == 30, "each purchase saw the balance left by the one before it"


async def test_partial_refunds_take_back_exactly_the_points_of_a_full_refund(api, auth, store, member_number, uow_factory) -> None:
    await api.client.post("/api/v1/purchases", json=purchase(member_number, amount=10001), headers=auth)  # 100 points
    taken = []
    for n, amount in enumerate([3333, 3333, 3335]):
        response = await api.client.post(
            "/api/v1/refunds",
            json={"order_id": "A-1", "refund_id": f"R-{n}", "amount_minor": amount, "currency": "CNY"},
            headers=auth,
        )
        assert response.status_code == 201, response.text
        taken.append(response.json()["points_clawed_back"])
    assert sum(taken) == 100
    assert await balance_of(uow_factory, member_number) == 0
    over = await api.client.post(
        "/api/v1/refunds", json={"order_id": "A-1", "refund_id": "R-9", "amount_minor": 1, "currency": "CNY"}, headers=auth
    )
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["body", "amount_minor"]


async def test_refund_after_points_were_spent_records_the_shortfall(api, auth, store, member_number, uow_factory, clock) -> None:
    await api.client.post("/api/v1/purchases", json=purchase(member_number, amount=50000), headers=auth)  # 500
    spend = await api.client.post(
        f"/api/v1/members/{member_number}/adjustments", json={"points": -450, "reason": "redeemed at counter"},
        headers={**auth, "Idempotency-Key": "adj-1"},
    )
    assert spend.status_code == 201, spend.text
    response = await api.client.post(
        "/api/v1/refunds", json={"order_id": "A-1", "refund_id": "R-1", "amount_minor": 50000, "currency": "CNY"}, headers=auth
    )
    body = response.json()
    assert body["points_clawed_back"] == 50 and body["shortfall_points"] == 450 and body["balance"] == 0
    assert await balance_of(uow_factory, member_number) == 0
    async with uow_factory() as uow:
        [refund] = (await uow.session.scalars(select(Refund))).all()
    assert refund.shortfall_points == 450


async def test_refund_is_idempotent_and_unknown_orders_are_404(api, auth, store, member_number, uow_factory) -> None:
    await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    body = {"order_id": "A-1", "refund_id": "R-1", "amount_minor": 6400, "currency": "CNY"}
    first = await api.client.post("/api/v1/refunds", json=body, headers=auth)
    again = await api.client.post("/api/v1/refunds", json=body, headers=auth)
    assert first.json() == again.json() and first.json()["points_clawed_back"] == 64
    assert (await counts(uow_factory))[2] == 1
    missing = await api.client.post("/api/v1/refunds", json={**body, "order_id": "NOPE", "refund_id": "R-2"}, headers=auth)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -100}, "amount_minor"),
        ({"amount_minor": 10**15}, "amount_minor"),
        ({"amount_minor": 12.5}, "amount_minor"),
        ({"amount_minor": "12800"}, "amount_minor"),
        ({"currency": "ABC"}, "currency"),
        ({"currency": "cny"}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"store": "NOWHERE"}, "store"),
        ({"store": "CLOSED"}, "store"),
        ({"store": None}, "store"),
        ({"order_id": "has spaces"}, "order_id"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
        ({"member": {"member_number": "1234567890"}}, "member"),
        ({"member": {}}, "member"),
        ({"purchased_at": "2026-11-24T12:00:00"}, "purchased_at"),
        ({"purchased_at": "2026-11-25T12:00:00Z"}, "purchased_at"),
        ({"lines": [{"sku": "A", "amount_minor": 100}]}, "lines"),
        ({"channel": "phone"}, "channel"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_purchases_are_422_and_write_nothing(api, auth, store, member_number, uow_factory, change, field) -> None:
    body = {**purchase(member_number), **change}
    response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert any(field in [str(part) for part in error["loc"]] for error in response.json()["detail"]), response.json()
    assert await counts(uow_factory) == (0, 0, 0)


async def test_unknown_member_is_404_and_writes_nothing(api, auth, store, uow_factory) -> None:
    body = purchase("1234567897")
    response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert response.status_code == 404
    assert await counts(uow_factory) == (0, 0, 0)


async def test_online_purchase_needs_no_store_and_lands_in_the_same_ledger(api, auth, store, member_number, uow_factory) -> None:
    online = {**purchase(member_number, "WEB-1", 5000), "channel": "online", "store": None}
    assert (await api.client.post("/api/v1/purchases", json=online, headers=auth)).status_code == 201
    assert (await api.client.post("/api/v1/purchases", json=purchase(member_number, "WEB-1", 5000), headers=auth)).status_code == 201
    assert await balance_of(uow_factory, member_number) == 100


async def test_crossing_a_tier_threshold_upgrades_at_once(api, auth, store, member_number, uow_factory) -> None:
    response = await api.client.post("/api/v1/purchases", json=purchase(member_number, amount=650_000), headers=auth)
    body = response.json()
    assert body["tier"] == "gold" and body["tier_upgraded"]  # ¥6,500 passes Silver and Gold at once
    looked_up = await api.client.get(f"/api/v1/members/{member_number}", headers=auth)
    assert looked_up.json()["tier"] == "gold"
    async with uow_factory() as uow:
        kinds = sorted(n.kind for n in (await uow.session.scalars(select(Notification))).all())
    assert kinds == ["points_earned", "tier_upgraded"]


async def test_first_purchase_bonus_is_paid_once(api, auth, store, member_number, uow_factory, clock) -> None:
    async with uow_factory() as uow:
        uow.session.add(EarningRule(name="Welcome bonus", kind="bonus", event="first_purchase", points=50, active=True, created_at=clock.now()))
        await uow.commit()
    first = await api.client.post("/api/v1/purchases", json=purchase(member_number, "B-1"), headers=auth)
    second = await api.client.post("/api/v1/purchases", json=purchase(member_number, "B-2"), headers=auth)
    assert first.json()["bonus_points"] == 50 and second.json()["bonus_points"] == 0
    assert await balance_of(uow_factory, member_number) == 128 * 2 + 50


async def test_points_view_shows_what_expires_when(api, auth, store, member_number, uow_factory, clock) -> None:
    await api.client.post("/api/v1/purchases", json=purchase(member_number, "E-1", 10000), headers=auth)
    clock.advance(timedelta(days=40))
    await api.client.post("/api/v1/purchases", json=purchase(member_number, "E-2", 20000), headers=auth)
    view = (await api.client.get(f"/api/v1/members/{member_number}/points", headers=auth)).json()
    assert view["balance"] == 300 and view["available"] == 300
    assert [e["points"] for e in view["expiring"]] == [100, 200]
    assert view["expiring"][0]["expires_at"] < view["expiring"][1]["expires_at"]
    assert view["tier"]["tier"] == "member" and view["tier"]["next_tier"] == "silver"
    assert [e["kind"] for e in view["recent"]][:2] in (["earn", "earn"],)


async def test_adjustments_are_audited_idempotent_and_never_below_zero(api, auth, store, member_number, uow_factory) -> None:
    headers = {**auth, "Idempotency-Key": "goodwill-1"}
    url = f"/api/v1/members/{member_number}/adjustments"
    first = await api.client.post(url, json={"points": 30, "reason": "late delivery"}, headers=headers)
    again = await api.client.post(url, json={"points": 30, "reason": "late delivery"}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await balance_of(uow_factory, member_number) == 30
    too_much = await api.client.post(url, json={"points": -31, "reason": "correction"}, headers={**auth, "Idempotency-Key": "c-1"})
    assert too_much.status_code == 409 and too_much.json()["code"] == "insufficient_points"
    no_key = await api.client.post(url, json={"points": 5, "reason": "x y z"}, headers=auth)
    assert no_key.status_code == 422
    zero = await api.client.post(url, json={"points": 0, "reason": "nothing"}, headers={**auth, "Idempotency-Key": "z"})
    assert zero.status_code == 422
    assert await balance_of(uow_factory, member_number) == 30
    async with uow_factory() as uow:
        from db.models import AuditEvent

        actions = [e.action for e in (await uow.session.scalars(select(AuditEvent))).all()]
    assert actions.count("points.adjust") == 1


async def test_a_retry_replays_even_after_the_store_closed(api, auth, store, member_number, uow_factory) -> None:
    first = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    async with uow_factory() as uow:
        found = await uow.program.store_by_code("S001")
        assert found is not None
        found.active = False
        await uow.commit()
    retry = await api.client.post("/api/v1/purchases", json=purchase(member_number), headers=auth)
    assert retry.status_code == 201 and retry.json() == first.json()
    fresh = await api.client.post("/api/v1/purchases", json=purchase(member_number, "A-2"), headers=auth)
    assert fresh.status_code == 422 and fresh.json()["detail"][0]["loc"] == ["body", "store"]


# --- how late a purchase may be posted -----------------------------------------------------------


@pytest.mark.parametrize(
    "purchased_at",
    ["1970-01-01T00:00:00Z", "2026-11-17T11:59:59Z", "2026-10-15T12:00:00+08:00"],  # the last: a birthday month
)
async def test_a_purchase_dated_further_back_than_the_limit_is_422_saying_the_limit(
    api, auth, store, uow_factory, clock, purchased_at
) -> None:
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        stored = await uow.members.by_number(member.member_number)
        assert stored is not None
        stored.birthday = date(1990, 10, 3)
        await uow.commit()
    body = purchase(member.member_number, purchased_at=purchased_at)
    response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "purchased_at"]
    assert "at most 7 days late" in error["msg"], error
    assert await counts(uow_factory) == (0, 0, 0)


async def test_a_till_may_post_up_to_the_limit_late_and_five_minutes_early(
    api, auth, store, member_number, uow_factory, clock
) -> None:
    week = clock.now() - timedelta(days=7)
    ahead = clock.now() + timedelta(minutes=5)
    for order, moment in (("LATE", week), ("EARLY", ahead)):
        body = purchase(member_number, order, purchased_at=moment.isoformat())
        response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
        assert response.status_code == 201, response.text
    too_early = purchase(member_number, "SOON", purchased_at=(ahead + timedelta(seconds=1)).isoformat())
    response = await api.client.post("/api/v1/purchases", json=too_early, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "purchased_at is more than 5 minutes ahead of the server's clock"


async def test_the_limit_is_a_setting(settings, uow_factory, clock, auth, store, member_number) -> None:
    strict = settings.model_copy(update={"purchase_backdate_days": 1})
    async with running_api(create_app(strict, uow_factory=uow_factory, clock=clock)) as api:
        body = purchase(member_number, purchased_at=(clock.now() - timedelta(days=2)).isoformat())
        response = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "purchased_at is more than 1 day ago: a purchase may be posted at most 1 day late"
    )


async def test_a_retry_replays_even_once_the_purchase_is_too_old_to_post(
    api, auth, store, member_number, uow_factory, clock
) -> None:
    body = purchase(member_number, purchased_at=(clock.now() - timedelta(days=6)).isoformat())
    first = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert first.status_code == 201, first.text
    clock.advance(timedelta(days=2))
    again = await api.client.post("/api/v1/purchases", json=body, headers=auth)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
