"""Campaigns through the API over real HTTP: create (idempotent, also when the same key races),
list, read with progress, preview (which writes nothing), pause / resume / cancel and their
refusals, the report of a hand-built population, the RFM segments, and every bad input refused
naming its field with nothing written."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.models import Campaign, MemberMute
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.rfm import RFM_SEGMENTS, rfm_counts
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.members import set_chat_reachable
from tests.conftest import START
from tests.integration.test_campaign_report import build_population, buy, katz_interval
from tests.utils.api import RunningApi, audit_events, bearer
from tests.utils.coupons import add_store, make_template
from tests.utils.database import every_row
from tests.utils.members import chat_member, till_member

NEXT_DAY = (START + timedelta(days=1)).isoformat()

MEMBER_DAY: dict[str, Any] = {
    "name": "Member day",
    "texts": {"en": "Hi {{ member_number }}: {{ points }} points. Member day today!", "zh_CN": "会员日！{{ points }} 积分"},
    "audience": {},
    "send_at": NEXT_DAY,
    "holdout_pct": 0,
}


@pytest.fixture
async def key_id(uow_factory: UnitOfWorkFactory, api_key: str, api_key_name: str) -> int:
    async with uow_factory() as uow:
        api_key = await uow.api_keys.by_name(api_key_name)
        assert api_key is not None
        return int(api_key.id)


@pytest.fixture
async def audience(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    """Six members: three reachable in the chat, one who muted offers, one who blocked the bot
    and one enrolled at a till who never chatted (two unreachable). Their numbers by role."""
    reachable = [await chat_member(uow_factory, clock, telegram_id=9000 + i, locale=locale)
                 for i, locale in enumerate(["en", "zh_CN", "en"])]
    muted = await chat_member(uow_factory, clock, telegram_id=9100)
    blocked = await chat_member(uow_factory, clock, telegram_id=9200)
    till = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        uow.session.add(MemberMute(member_id=muted.id, topic="offers", created_at=clock.now()))
        await uow.commit()
    async with uow_factory() as uow:
        await set_chat_reachable(uow, clock, 9200, reachable=False)
    return {"en": reachable[0].member_number, "zh_CN": reachable[1].member_number, "muted": muted.member_number,
            "blocked": blocked.member_number, "till": till.member_number}


async def create(
    api: RunningApi, auth: dict[str, str], *, without: tuple[str, ...] = (), **changes: Any
) -> dict[str, Any]:
    body = {key: value for key, value in MEMBER_DAY.items() if key not in without} | changes
    response = await api.client.post("/api/v1/campaigns", json=body, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def locs(response: httpx.Response) -> list[list[str | int]]:
    return [error["loc"] for error in response.json()["detail"]]


# --- authentication --------------------------------------------------------------------------

ROUTES = [
    ("POST", "/api/v1/campaigns"),
    ("GET", "/api/v1/campaigns"),
    ("POST", "/api/v1/campaigns/preview"),
    ("GET", "/api/v1/campaigns/{id}"),
    ("POST", "/api/v1/campaigns/{id}/pause"),
    ("POST", "/api/v1/campaigns/{id}/resume"),
    ("POST", "/api/v1/campaigns/{id}/cancel"),
    ("GET", "/api/v1/campaigns/{id}/report"),
    ("GET", "/api/v1/segments/rfm"),
]


async def test_every_route_needs_a_valid_key(api: RunningApi, auth, uow_factory: UnitOfWorkFactory) -> None:
    campaign = await create(api, auth)
    before = await every_row(uow_factory)
    for method, route in ROUTES:
        path = route.format(id=campaign["id"])  # an existing campaign: only the key is wrong
        for headers in ({}, bearer("lk_not-a-key"), {"Authorization": "Basic abc"}):
            response = await api.client.request(method, path, json=MEMBER_DAY, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert set(response.json()) == {"detail", "code"}
    assert await every_row(uow_factory) == before


# --- creating and reading --------------------------------------------------------------------


async def test_create_read_and_list(
    api: RunningApi, auth, key_id: int, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await make_template(uow_factory, clock, code="MEMBERDAY", value=2000)
    await add_store(uow_factory, clock, "SH1", city="Shanghai")
    body = MEMBER_DAY | {
        "audience": {"tiers": ["gold", "silver"], "near_store": "SH1", "rfm": ["at_risk"], "tags": ["vip"],
                     "birthday_month": 12, "last_purchase_before": "2026-11-01T00:00:00+08:00"},
        "image_url": "https://shop.example.com/day.jpg",
        "coupon_template": "MEMBERDAY",
        "buttons": [{"texts": {"en": "Menu", "zh_CN": "菜单"}, "url": "https://shop.example.com/menu"}],
        "recurrence": "monthly",
        "holdout_pct": 15,
        "attribution_days": 10,
    }
    response = await api.client.post("/api/v1/campaigns", json=body, headers=auth)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "scheduled"
    assert created["name"] == "Member day" and created["texts"] == MEMBER_DAY["texts"]
    assert created["audience"]["tiers"] == ["gold", "silver"]
    assert created["audience"]["last_purchase_before"] == "2026-11-01T00:00:00+08:00"
    assert "tier gold, silver" in created["audience_description"]
    assert created["coupon_template"] == "MEMBERDAY"
    assert created["buttons"] == body["buttons"]
    assert created["send_at"] == "2026-11-25T12:00:00Z"
    assert created["local"] is None
    assert (created["recurrence"], created["holdout_pct"], created["attribution_days"]) == ("monthly", 15, 10)
    assert created["created_by"] == f"apikey:{key_id}"
    assert created["created_at"] == "2026-11-24T12:00:00Z"
    assert created["started_at"] is None and created["audience_size"] is None
    assert created["progress"]["total"] == 0 and created["progress"]["eta_seconds"] is None

    read = await api.client.get(f"/api/v1/campaigns/{created['id']}", headers=auth)
    assert read.status_code == 200
    assert read.json() == created

    audits = [event for event in await audit_events(uow_factory) if event.action == "campaign.create"]
    assert [event.actor for event in audits] == [f"apikey:{key_id}"]


async def test_defaults_and_a_local_send_time(api: RunningApi, auth, settings: Settings) -> None:
    created = await create(
        api, auth, without=("send_at", "holdout_pct"), local={"date": "2026-12-08", "time": "10:00"}
    )
    assert created["send_at"] is None
    assert created["local"] == {"date": "2026-12-08", "time": "10:00"}
    assert created["holdout_pct"] == settings.campaign_holdout_pct
    assert created["attribution_days"] == settings.campaign_attribution_days


async def test_the_list_is_newest_first_and_limited(api: RunningApi, auth) -> None:
    ids = [(await create(api, auth, name=f"Campaign {i}"))["id"] for i in range(3)]
    response = await api.client.get("/api/v1/campaigns", params={"limit": 2}, headers=auth)
    assert response.status_code == 200
    listed = response.json()
    assert [row["id"] for row in listed["data"]] == [ids[2], ids[1]]
    assert listed["count"] == 2
    assert "progress" not in listed["data"][0]
    everything = (await api.client.get("/api/v1/campaigns", headers=auth)).json()
    assert [row["name"] for row in everything["data"]] == ["Campaign 2", "Campaign 1", "Campaign 0"]
    for limit in (0, 101, "x"):
        response = await api.client.get("/api/v1/campaigns", params={"limit": limit}, headers=auth)
        assert response.status_code == 422
        assert locs(response) == [["query", "limit"]]


async def test_progress_while_sending(
    api: RunningApi, auth, audience, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await make_template(uow_factory, clock, code="MEMBERDAY", value=2000)
    created = await create(api, auth, without=("send_at",), coupon_template="MEMBERDAY")
    async with uow_factory() as uow:
        assert await service.start(uow, clock, settings, created["id"]) == 6

    campaign = (await api.client.get(f"/api/v1/campaigns/{created['id']}", headers=auth)).json()
    assert campaign["status"] == "sending"
    assert campaign["audience_size"] == 6
    assert campaign["started_at"] == "2026-11-24T12:00:00Z"
    progress = campaign["progress"]
    assert {key: progress[key] for key in ("total", "pending", "sending", "sent", "skipped", "opted_out",
                                           "unreachable", "held_out", "cancelled", "done")} == {
        "total": 6, "pending": 3, "sending": 0, "sent": 0, "skipped": 3, "opted_out": 1,
        "unreachable": 2, "held_out": 0, "cancelled": 0, "done": 3,
    }
    assert progress["rate"] == 0.0 and progress["eta_seconds"] is None


# --- idempotency -----------------------------------------------------------------------------


async def campaign_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return len((await uow.session.scalars(select(Campaign.id))).all())


async def test_a_repeated_key_gets_the_first_campaign(api: RunningApi, auth, uow_factory: UnitOfWorkFactory) -> None:
    headers = auth | {"Idempotency-Key": "member-day-dec"}
    first = await api.client.post("/api/v1/campaigns", json=MEMBER_DAY, headers=headers)
    again = await api.client.post("/api/v1/campaigns", json=MEMBER_DAY, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await campaign_count(uow_factory) == 1

    # The replay shows the campaign as it is now.
    await api.client.post(f"/api/v1/campaigns/{first.json()['id']}/pause", headers=auth)
    replay = await api.client.post("/api/v1/campaigns", json=MEMBER_DAY, headers=headers)
    assert replay.json()["status"] == "paused"

    before = await every_row(uow_factory)
    other = await api.client.post("/api/v1/campaigns", json=MEMBER_DAY | {"name": "Other"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert await every_row(uow_factory) == before

    # Without a key, the same body is another campaign.
    await create(api, auth)
    assert await campaign_count(uow_factory) == 2


async def test_the_same_key_racing_makes_one_campaign(api: RunningApi, auth, uow_factory: UnitOfWorkFactory) -> None:
    for round_ in range(3):
        headers = auth | {"Idempotency-Key": f"race-{round_}"}
        responses = await asyncio.gather(
            *(api.client.post("/api/v1/campaigns", json=MEMBER_DAY, headers=headers) for _ in range(5))
        )
        assert [response.status_code for response in responses] == [201] * 5, [r.text for r in responses]
        assert len({response.json()["id"] for response in responses}) == 1
        assert await campaign_count(uow_factory) == round_ + 1


# --- bad input -------------------------------------------------------------------------------

BAD_INPUT = [
    ("unknown-tier", {"audience": {"tiers": ["platinum"]}}, ["body", "audience", "tiers"]),
    ("unknown-store", {"audience": {"near_store": "NOPE"}}, ["body", "audience", "near_store"]),
    ("unknown-rfm", {"audience": {"rfm": ["vips"]}}, ["body", "audience", "rfm", 0]),
    ("unknown-audience-field", {"audience": {"colour": "red"}}, ["body", "audience", "colour"]),
    ("bad-birthday-month", {"audience": {"birthday_month": 13}}, ["body", "audience", "birthday_month"]),
    ("unknown-template", {"coupon_template": "NOPE"}, ["body", "coupon_template"]),
    ("bad-placeholder", {"texts": {"en": "Hi {{ nmae }}"}}, ["body", "texts", "en"]),
    ("unknown-locale", {"texts": {"fr": "Bonjour"}}, ["body", "texts", "fr"]),
    ("no-text", {"texts": {}}, ["body", "texts"]),
    ("http-image", {"image_url": "http://shop.example.com/day.jpg"}, ["body", "image_url"]),
    ("http-button", {"buttons": [{"texts": {"en": "Go"}, "url": "http://x.example"}]}, ["body", "buttons", "0", "url"]),
    ("send-at-in-the-past", {"send_at": (START - timedelta(hours=1)).isoformat()}, ["body", "send_at"]),
    ("send-at-without-zone", {"send_at": "2026-12-01T10:00:00"}, ["body", "send_at"]),
    ("both-send-times", {"local": {"date": "2026-12-08", "time": "10:00"}}, ["body", "local"]),
    ("local-time-not-hh-mm", {"send_at": None, "local": {"date": "2026-12-08", "time": "25:00"}},
     ["body", "local", "time"]),
    ("local-date-passed", {"send_at": None, "local": {"date": "2026-11-01", "time": "10:00"}},
     ["body", "local", "date"]),
    ("holdout-60", {"holdout_pct": 60}, ["body", "holdout_pct"]),
    ("attribution-0", {"attribution_days": 0}, ["body", "attribution_days"]),
    ("unknown-recurrence", {"recurrence": "weekly"}, ["body", "recurrence"]),
    ("unknown-field", {"colour": "red"}, ["body", "colour"]),
    ("empty-name", {"name": ""}, ["body", "name"]),
]


@pytest.mark.parametrize(("changes", "loc"), [(changes, loc) for _, changes, loc in BAD_INPUT],
                         ids=[name for name, _, _ in BAD_INPUT])
async def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    api: RunningApi, auth, uow_factory: UnitOfWorkFactory, clock: FixedClock, changes: dict[str, Any], loc: list[Any]
) -> None:
    await make_template(uow_factory, clock, code="MEMBERDAY")
    await add_store(uow_factory, clock, "SH1", city="Shanghai")
    before = await every_row(uow_factory)
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/preview"):
        response = await api.client.post(path, json=MEMBER_DAY | changes, headers=auth)
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["detail"]
        assert [str(part) for part in error["loc"]] == [str(part) for part in loc], (path, error)
        assert error["msg"]
    assert await every_row(uow_factory) == before


async def test_a_body_that_is_not_json_is_422(api: RunningApi, auth) -> None:
    response = await api.client.post("/api/v1/campaigns", content=b"{not json", headers=auth | {
        "Content-Type": "application/json"})
    assert response.status_code == 422


# --- preview ---------------------------------------------------------------------------------


async def test_preview_sizes_the_audience_renders_samples_and_writes_nothing(
    api: RunningApi, auth, audience: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    before = await every_row(uow_factory)
    response = await api.client.post(
        "/api/v1/campaigns/preview", json=MEMBER_DAY | {"holdout_pct": 50}, params={"samples": 10}, headers=auth
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["audience"] == {"total": 6, "reachable": 3, "opted_out": 1, "unreachable": 2}
    assert preview["holdout"] == 3
    # Held out from everyone first, then the rest split as the report will count them.
    assert preview["expected"] == {"sent": 2, "held_out": 3, "opted_out": 0, "unreachable": 1}
    assert preview["coupon_rules_not_applied"] == []
    assert 1 <= len(preview["samples"]) <= 6
    by_number = {sample["member_number"]: sample for sample in preview["samples"]}
    for number, sample in by_number.items():
        if sample["locale"] == "en":
            assert sample["text"].startswith(f"Hi {number}: ")
        else:
            assert sample["text"].startswith("会员日！")
    assert await every_row(uow_factory) == before

    narrowed = await api.client.post(
        "/api/v1/campaigns/preview", json=MEMBER_DAY | {"audience": {"tiers": ["gold"]}}, headers=auth
    )
    assert narrowed.json() == {
        "audience": {"total": 0, "reachable": 0, "opted_out": 0, "unreachable": 0}, "holdout": 0,
        "expected": {"sent": 0, "held_out": 0, "opted_out": 0, "unreachable": 0}, "coupon_rules_not_applied": [],
        "samples": [],
        # Nobody to measure: no conversion, and (this draft holds nobody out) no hold-out.
        "baseline_conversion": None, "minimum_detectable_lift": None, "suggested_holdout_pct": None,
        "holdout_warning": "no_holdout",
    }
    few = await api.client.post("/api/v1/campaigns/preview", json=MEMBER_DAY, params={"samples": 1}, headers=auth)
    assert len(few.json()["samples"]) == 1
    too_many = await api.client.post("/api/v1/campaigns/preview", json=MEMBER_DAY, params={"samples": 11}, headers=auth)
    assert too_many.status_code == 422 and locs(too_many) == [["query", "samples"]]
    assert await every_row(uow_factory) == before


async def test_preview_says_which_coupon_rules_a_campaign_does_not_apply(
    api: RunningApi, auth, audience: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await make_template(uow_factory, clock, code="ANYONE", value=2000)
    await make_template(uow_factory, clock, code="GOLDONLY", value=2000, min_tier="gold")
    for code, rules in (("ANYONE", ["per_member_limit"]), ("GOLDONLY", ["min_tier", "per_member_limit"])):
        response = await api.client.post(
            "/api/v1/campaigns/preview", json=MEMBER_DAY | {"coupon_template": code}, headers=auth
        )
        assert response.status_code == 200, response.text
        assert response.json()["coupon_rules_not_applied"] == rules


# --- pause, resume, cancel -------------------------------------------------------------------


async def test_pause_resume_cancel_and_their_refusals(
    api: RunningApi, auth, key_id: int, uow_factory: UnitOfWorkFactory
) -> None:
    campaign_id = (await create(api, auth))["id"]
    url = f"/api/v1/campaigns/{campaign_id}"

    async def act(action: str) -> httpx.Response:
        return await api.client.post(f"{url}/{action}", headers=auth)

    paused = await act("pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert "progress" in paused.json()

    for action, status in [("pause", "paused")]:
        before = await every_row(uow_factory)
        refused = await act(action)
        assert refused.status_code == 409
        assert refused.json()["reason"] == status and refused.json()["code"] == "campaign_state"
        assert await every_row(uow_factory) == before

    resumed = await act("resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "scheduled"  # it never started
    assert (await act("resume")).json()["reason"] == "scheduled"

    cancelled = await act("cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] == "2026-11-24T12:00:00Z"
    before = await every_row(uow_factory)
    for action in ("pause", "resume", "cancel"):
        refused = await act(action)
        assert refused.status_code == 409, action
        assert refused.json()["reason"] == "cancelled"
    assert await every_row(uow_factory) == before
    assert (await api.client.get(url, headers=auth)).json()["status"] == "cancelled"

    actions = [(event.action, event.actor) for event in await audit_events(uow_factory)
               if event.action.startswith("campaign.")]
    assert actions == [(f"campaign.{name}", f"apikey:{key_id}") for name in ("create", "pause", "resume", "cancel")]


async def test_cancelling_while_sending_cancels_what_is_unsent(
    api: RunningApi, auth, audience, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    campaign_id = (await create(api, auth, without=("send_at",)))["id"]
    async with uow_factory() as uow:
        await service.start(uow, clock, settings, campaign_id)
    paused = (await api.client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=auth)).json()
    assert paused["status"] == "paused"
    resumed = (await api.client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=auth)).json()
    assert resumed["status"] == "sending"
    cancelled = (await api.client.post(f"/api/v1/campaigns/{campaign_id}/cancel", headers=auth)).json()
    assert cancelled["status"] == "cancelled"
    assert (cancelled["progress"]["pending"], cancelled["progress"]["cancelled"]) == (0, 3)


async def test_an_unknown_campaign_is_404_and_a_bad_id_422(api: RunningApi, auth, uow_factory) -> None:
    before = await every_row(uow_factory)
    for method, suffix in [("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/cancel"),
                           ("GET", "/report")]:
        response = await api.client.request(method, f"/api/v1/campaigns/4242{suffix}", headers=auth)
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "campaign_not_found"
        for bad in ("0", "abc", str(2**40)):
            response = await api.client.request(method, f"/api/v1/campaigns/{bad}{suffix}", headers=auth)
            assert response.status_code == 422, (method, suffix, bad)
            assert locs(response) == [["path", "campaign_id"]]
    assert await every_row(uow_factory) == before


# --- the report ------------------------------------------------------------------------------


async def test_the_report_over_http(
    api: RunningApi, auth, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    population = await build_population(uow_factory, clock)
    response = await api.client.get(f"/api/v1/campaigns/{population.campaign_id}/report", headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "done"
    assert report["delivery"] == {
        "sent": 150, "failed": 10, "skipped": {"opted_out": 20, "unreachable": 10}, "deferred": 0,
        "held_out": 50, "cancelled": 10, "pending": 0,
    }
    assert report["window"] == {
        "start": "2026-11-14T12:00:00Z", "end": "2026-11-21T12:00:00Z",
        "measured_until": "2026-11-21T12:00:00Z", "open": False,
    }
    targeted, holdout = report["targeted"], report["holdout"]
    assert (targeted["members"], targeted["buyers"], targeted["purchases"]) == (200, 30, 31)
    assert (holdout["members"], holdout["buyers"], holdout["purchases"]) == (50, 5, 5)
    assert targeted["conversion"] == pytest.approx(0.15) and holdout["conversion"] == pytest.approx(0.10)
    assert targeted["revenue"] == {"amount_minor": 303_000, "currency": "CNY"}
    assert holdout["revenue"] == {"amount_minor": 40_000, "currency": "CNY"}
    assert targeted["revenue_per_member"] == pytest.approx(1515.0)
    low, high = katz_interval(30, 200, 5, 50)
    assert report["lift"]["relative"] == pytest.approx(0.5)
    assert (report["lift"]["low"], report["lift"]["high"]) == (pytest.approx(low), pytest.approx(high))
    assert report["lift"]["significant"] is False and report["lift"]["note"] is None
    assert report["incremental_revenue"] == {"amount_minor": 143_000, "currency": "CNY"}
    assert report["coupon_cost"] == {"amount_minor": 10_000, "currency": "CNY"}
    assert (report["coupons_redeemed"], report["coupon_bonus_points"]) == (11, 50)
    assert report["roi"] == pytest.approx(13.3)
    assert report["purchases_in_other_currencies"] == 2


async def test_a_fresh_campaign_reports_not_enough_data(api: RunningApi, auth) -> None:
    campaign_id = (await create(api, auth))["id"]
    report = (await api.client.get(f"/api/v1/campaigns/{campaign_id}/report", headers=auth)).json()
    assert report["window"] == {"start": None, "end": None, "measured_until": None, "open": False}
    assert report["lift"] == {"relative": None, "low": None, "high": None, "significant": False,
                              "note": "not enough data: a group is empty or has no buyer"}
    assert report["incremental_revenue"] is None and report["roi"] is None
    assert report["coupon_cost"] == {"amount_minor": 0, "currency": "CNY"}


# --- RFM segments ----------------------------------------------------------------------------


async def test_rfm_segments_count_the_members_who_bought(
    api: RunningApi, auth, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    members = [await till_member(uow_factory, clock) for _ in range(7)]
    for index, member in enumerate(members[:6]):
        for visit in range(index + 1):
            await buy(uow_factory, member.id, clock.now() - timedelta(days=10 * index + visit), 1_000 * (index + 1))
    await buy(uow_factory, members[6].id, clock.now() - timedelta(days=400), 5_000)  # too long ago

    response = await api.client.get("/api/v1/segments/rfm", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-11-24T12:00:00Z"
    assert [row["segment"] for row in body["data"]] == list(RFM_SEGMENTS)
    assert body["total"] == 6 == sum(row["members"] for row in body["data"])
    async with uow_factory() as uow:
        expected = await rfm_counts(uow, now=clock.now())
    assert {row["segment"]: row["members"] for row in body["data"]} == expected


# --- the OpenAPI document --------------------------------------------------------------------


async def test_the_openapi_document_explains_campaigns(api: RunningApi) -> None:
    document = (await api.client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    for method, path in ROUTES:
        templated = path.replace("{id}", "{campaign_id}")
        operation = operations[(method, templated)]
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        assert "401" in operation["responses"]
        assert operation["summary"]
    for action in ("pause", "resume", "cancel"):
        responses = operations[("POST", f"/api/v1/campaigns/{{campaign_id}}/{action}")]["responses"]
        assert {"404", "409"} <= set(responses)
    assert "422" in operations[("POST", "/api/v1/campaigns")]["responses"]
    parameters = operations[("POST", "/api/v1/campaigns")]["parameters"]
    assert "Idempotency-Key" in {parameter["name"] for parameter in parameters}
    schemas = document["components"]["schemas"]
    create_schema = schemas["CampaignCreate"]
    assert create_schema["examples"]
    for name in ("texts", "audience", "send_at", "local", "holdout_pct", "coupon_template", "image_url"):
        assert create_schema["properties"][name].get("description"), name
    assert "{{ points }}" in create_schema["properties"]["texts"]["description"]
    assert "Katz" in schemas["LiftPublic"]["properties"]["low"]["description"]
    assert schemas["Money"]["required"] == ["amount_minor", "currency"]
