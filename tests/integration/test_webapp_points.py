"""The Mini App's points screens over real HTTP: the balance and what expires when, the history
with the reason of every movement a keyset page at a time, and tier progress; only ever the
caller's own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.uow import UnitOfWorkFactory
from loyalty import points, purchases
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from tests.utils.api import RunningApi
from tests.utils.app_members import app_auth, with_bot_token
from tests.utils.members import chat_member
from tests.utils.purchases import add_purchase
from tests.utils.rewards import give_points, make_reward
from tests.utils.stores import add_stores, located_store

ALEX, BEA = 7001, 7002


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return with_bot_token(settings)


async def _adjust(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, number: str, value: int, why: str) -> None:
    async with uow_factory() as uow:
        await points.adjust_points(
            uow, clock, settings, member_number=number, points=value, reason=why, actor="staff:test",
            idempotency=IdempotencyKey("test", f"{number}:{why}", "x"),
        )


async def test_points_say_the_balance_and_what_expires_on_which_last_day(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, api_settings: Settings
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 120, expires_in=timedelta(days=10))
    await give_points(uow_factory, clock, member, 300, expires_in=timedelta(days=40))
    response = await api.client.get("/app/api/points", headers=app_auth(clock, ALEX))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["balance"], body["available"]) == (420, 420)
    zone = api_settings.zone
    assert body["expiring"] == [
        {"points": 120, "last_day": (clock.now() + timedelta(days=10) - timedelta(microseconds=1)).astimezone(zone).date().isoformat()},
        {"points": 300, "last_day": (clock.now() + timedelta(days=40) - timedelta(microseconds=1)).astimezone(zone).date().isoformat()},
    ]


async def test_the_history_gives_every_reason_newest_first_in_stable_pages(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, api_settings: Settings
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX, locale="zh_CN")
    other = await chat_member(uow_factory, clock, telegram_id=BEA)
    [store] = await add_stores(uow_factory, [located_store("WT1", 31.2, 121.4, clock, name="Water Town")])
    async with uow_factory() as uow:
        await purchases.record_purchase(
            uow, clock, api_settings,
            purchases.PurchaseRequest(
                member=purchases.MemberRef(member_number=member.member_number), order_id="ORD-1", channel="store",
                amount_minor=5000, currency="CNY", store_code=store.code,
            ),
            actor="apikey:till", idempotency=IdempotencyKey("test", "ORD-1", "x"),
        )
    await _adjust(uow_factory, clock, api_settings, member.member_number, 500, "sorry for the wait")
    await _adjust(uow_factory, clock, api_settings, other.member_number, 77, "not yours")
    reward = await make_reward(uow_factory, clock, price=100, name="Mug", zh_name="马克杯")
    auth = app_auth(clock, ALEX, language_code="zh")
    redeemed = await api.client.post(
        f"/app/api/rewards/{reward.id}/redeem", json={"points_price": 100}, headers=auth | {"Idempotency-Key": "history-key-1"}
    )
    assert redeemed.status_code == 201, redeemed.text
    for index in range(25):
        clock.advance(timedelta(minutes=1))
        await _adjust(uow_factory, clock, api_settings, member.member_number, 1, f"tick {index}")

    first = (await api.client.get("/app/api/history", headers=auth)).json()
    assert len(first["data"]) == 20 and first["next_before"] == first["data"][-1]["id"]
    assert [line["reason"] for line in first["data"][:2]] == ["tick 24", "tick 23"]
    # A movement posted while the member reads does not shift the next page.
    await _adjust(uow_factory, clock, api_settings, member.member_number, 1, "meanwhile")
    second = (await api.client.get(f"/app/api/history?before={first['next_before']}", headers=auth)).json()
    assert second["next_before"] is None
    lines = first["data"] + second["data"]
    ids = [line["id"] for line in lines]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert "meanwhile" not in [line["reason"] for line in lines] and "not yours" not in [line["reason"] for line in lines]
    [spent] = [line for line in lines if line["kind"] == "redeem"]
    assert (spent["points"], spent["reward"]) == (-100, "马克杯") and spent["redemption_code"].startswith("RW")
    [bought] = [line for line in lines if line["kind"] == "earn"]
    assert (bought["order_id"], bought["store"], bought["points"]) == ("ORD-1", "Water Town", 50)
    [sorry] = [line for line in lines if line["reason"] == "sorry for the wait"]
    assert (sorry["kind"], sorry["points"]) == ("adjust", 500)


async def test_a_bad_cursor_is_refused(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await chat_member(uow_factory, clock, telegram_id=ALEX)
    for cursor in ("0", "-3", "abc", str(2**63)):
        response = await api.client.get(f"/app/api/history?before={cursor}", headers=app_auth(clock, ALEX))
        assert response.status_code == 422, (cursor, response.text)


async def test_tier_progress_says_what_the_next_tier_takes_and_what_keeps_this_one(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    # Silver takes ¥2,000.00 or 10 visits in the window: 7 visits worth ¥1,360.00 leave ¥640.00 or 3.
    for day in range(7):
        await add_purchase(uow_factory, member, amount_minor=19_428 if day else 19_432, at=clock.now() - timedelta(days=day + 1))
    response = await api.client.get("/app/api/tier", headers=app_auth(clock, ALEX))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tier"]["code"], body["next_tier"]["code"]) == ("member", "silver")
    assert (body["spend_to_next_minor"], body["visits_to_next"], body["currency"]) == (64_000, 3, "CNY")
    assert body["keep_by"] is None  # nothing to keep at the entry tier
    assert [tier["code"] for tier in body["tiers"]] == ["member", "silver", "gold", "black"]
    assert body["tiers"][2]["benefits"] == ["25% more points", "Double points in your birthday month", "Free delivery"]


async def test_the_tier_speaks_the_callers_language(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await chat_member(uow_factory, clock, telegram_id=ALEX, locale="zh_CN")
    body = (await api.client.get("/app/api/tier", headers=app_auth(clock, ALEX, language_code="zh"))).json()
    assert (body["tier"]["name"], body["next_tier"]["name"]) == ("普通会员", "银卡")
