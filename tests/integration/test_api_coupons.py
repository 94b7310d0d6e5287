"""Coupons through the API over real HTTP: the merchant's templates, issuing (idempotent, limited,
also under concurrency), a member's coupons, the till looking a code up and redeeming it once
when two tills race, coupons a purchase earns by reaching a tier, and every refusal answering
with its reason or field and writing nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from db.models import Coupon, LedgerEntry, Notification
from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import FixedClock
from loyalty.i18n import localized
from tests.conftest import START
from tests.utils.api import RunningApi, assert_no_phone_disclosed, audit_events, bearer, new_api_key
from tests.utils.coupons import add_store, make_template, stored_coupon, written
from tests.utils.members import next_phone, till_member
from tests.utils.rewards import set_tier

ROUNDS = 5  # races repeated, each on a fresh coupon

WELCOME = {
    "code": "WELCOME10",
    "names": {"en": "10% off", "zh_CN": "九折"},
    "descriptions": {"en": "On orders of ¥30.00 or more."},
    "kind": "percent_off",
    "value": 10,
    "min_spend_minor": 3000,
    "valid_days": 30,
}


@pytest.fixture
async def stores(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_store(uow_factory, clock, "SH1", city="Shanghai")
    await add_store(uow_factory, clock, "LDN", city="London", timezone="Europe/London")
    await add_store(uow_factory, clock, "CLOSED", city="Shanghai", active=False)


@pytest.fixture
async def member_number(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    return (await till_member(uow_factory, clock)).member_number


def redeem_body(code: str, order_id: str = "S1-0001", **changes: Any) -> dict[str, Any]:
    return {"code": code, "store": "SH1", "order_id": order_id, "amount_minor": 12800, "currency": "CNY"} | changes


async def issue(api: RunningApi, auth: dict[str, str], template: str, member: str, **headers: str) -> httpx.Response:
    return await api.client.post(
        "/api/v1/coupons", json={"template": template, "member": member}, headers=auth | headers
    )


async def issued_code(api: RunningApi, auth: dict[str, str], template: str, member: str) -> str:
    response = await issue(api, auth, template, member)
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    assert isinstance(code, str)
    return code


async def create(api: RunningApi, auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await api.client.post("/api/v1/coupon-templates", json=WELCOME | changes, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


async def redeem(api: RunningApi, auth: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await api.client.post("/api/v1/coupons/redeem", json=body, headers=auth)


def error_locs(response: httpx.Response) -> list[list[str | int]]:
    return [error["loc"] for error in response.json()["detail"]]


async def balance_of(uow_factory: UnitOfWorkFactory, number: str) -> int:
    async with uow_factory() as uow:
        member = await uow.members.by_number(number)
        assert member is not None
        await ledger.check_consistency(uow, member.id)
        return member.points_balance


# --- authentication --------------------------------------------------------------------------


ROUTES = [
    ("GET", "/api/v1/coupon-templates"),
    ("POST", "/api/v1/coupon-templates"),
    ("GET", "/api/v1/coupon-templates/WELCOME10"),
    ("PATCH", "/api/v1/coupon-templates/WELCOME10"),
    ("POST", "/api/v1/coupons"),
    ("GET", "/api/v1/coupons/CP-0000-0000-0000"),
    ("POST", "/api/v1/coupons/redeem"),
    ("GET", "/api/v1/members/4260185626/coupons"),
]


async def test_every_route_needs_a_key(api: RunningApi, uow_factory) -> None:
    before = await written(uow_factory)
    for method, path in ROUTES:
        for headers in ({}, bearer("lk_not-a-key")):
            body = WELCOME if method != "GET" else None
            response = await api.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path)
            assert set(response.json()) == {"detail", "code"}
    assert await written(uow_factory) == before


# --- the merchant's templates ------------------------------------------------------------------


async def test_create_read_list_and_change_a_template(api: RunningApi, auth, uow_factory, stores) -> None:
    body = WELCOME | {"stores": ["SH1"], "cities": ["London"], "min_tier": "silver", "total_quantity": 100,
                      "valid_from": "2026-12-01", "valid_until": "2026-12-31", "auto_issue": "tier"}
    response = await api.client.post("/api/v1/coupon-templates", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/api/v1/coupon-templates/WELCOME10"
    created = response.json()
    assert created == {
        "code": "WELCOME10",
        "names": {"en": "10% off", "zh_CN": "九折"},
        "descriptions": {"en": "On orders of ¥30.00 or more."},
        "image_url": None,
        "kind": "percent_off",
        "value": 10,
        "currency": "CNY",
        "min_spend_minor": 3000,
        "valid_from": "2026-12-01",
        "valid_until": "2026-12-31",
        "valid_days": 30,
        "stores": ["SH1"],
        "cities": ["London"],
        "min_tier": "silver",
        "per_member_limit": 1,
        "total_quantity": 100,
        "issued_count": 0,
        "auto_issue": "tier",
        "active": True,
        "created_at": "2026-11-24T12:00:00Z",
    }
    assert (await api.client.get("/api/v1/coupon-templates/WELCOME10", headers=auth)).json() == created

    changed = await api.client.patch(
        "/api/v1/coupon-templates/WELCOME10",
        json={"stores": [], "cities": ["shanghai", "Beijing"], "total_quantity": None, "active": False},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == created | {
        "stores": [], "cities": ["shanghai", "Beijing"], "total_quantity": None, "active": False
    }
    assert (await api.client.get("/api/v1/coupon-templates/WELCOME10", headers=auth)).json() == changed.json()
    events = [
        (e.action, e.actor, e.detail)
        for e in await audit_events(uow_factory)
        if e.action.startswith("coupon_template")
    ]
    assert events[0] == ("coupon_template.create", "apikey:till-1", "WELCOME10")
    assert events[1][:2] == ("coupon_template.update", "apikey:till-1") and len(events) == 2


async def test_a_merchant_may_name_a_template_in_one_language(api: RunningApi, auth, uow_factory) -> None:
    created = await create(api, auth, names={"en": "10% off"})
    assert created["names"] == {"en": "10% off"}
    async with uow_factory() as uow:
        template = await uow.coupons.template_by_code("WELCOME10")
        assert template is not None and localized(template.names, "zh_CN") == "10% off"
    renamed = await api.client.patch(
        "/api/v1/coupon-templates/WELCOME10", json={"names": {"zh_CN": "九折"}}, headers=auth
    )
    assert renamed.status_code == 200 and renamed.json()["names"] == {"zh_CN": "九折"}


async def test_templates_are_listed_in_pages(api: RunningApi, auth, uow_factory, clock) -> None:
    for code in ("A", "B", "C"):
        await make_template(uow_factory, clock, code=code)
    response = await api.client.get("/api/v1/coupon-templates", params={"page": 2, "page_size": 2}, headers=auth)
    assert response.status_code == 200
    assert [row["code"] for row in response.json()["data"]] == ["C"]
    paging = {key: value for key, value in response.json().items() if key != "data"}
    assert paging == {"count": 3, "page": 2, "page_size": 2}
    bad = await api.client.get("/api/v1/coupon-templates", params={"page_size": 500}, headers=auth)
    assert bad.status_code == 422 and error_locs(bad) == [["query", "page_size"]]


# A separate server per case would triple this file's time: each case runs in one test and
# its message names the case.
BAD_TEMPLATES: list[tuple[dict[str, Any], str]] = [
        ({"code": "has space"}, "code"),
        ({"kind": "bogof"}, "kind"),
        ({"value": 0}, "value"),
        ({"value": 101}, "value"),
        ({"kind": "points_multiplier", "value": 90}, "value"),
        ({"value": 2.5}, "value"),
        ({"currency": "USD"}, "currency"),
        ({"valid_days": None}, "valid_until"),
        ({"valid_from": "2026-12-10", "valid_until": "2026-12-09"}, "valid_until"),
        ({"valid_until": "31/12/2026"}, "valid_until"),
        ({"stores": ["NOPE"]}, "stores"),
        ({"stores": "SH1"}, "stores"),
        ({"cities": [""]}, "cities"),
        ({"min_tier": "platinum"}, "min_tier"),
        ({"names": {"en": "10% off", "zh_CN": "九折", "fr": "10 %"}}, "names"),
        ({"names": {}}, "names"),
        ({"per_member_limit": 0}, "per_member_limit"),
        ({"total_quantity": -1}, "total_quantity"),
        ({"auto_issue": "payday"}, "auto_issue"),
        ({"auto_issue": "tier"}, "min_tier"),
        ({"active": "yes"}, "active"),
        ({"colour": "red"}, "colour"),
]


async def test_a_bad_template_is_422_naming_the_field_and_writes_nothing(
    api: RunningApi, auth, uow_factory, stores
) -> None:
    before = await written(uow_factory)
    for change, field in BAD_TEMPLATES:
        response = await api.client.post("/api/v1/coupon-templates", json=WELCOME | change, headers=auth)
        assert response.status_code == 422, (change, response.text)
        assert error_locs(response) == [["body", field]], change
    assert await written(uow_factory) == before


async def test_a_taken_code_is_409_and_an_unknown_one_404(api: RunningApi, auth, uow_factory) -> None:
    await create(api, auth)
    before = await written(uow_factory)
    taken = await api.client.post("/api/v1/coupon-templates", json=WELCOME | {"value": 50}, headers=auth)
    assert taken.status_code == 409 and taken.json()["code"] == "coupon_template_exists"
    for method in ("GET", "PATCH"):
        unknown = await api.client.request(
            method, "/api/v1/coupon-templates/NOPE", json={"active": False}, headers=auth
        )
        assert unknown.json() == {"detail": "no coupon template 'NOPE'", "code": "coupon_template_not_found"}
        assert unknown.status_code == 404
    malformed = await api.client.get("/api/v1/coupon-templates/bad%20code", headers=auth)
    assert malformed.status_code == 422 and error_locs(malformed) == [["path", "code"]]
    assert await written(uow_factory) == before


BAD_CHANGES: list[tuple[dict[str, Any], str]] = [
        ({"kind": "amount_off"}, "kind"),
        ({"value": 20}, "value"),
        ({"total_quantity": 1}, "total_quantity"),
        ({"valid_days": None}, "valid_until"),
        ({"stores": None}, "stores"),
        ({"cities": None}, "cities"),
        ({"names": None}, "names"),
        ({"active": None}, "active"),
        ({"min_tier": None}, "min_tier"),
]


async def test_a_bad_change_is_422_and_changes_nothing(
    api: RunningApi, auth, uow_factory, clock, member_number
) -> None:
    await create(api, auth, auto_issue="tier", min_tier="silver", per_member_limit=2)
    async with uow_factory() as uow:
        member = await uow.members.by_number(member_number)
    assert member is not None
    await set_tier(uow_factory, member, "silver")
    for _ in range(2):
        await issued_code(api, auth, "WELCOME10", member_number)
    before = await written(uow_factory)
    for change, field in BAD_CHANGES:
        response = await api.client.patch("/api/v1/coupon-templates/WELCOME10", json=change, headers=auth)
        assert response.status_code == 422, (change, response.text)
        assert error_locs(response) == [["body", field]], change
    assert await written(uow_factory) == before
    template = (await api.client.get("/api/v1/coupon-templates/WELCOME10", headers=auth)).json()
    assert (template["valid_days"], template["min_tier"], template["kind"]) == (30, "silver", "percent_off")


# --- issuing ---------------------------------------------------------------------------------


async def test_issue_look_up_and_list_a_members_coupons(
    api: RunningApi, auth, uow_factory, clock, member_number
) -> None:
    await create(api, auth, per_member_limit=3)
    response = await issue(api, auth, "WELCOME10", member_number)
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    coupon = response.json()
    code = coupon["code"]
    assert coupon == {
        "code": code,
        "status": "issued",
        "template": "WELCOME10",
        "names": {"en": "10% off", "zh_CN": "九折"},
        "kind": "percent_off",
        "value": 10,
        "currency": "CNY",
        "min_spend_minor": 3000,
        "member_number": member_number,
        "source": "api",
        "issued_at": "2026-11-24T12:00:00Z",
        "valid_from": "2026-11-24",
        "valid_until": "2026-12-24",
        "used_at": None,
        "store": None,
        "order_id": None,
        "discount_minor": None,
        "bonus_points": None,
    }
    for typed in (code, code.lower(), code.replace("-", ""), code.replace("-", "").lower()[2:]):
        looked_up = await api.client.get(f"/api/v1/coupons/{typed}", headers=auth)
        assert looked_up.status_code == 200 and looked_up.json() == coupon, typed
    [event] = [e for e in await audit_events(uow_factory) if e.action == "coupon.issue"]
    assert event.actor == "apikey:till-1" and event.detail == f"WELCOME10 as {code[:7]}…"

    clock.advance(timedelta(minutes=1))
    newer = await issued_code(api, auth, "WELCOME10", member_number)
    listed = await api.client.get(f"/api/v1/members/{member_number}/coupons", headers=auth)
    assert listed.status_code == 200
    assert [row["code"] for row in listed.json()["data"]] == [newer, code] and listed.json()["count"] == 2


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_coupon(
    api: RunningApi, auth, uow_factory, clock, member_number
) -> None:
    await create(api, auth, per_member_limit=5)
    first = await issue(api, auth, "WELCOME10", member_number, **{"Idempotency-Key": "camp-7"})
    assert first.status_code == 201
    retries = await asyncio.gather(
        *(issue(api, auth, "WELCOME10", member_number, **{"Idempotency-Key": "camp-7"}) for _ in range(3))
    )
    assert [r.status_code for r in retries] == [201] * 3
    assert all(r.headers["Idempotent-Replayed"] == "true" and r.json() == first.json() for r in retries)
    assert len((await written(uow_factory))["coupons"]) == 1  # type: ignore[arg-type]

    # The same key for another member is refused; another API key's is another key altogether.
    other = (await till_member(uow_factory, clock)).member_number
    before = await written(uow_factory)
    reused = await issue(api, auth, "WELCOME10", other, **{"Idempotency-Key": "camp-7"})
    assert reused.status_code == 409 and reused.json()["reason"] == "key_reused"
    assert await written(uow_factory) == before
    shop = bearer(await new_api_key(uow_factory, clock, "shop"))
    theirs = await issue(api, shop, "WELCOME10", member_number, **{"Idempotency-Key": "camp-7"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["code"] != first.json()["code"]
    bad_key = await issue(api, auth, "WELCOME10", member_number, **{"Idempotency-Key": "has space"})
    assert bad_key.status_code == 422 and error_locs(bad_key) == [["header", "Idempotency-Key"]]


async def test_issuing_refusals_say_why_and_write_nothing(
    api: RunningApi, auth, uow_factory, clock, member_number
) -> None:
    await create(api, auth, code="OFF", active=False)
    await create(api, auth, code="GOLD", min_tier="gold")
    await create(api, auth, code="OVER", valid_until="2026-11-23", valid_days=None)
    await create(api, auth, code="ONE", total_quantity=1)
    await create(api, auth, code="MINE")
    await issued_code(api, auth, "ONE", (await till_member(uow_factory, clock)).member_number)
    await issued_code(api, auth, "MINE", member_number)
    before = await written(uow_factory)
    reasons = [("OFF", "inactive"), ("GOLD", "tier"), ("OVER", "ended"), ("ONE", "sold_out"), ("MINE", "limit")]
    for template, reason in reasons:
        response = await issue(api, auth, template, member_number)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "coupon_unavailable" and response.json()["reason"] == reason
    unknown_template = await issue(api, auth, "NOPE", member_number)
    assert unknown_template.status_code == 404 and unknown_template.json()["code"] == "coupon_template_not_found"
    unknown_member = await issue(api, auth, "MINE", "4260185626")
    assert unknown_member.status_code == 404 and unknown_member.json()["code"] == "member_not_found"
    for body, loc in [({"template": "MINE", "member": "123"}, ["body", "member"]),
                      ({"template": "MINE"}, ["body", "member"]),
                      ({"template": "MINE", "member": member_number, "count": 2}, ["body", "count"])]:
        bad = await api.client.post("/api/v1/coupons", json=body, headers=auth)
        assert bad.status_code == 422 and error_locs(bad) == [loc]
    assert await written(uow_factory) == before


async def test_ten_members_racing_for_three_coupons_get_exactly_three(
    api: RunningApi, auth, uow_factory, clock
) -> None:
    await create(api, auth, total_quantity=3)
    numbers = [(await till_member(uow_factory, clock)).member_number for _ in range(10)]
    responses = await asyncio.gather(*(issue(api, auth, "WELCOME10", number) for number in numbers))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 7
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"sold_out"}
    template = (await api.client.get("/api/v1/coupon-templates/WELCOME10", headers=auth)).json()
    assert template["issued_count"] == 3
    assert len((await written(uow_factory))["coupons"]) == 3  # type: ignore[arg-type]


async def test_a_member_enrolled_at_the_till_gets_the_signup_coupon(api: RunningApi, auth, uow_factory) -> None:
    await create(api, auth, auto_issue="signup")
    enrolled = await api.client.post("/api/v1/members", json={"phone": next_phone(), "consent": True}, headers=auth)
    assert enrolled.status_code == 201, enrolled.text
    number = enrolled.json()["member_number"]
    listed = (await api.client.get(f"/api/v1/members/{number}/coupons", headers=auth)).json()
    rows = [(row["template"], row["source"], row["status"]) for row in listed["data"]]
    assert rows == [("WELCOME10", "signup", "issued")]
    missing = await api.client.get("/api/v1/members/4260185626/coupons", headers=auth)
    assert missing.status_code == 404 and missing.json()["code"] == "member_not_found"
    await assert_no_phone_disclosed(api, uow_factory)


async def test_reaching_a_tier_by_a_purchase_issues_its_coupons_once(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    for tier in ("silver", "gold", "black"):
        await create(api, auth, code=f"{tier.upper()}GIFT", auto_issue="tier", min_tier=tier)

    async def purchase(number: str, order_id: str, amount: int) -> dict[str, Any]:
        response = await api.client.post(
            "/api/v1/purchases",
            json={"member": {"member_number": number}, "order_id": order_id, "store": "SH1",
                  "amount_minor": amount, "currency": "CNY"},
            headers=auth,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert isinstance(body, dict)
        return body

    async def gifts(number: str) -> list[str]:
        listed = (await api.client.get(f"/api/v1/members/{number}/coupons", headers=auth)).json()
        return sorted(row["template"] for row in listed["data"] if row["source"] == "tier")

    # One purchase over two thresholds: Member -> Gold, skipping Silver, gets both gifts.
    assert (await purchase(member_number, "T-1", 600_000))["tier"] == "gold"
    assert await gifts(member_number) == ["GOLDGIFT", "SILVERGIFT"]
    await purchase(member_number, "T-2", 10_000)
    assert await gifts(member_number) == ["GOLDGIFT", "SILVERGIFT"]
    async with uow_factory() as uow:
        member = await uow.members.by_number(member_number)
        assert member is not None
        [note] = await uow.session.scalars(
            select(Notification).where(Notification.member_id == member.id, Notification.kind == "tier_upgraded")
        )
        owned = {c.id: c.code for c in await uow.session.scalars(select(Coupon).where(Coupon.member_id == member.id))}
    assert sorted(note.payload["coupon_ids"]) == sorted(owned)

    # One rank at a time: each step gives its own gift, and nothing twice.
    other = (await till_member(uow_factory, clock)).member_number
    assert (await purchase(other, "U-1", 200_000))["tier"] == "silver"
    assert await gifts(other) == ["SILVERGIFT"]
    assert (await purchase(other, "U-2", 400_000))["tier"] == "gold"
    assert await gifts(other) == ["GOLDGIFT", "SILVERGIFT"]
    retried = await purchase(other, "U-2", 400_000)  # a till's retry: replayed, nothing new
    assert retried["tier"] == "gold"
    assert await gifts(other) == ["GOLDGIFT", "SILVERGIFT"]


# --- the till ----------------------------------------------------------------------------------


async def test_redeem_then_retry_the_same_order(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth)
    code = await issued_code(api, auth, "WELCOME10", member_number)
    clock.advance(timedelta(minutes=5))
    typed = code.replace("-", "").lower()
    response = await api.client.post(
        "/api/v1/coupons/redeem", json=redeem_body(typed, member=member_number), headers=auth
    )
    assert response.status_code == 200, response.text
    assert "Idempotent-Replayed" not in response.headers
    body = response.json()
    looked_up = (await api.client.get(f"/api/v1/coupons/{code}", headers=auth)).json()
    assert body == {"discount_minor": 1280, "bonus_points": 0, "replayed": False, "coupon": looked_up}
    assert looked_up | {} == looked_up | {
        "status": "used", "used_at": "2026-11-24T12:05:00Z", "store": "SH1", "order_id": "S1-0001",
        "discount_minor": 1280, "bonus_points": None,
    }
    [event] = [e for e in await audit_events(uow_factory) if e.action == "coupon.redeem"]
    assert event.actor == "apikey:till-1" and event.detail == "WELCOME10 at SH1 for order S1-0001"

    before = await written(uow_factory)
    again = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code), headers=auth)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body | {"replayed": True}
    assert await written(uow_factory) == before
    listed = (await api.client.get(f"/api/v1/members/{member_number}/coupons", headers=auth)).json()
    assert listed["data"] == [looked_up]


@pytest.mark.parametrize(
    "changes",
    [{"amount_minor": 99_900}, {"store": "LDN"}, {"member": "OTHER"}, {"currency": "USD"}],
    ids=["another-amount", "another-store", "another-member", "another-currency"],
)
async def test_the_same_order_with_another_body_is_409_not_the_first_answer(
    api: RunningApi, auth, uow_factory, clock, stores, member_number, changes
) -> None:
    await create(api, auth, min_spend_minor=0)
    code = await issued_code(api, auth, "WELCOME10", member_number)
    first = await redeem(api, auth, redeem_body(code, member=member_number))
    assert first.status_code == 200, first.text
    before = await written(uow_factory)
    if changes.get("member") == "OTHER":
        changes = {"member": (await till_member(uow_factory, clock)).member_number}
        before = await written(uow_factory)
    other = await redeem(api, auth, redeem_body(code, member=member_number) | changes)
    if "currency" in changes:  # refused before the coupon is read
        assert other.status_code == 422, other.text
    elif "member" in changes:  # the card shown is not the coupon's owner
        assert other.status_code == 409 and other.json()["reason"] == "other_member", other.text
    elif "store" in changes:  # another store's order of that id is another order
        assert other.status_code == 409 and other.json()["reason"] == "used", other.text
    else:
        assert other.status_code == 409, other.text
        assert other.json() | {"detail": ""} == {"detail": "", "code": "idempotency_conflict", "reason": "key_reused"}
    assert await written(uow_factory) == before
    # The same redemption, typed differently and without the card: the first answer again.
    same = await redeem(api, auth, redeem_body(code.replace("-", "").lower()))
    assert same.status_code == 200 and same.json() == first.json() | {"replayed": True}


def _at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


REFUSALS: list[tuple[dict[str, Any], datetime | None, dict[str, Any], str]] = [
    # (template, the moment of redeeming, the redemption's changes, the reason)
    ({"valid_until": "2026-11-30"}, _at(2026, 11, 30, 16, 0), {}, "expired"),
    ({"valid_from": "2026-12-01", "valid_until": "2026-12-31"}, _at(2026, 11, 30, 15, 59, 59), {}, "not_yet_valid"),
    ({"stores": ["LDN"]}, None, {}, "wrong_store"),
    ({}, None, {"amount_minor": 2999}, "below_minimum"),
    ({}, None, {"member": "OTHER"}, "other_member"),
    ({}, None, {"order_id": "S1-0002"}, "used"),
    ({}, None, {}, "void"),
]


async def test_every_refusal_is_409_with_its_reason_and_writes_nothing(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    other = (await till_member(uow_factory, clock)).member_number
    for n, (template, moment, changes, reason) in enumerate(REFUSALS):
        clock.set(START)
        await create(api, auth, code=f"R{n}", **template)
        code = await issued_code(api, auth, f"R{n}", member_number)
        if reason == "used":
            used = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code), headers=auth)
            assert used.status_code == 200
        if reason == "void":
            async with uow_factory() as uow:
                await uow.session.execute(update(Coupon).where(Coupon.code == code).values(status="void"))
                await uow.commit()
        if changes.get("member") == "OTHER":
            changes = changes | {"member": other}
        if moment is not None:
            clock.set(moment)
        before = await written(uow_factory)
        response = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code, **changes), headers=auth)
        assert response.status_code == 409, (reason, response.text)
        assert response.json()["code"] == "coupon_not_usable" and response.json()["reason"] == reason
        assert await written(uow_factory) == before, reason


async def test_the_same_code_is_expired_in_shanghai_and_valid_in_london(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth, valid_until="2026-11-30", valid_days=None)
    code = await issued_code(api, auth, "WELCOME10", member_number)
    clock.set(_at(2026, 11, 30, 16, 30))
    shanghai = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code, store="SH1"), headers=auth)
    assert shanghai.status_code == 409 and shanghai.json()["reason"] == "expired"
    london = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code, store="LDN"), headers=auth)
    assert london.status_code == 200 and london.json()["coupon"]["store"] == "LDN"


BAD_REDEMPTIONS: list[tuple[dict[str, Any], list[str]]] = [
        ({"amount_minor": 0}, ["body", "amount_minor"]),
        ({"amount_minor": -1}, ["body", "amount_minor"]),
        ({"amount_minor": "12800"}, ["body", "amount_minor"]),
        ({"amount_minor": 128.5}, ["body", "amount_minor"]),
        ({"currency": "USD"}, ["body", "currency"]),
        ({"currency": "cny"}, ["body", "currency"]),
        ({"store": "NOPE"}, ["body", "store"]),
        ({"store": "CLOSED"}, ["body", "store"]),
        ({"order_id": "has space"}, ["body", "order_id"]),
        ({"order_id": ""}, ["body", "order_id"]),
        ({"order_id": "x" * 65}, ["body", "order_id"]),
        ({"member": "123"}, ["body", "member"]),
        ({"till": 7}, ["body", "till"]),
]


async def test_bad_redeem_input_is_422_naming_the_field_and_writes_nothing(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth)
    code = await issued_code(api, auth, "WELCOME10", member_number)
    before = await written(uow_factory)
    for changes, loc in BAD_REDEMPTIONS:
        response = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(code, **changes), headers=auth)
        assert response.status_code == 422, (changes, response.text)
        assert error_locs(response) == [loc], changes
    assert await written(uow_factory) == before
    assert (await stored_coupon(uow_factory, code)).status == "issued"


async def test_unknown_and_malformed_codes_are_404_without_echoing_them(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth)
    code = await issued_code(api, auth, "WELCOME10", member_number)
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    before = await written(uow_factory)
    for guess in ["CP-0000-0000-0000", typo, "CP-1234", "hello-there", "CP-UUUU-0000-0000"]:
        looked_up = await api.client.get(f"/api/v1/coupons/{guess}", headers=auth)
        redeemed = await api.client.post("/api/v1/coupons/redeem", json=redeem_body(guess), headers=auth)
        for response in (looked_up, redeemed):
            assert response.status_code == 404, (guess, response.text)
            assert response.json() == {"detail": "no coupon with this code", "code": "coupon_not_found"}
    assert await written(uow_factory) == before


async def test_two_tills_racing_for_one_code_get_one_success_and_one_used(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth, per_member_limit=ROUNDS)
    for round_ in range(ROUNDS):
        code = await issued_code(api, auth, "WELCOME10", member_number)
        responses = await asyncio.gather(
            *(redeem(api, auth, redeem_body(code, f"R{round_}-{n}")) for n in range(2))
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        [won] = [r.json() for r in responses if r.status_code == 200]
        [lost] = [r.json() for r in responses if r.status_code == 409]
        assert lost["reason"] == "used" and won["replayed"] is False
        assert (await stored_coupon(uow_factory, code)).used_order_id == won["coupon"]["order_id"]
    redeemed = [e for e in await audit_events(uow_factory) if e.action == "coupon.redeem"]
    assert len(redeemed) == ROUNDS


async def test_one_order_sent_twice_at_once_redeems_once_and_replays_once(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth, per_member_limit=ROUNDS)
    for round_ in range(ROUNDS):
        code = await issued_code(api, auth, "WELCOME10", member_number)
        responses = await asyncio.gather(
            *(redeem(api, auth, redeem_body(code, f"R{round_}")) for _ in range(2))
        )
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        assert sorted(r.json()["replayed"] for r in responses) == [False, True]
        assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
        assert {r.json()["discount_minor"] for r in responses} == {1280}
    redeemed = [e for e in await audit_events(uow_factory) if e.action == "coupon.redeem"]
    assert len(redeemed) == ROUNDS


async def test_a_points_multiplier_credits_bonus_points_once(
    api: RunningApi, auth, uow_factory, clock, stores, member_number
) -> None:
    await create(api, auth, code="DOUBLE", kind="points_multiplier", value=200, min_spend_minor=0)
    code = await issued_code(api, auth, "DOUBLE", member_number)
    before = await balance_of(uow_factory, member_number)
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/coupons/redeem", json=redeem_body(code, "M-1"), headers=auth) for _ in range(3))
    )
    assert [r.status_code for r in responses] == [200] * 3
    assert [r.json()["bonus_points"] for r in responses] == [128] * 3  # doubles ¥128.00's 128 points
    assert sum(r.json()["replayed"] for r in responses) == 2
    assert {r.json()["discount_minor"] for r in responses} == {0}
    assert await balance_of(uow_factory, member_number) == before + 128
    async with uow_factory() as uow:
        bonuses = list(await uow.session.scalars(select(LedgerEntry.points).where(LedgerEntry.kind == "bonus")))
    assert bonuses == [128]
    assert (await api.client.get(f"/api/v1/coupons/{code}", headers=auth)).json()["bonus_points"] == 128


async def test_the_api_documents_every_coupon_route(api: RunningApi) -> None:
    document = (await api.client.get("/openapi.json")).json()
    redeem = document["paths"]["/api/v1/coupons/redeem"]["post"]
    assert redeem["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/RefusalPublic")
    assert document["components"]["schemas"]["CouponRedeem"]["examples"]
    assert document["components"]["schemas"]["CouponTemplateCreate"]["examples"]
    for path in ("/api/v1/coupon-templates", "/api/v1/coupon-templates/{code}", "/api/v1/coupons",
                 "/api/v1/coupons/{code}", "/api/v1/members/{member_number}/coupons"):
        assert all(operation["tags"] == ["coupons"] for operation in document["paths"][path].values()), path
