"""The Mini App's stores and settings over real HTTP: stores nearest first from the device's
location (else by city), open now and until when; the language and message topics, each bad
value a 422 that changes nothing; the export; and erasure, which takes the second confirmation
the first answer gave, exactly as the chat asks twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.data_export import MemberExport
from loyalty.erasure_confirmation import CONFIRM_FOR
from loyalty.nudges import preferences
from tests.utils.api import RunningApi
from tests.utils.app_members import app_auth, with_bot_token
from tests.utils.members import chat_member
from tests.utils.rewards import give_points
from tests.utils.stores import add_stores, located_store

ALEX = 7201
ALL_WEEK = {day: [["08:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return with_bot_token(settings)


async def _member(uow_factory: UnitOfWorkFactory, member_id: int) -> Member:
    async with uow_factory() as uow:
        found = await uow.session.scalar(select(Member).where(Member.id == member_id))
        assert found is not None
        return found


async def test_stores_come_nearest_first_from_the_device_else_by_city(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=ALEX)
    far = located_store("FAR", 31.30, 121.50, clock, name="Far", hours=ALL_WEEK)
    near = located_store("NEAR", 31.2305, 121.4740, clock, name="Near", hours=ALL_WEEK)
    unmapped = located_store("NOMAP", None, None, clock, name="Kiosk")
    far.city, near.city, unmapped.city = "Shanghai", "Shanghai", "Beijing"
    await add_stores(uow_factory, [far, near, unmapped])
    auth = app_auth(clock, ALEX)

    located = await api.client.get("/app/api/stores?latitude=31.2304&longitude=121.4737", headers=auth)
    assert located.status_code == 200, located.text
    body = located.json()
    assert body["nearest_first"] is True
    assert [store["name"] for store in body["data"]] == ["Near", "Far"]  # a store off the map has no distance
    first = body["data"][0]
    assert first["distance_m"] < 50 and first["open_now"] is True  # 20:00 in Shanghai at START
    assert (first["closes_at"], first["opens_at"]) == ("2026-11-24T22:00:00+08:00", None)
    assert first["directions_url"].startswith("https://") and "31.2305%2C121.474" in first["directions_url"]

    listed = (await api.client.get("/app/api/stores", headers=auth)).json()
    assert listed["nearest_first"] is False
    assert [store["name"] for store in listed["data"]] == ["Kiosk", "Far", "Near"]  # Beijing, then Shanghai by name
    assert listed["data"][0]["directions_url"] is None


async def test_a_bad_location_is_refused(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await chat_member(uow_factory, clock, telegram_id=ALEX)
    for query in ("latitude=91&longitude=0", "latitude=0&longitude=181", "latitude=10", "longitude=10", "latitude=abc&longitude=1"):
        response = await api.client.get(f"/app/api/stores?{query}", headers=app_auth(clock, ALEX))
        assert response.status_code == 422, (query, response.text)


async def test_the_language_and_topics_change_and_bad_values_change_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    auth = app_auth(clock, ALEX)
    shown = (await api.client.get("/app/api/settings", headers=auth)).json()
    assert shown["locale"] == "en" and shown["locales"] == ["en", "zh_CN"]
    assert all(topic["on"] for topic in shown["topics"])

    changed = await api.client.put("/app/api/settings/language", json={"locale": "zh_CN"}, headers=auth)
    assert changed.status_code == 200 and changed.json()["locale"] == "zh_CN"
    assert (await _member(uow_factory, member.id)).locale == "zh_CN"
    for bad in ("fr", "", "zh_cn", "en " * 10):
        refused = await api.client.put("/app/api/settings/language", json={"locale": bad}, headers=auth)
        assert refused.status_code == 422, bad
    assert (await _member(uow_factory, member.id)).locale == "zh_CN"

    muted = await api.client.put("/app/api/settings/topics/offers", json={"on": False}, headers=auth)
    assert muted.status_code == 200
    assert {t["topic"]: t["on"] for t in muted.json()["topics"]}["offers"] is False
    unknown = await api.client.put("/app/api/settings/topics/spam", json={"on": False}, headers=auth)
    assert (unknown.status_code, unknown.json()["detail"][0]["type"]) == (422, "invalid_input")
    not_bool = await api.client.put("/app/api/settings/topics/points", json={"on": "perhaps"}, headers=auth)
    assert not_bool.status_code == 422
    async with uow_factory() as uow:
        assert await preferences.mutes(uow, await _member(uow_factory, member.id)) == frozenset({"offers"})
    unmuted = await api.client.put("/app/api/settings/topics/offers", json={"on": True}, headers=auth)
    assert all(t["on"] for t in unmuted.json()["topics"])


async def test_the_export_is_the_chats_json_as_a_download(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 120)
    response = await api.client.get("/app/api/privacy/export", headers=app_auth(clock, ALEX))
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="my-data-{member.member_number}-2026-11-24.json"'
    export = MemberExport.model_validate_json(response.content)
    assert (export.profile.member_number, export.profile.telegram_id, export.profile.points_balance) == (member.member_number, ALEX, 120)


async def test_erasing_takes_the_confirmation_the_question_gave(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 120)
    auth = app_auth(clock, ALEX)
    for body in ({}, {"confirmation": ""}, {"confirmation": "1790000000.deadbeef"}):
        refused = await api.client.post("/app/api/privacy/erase", json=body, headers=auth)
        assert refused.status_code == 422, body
    asked = await api.client.post("/app/api/privacy/erase/ask", headers=auth)
    assert asked.status_code == 200, asked.text
    losses = asked.json()
    assert (losses["points"], losses["coupons"], losses["reward_codes"], losses["tier"]) == (120, 0, 0, "Member")
    clock.advance(CONFIRM_FOR + timedelta(seconds=1))  # too late: ask again
    late = await api.client.post("/app/api/privacy/erase", json={"confirmation": losses["confirmation"]}, headers=app_auth(clock, ALEX))
    assert (late.status_code, late.json()["detail"][0]["type"]) == (422, "confirmation_mismatch")
    assert (await _member(uow_factory, member.id)).erased_at is None

    again = (await api.client.post("/app/api/privacy/erase/ask", headers=app_auth(clock, ALEX))).json()
    erased = await api.client.post("/app/api/privacy/erase", json={"confirmation": again["confirmation"]}, headers=app_auth(clock, ALEX))
    assert erased.status_code == 200, erased.text
    assert (erased.json()["member_number"], erased.json()["points_forfeited"]) == (member.member_number, 120)
    gone = await _member(uow_factory, member.id)
    assert gone.erased_at is not None and gone.telegram_id is None
    # Afterwards the caller is no member: the screens refuse them.
    assert (await api.client.get("/app/api/points", headers=app_auth(clock, ALEX))).status_code in (401, 403)
