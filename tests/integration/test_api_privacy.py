"""A member's data requests through the API over real HTTP: the export (audited with the key that
read it), the erasure (audited, idempotent), and what an erased member's number answers after."""

from __future__ import annotations

import pytest

from api.main import create_app
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.data_export import MemberExport
from tests.utils.api import RunningApi, audit_events
from tests.utils.coupons import make_template
from tests.utils.members import till_member
from tests.utils.privacy import ALEX, lived, phone_needles, sign_up, traces


@pytest.fixture
def api_key_name() -> str:
    return "privacy-desk"  # the actor its audit events name


async def test_the_export_holds_everything_in_the_members_language_and_is_audited(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await lived(uow_factory, clock, settings)
    response = await api.client.get(f"/api/v1/members/{member.member_number}/export", headers=auth)
    assert response.status_code == 200, response.text
    export = MemberExport.model_validate(response.json())
    profile = export.profile
    assert (profile.phone, profile.telegram_id, profile.city, str(profile.birthday)) == (
        ALEX.phone, ALEX.telegram_id, ALEX.city, "1990-11-24"
    )
    assert profile.campaign == f"ref_{ALEX.username}" and profile.tags == ["vip", "water-town"]
    assert profile.muted_topics == ["points"] and profile.time_zone == "Asia/Shanghai"
    assert [p.order_id for p in export.purchases] == ["ZJJ1-0001", "WEB-0001"]
    assert export.purchases[0].store == "Water Town" and export.purchases[0].refunds[0].refund_id == "ZJJ1-R1"
    assert [line.sku for line in export.purchases[0].lines] == ["LATTE", "CAKE"]
    assert {c.status for c in export.coupons} == {"issued", "used"} and len(export.coupons) == 3
    assert [r.reward for r in export.reward_codes] == ["Mug"]
    assert sum(e.points for e in export.points) == profile.points_balance
    assert any(e.kind == "adjust" and e.reason and ALEX.first_name in e.reason for e in export.points)
    assert {m.kind for m in export.messages} >= {"points_earned", "birthday", "coupon_nearby"}
    assert [c.status for c in export.campaigns] == ["pending"]
    assert {e.action for e in export.audit} >= {"points.adjust", "coupon.issue", "member.tags"}
    assert export.exported_at.utcoffset() is not None and export.exported_at.isoformat().endswith("+08:00")
    [event] = [e for e in await audit_events(uow_factory) if e.action == "member.export"]
    assert (event.actor, event.member_id) == ("apikey:privacy-desk", member.id)


async def test_erasing_answers_once_and_repeats_the_same_answer(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await lived(uow_factory, clock, settings)
    url = f"/api/v1/members/{member.member_number}/erase"
    first = await api.client.post(url, headers=auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["member_number"] == member.member_number and body["points_forfeited"] > 0
    assert (body["coupons_voided"], body["reward_codes_cancelled"]) == (2, 1)
    assert "Idempotent-Replayed" not in first.headers
    assert not any(form in first.text for form in phone_needles(ALEX.phone))

    again = await api.client.post(url, headers=auth)
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (200, body, "true")
    erasures = [e for e in await audit_events(uow_factory) if e.action == "member.erase"]
    assert [(e.actor, e.member_id) for e in erasures] == [("apikey:privacy-desk", member.id)]
    assert erasures[0].detail == f"{body['points_forfeited']} points forfeited, 2 coupons voided"
    found = await traces(uow_factory, ALEX.texts, [ALEX.telegram_id])
    assert found == [], "\n".join(map(str, found))


async def test_an_erased_number_is_gone_everywhere_and_the_phone_can_enrol_again(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await make_template(uow_factory, clock, code="GIFT")
    member = await sign_up(uow_factory, clock, settings)
    number = member.member_number
    assert (await api.client.post(f"/api/v1/members/{number}/erase", headers=auth)).status_code == 200
    events = len(await audit_events(uow_factory))

    reads = [f"/api/v1/members/{number}", f"/api/v1/members/{number}/points", f"/api/v1/members/{number}/tags",
             f"/api/v1/members/{number}/coupons", f"/api/v1/members/{number}/export"]
    for url in reads:
        response = await api.client.get(url, headers=auth)
        assert (response.status_code, response.json()["code"]) == (410, "member_erased"), url
    writes = [
        ("PUT", f"/api/v1/members/{number}/tags", {"tags": ["vip"]}, {}),
        ("POST", f"/api/v1/members/{number}/adjustments", {"points": 10, "reason": "goodwill"},
         {"Idempotency-Key": "adj-1"}),
        ("POST", "/api/v1/purchases",
         {"member": {"qr": number}, "order_id": "W-1", "channel": "online", "amount_minor": 1000, "currency": "CNY"},
         {}),
        ("POST", "/api/v1/coupons", {"template": "GIFT", "member": number}, {}),
    ]
    for method, url, body, headers in writes:
        response = await api.client.request(method, url, json=body, headers=auth | headers)
        assert (response.status_code, response.json()["code"]) == (410, "member_erased"), url
    assert len(await audit_events(uow_factory)) == events, "nothing written for an erased member"

    by_phone = await api.client.get("/api/v1/members", params={"phone": ALEX.phone}, headers=auth)
    assert by_phone.json()["count"] == 0
    listed = await api.client.get("/api/v1/members", headers=auth)
    assert listed.json()["count"] == 0 and listed.json()["data"] == []
    purchase = await api.client.post(
        "/api/v1/purchases", headers=auth,
        json={
            "member": {"phone": ALEX.phone}, "order_id": "W-2", "channel": "online", "amount_minor": 1000,
            "currency": "CNY",
        },
    )
    assert purchase.status_code == 404
    enrolled = await api.client.post("/api/v1/members", json={"phone": ALEX.phone, "consent": True}, headers=auth)
    assert enrolled.status_code == 201 and enrolled.json()["member_number"] != number


@pytest.mark.parametrize("route", ["export", "erase"])
async def test_unknown_and_malformed_numbers(api: RunningApi, auth: dict[str, str], route: str) -> None:
    method = "GET" if route == "export" else "POST"
    unknown = await api.client.request(method, f"/api/v1/members/1234567897/{route}", headers=auth)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "member_not_found")
    malformed = await api.client.request(method, f"/api/v1/members/1234567890/{route}", headers=auth)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"] == ["path", "member_number"]
    missing_key = await api.client.request(method, f"/api/v1/members/1234567897/{route}")
    assert missing_key.status_code == 401


def test_the_openapi_document_describes_every_answer(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    export = paths["/api/v1/members/{member_number}/export"]["get"]
    erase = paths["/api/v1/members/{member_number}/erase"]["post"]
    assert {"200", "404", "410", "422"} <= set(export["responses"])
    assert {"200", "404", "422"} <= set(erase["responses"])
    assert export["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/MemberExport")
    assert erase["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErasurePublic")
    for path, method in [("/api/v1/members/{member_number}", "get"), ("/api/v1/members/{member_number}/points", "get"),
                         ("/api/v1/members/{member_number}/tags", "put"), ("/api/v1/purchases", "post"),
                         ("/api/v1/members/{member_number}/adjustments", "post"), ("/api/v1/coupons", "post"),
                         ("/api/v1/members/{member_number}/coupons", "get")]:
        assert "410" in paths[path][method]["responses"], (method, path)


async def test_reads_of_members_are_audited_with_the_key_that_read_them(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)
    other = await till_member(uow_factory, clock)
    before = len(await audit_events(uow_factory))
    assert (await api.client.get(f"/api/v1/members/{member.member_number}", headers=auth)).status_code == 200
    for params in ({"phone": ALEX.phone}, {"phone": "+8613700000000"}, {"telegram_id": ALEX.telegram_id}):
        assert (await api.client.get("/api/v1/members", params=params, headers=auth)).status_code == 200
    assert (await api.client.get("/api/v1/members", params={"page_size": 5}, headers=auth)).status_code == 200
    assert (await api.client.get("/api/v1/members/1234567897", headers=auth)).status_code == 404

    events = (await audit_events(uow_factory))[before:]
    assert [(e.actor, e.action, e.member_id, e.detail) for e in events] == [
        ("apikey:privacy-desk", "member.read", member.id, "by member number"),
        ("apikey:privacy-desk", "member.read", member.id, "lookup by phone"),
        ("apikey:privacy-desk", "member.read", None, "lookup by phone: no match"),
        ("apikey:privacy-desk", "member.read", member.id, "lookup by telegram_id"),
        ("apikey:privacy-desk", "members.list", None, f"page 1 of 5: {member.member_number} {other.member_number}"),
    ]
