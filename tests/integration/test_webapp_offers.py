"""The Mini App's rewards and coupons over real HTTP: the catalogue as the caller sees it, a
redemption once per confirmation (a double press, or two at once, redeem once), every refusal a
clear 4xx with a code and nothing written, and coupons and codes only ever the caller's own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from db.models import Coupon, CouponStatus, RewardRedemption
from db.uow import UnitOfWorkFactory
from loyalty import blocking
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.app_members import app_auth, with_bot_token
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import chat_member
from tests.utils.rewards import give_points, make_reward, set_tier

ALEX, BEA = 7101, 7102


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return with_bot_token(settings)


async def _redemptions(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(RewardRedemption)) or 0)


async def _balance(uow_factory: UnitOfWorkFactory, member_id: int) -> int:
    async with uow_factory() as uow:
        return (await uow.lock_member(member_id)).points_balance


async def test_the_catalogue_says_what_the_caller_can_have_and_why_not(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 300)
    cheap = await make_reward(uow_factory, clock, price=300, name="Latte")
    dear = await make_reward(uow_factory, clock, price=500, name="Mug")
    gold = await make_reward(uow_factory, clock, price=100, name="Lounge", min_tier="gold")
    gone = await make_reward(uow_factory, clock, price=50, name="Cake", stock=0)
    response = await api.client.get("/app/api/rewards", headers=app_auth(clock, ALEX))
    assert response.status_code == 200, response.text
    body = response.json()
    seen = {offer["id"]: (offer["can_redeem"], offer["reason"], offer["points_short"]) for offer in body["data"]}
    assert body["available"] == 300
    assert seen[cheap.id] == (True, None, 0)
    assert seen[dear.id] == (False, "insufficient_points", 200)
    assert seen[gold.id][:2] == (False, "tier")
    assert seen[gone.id][:2] == (False, "out_of_stock")
    prices = [offer["points_price"] for offer in body["data"]]
    assert prices == sorted(prices)


async def test_redeeming_twice_with_one_key_redeems_once_and_shows_the_same_code(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 1000)
    reward = await make_reward(uow_factory, clock, price=300, name="Latte")
    headers = app_auth(clock, ALEX) | {"Idempotency-Key": "confirm-0001"}
    url = f"/app/api/rewards/{reward.id}/redeem"
    # A double press: both requests in flight at once.
    first, second = await asyncio.gather(
        api.client.post(url, json={"points_price": 300}, headers=headers),
        api.client.post(url, json={"points_price": 300}, headers=headers),
    )
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json()["code"] == second.json()["code"]
    assert sorted([first.json()["replayed"], second.json()["replayed"]]) == [False, True]
    assert first.json()["reward"] == "Latte" and first.json()["code"].startswith("RW")
    assert first.json()["qr_svg"].startswith("<svg")
    assert await _redemptions(uow_factory) == 1 and await _balance(uow_factory, member.id) == 700
    # The member's codes list it, and its page shows it.
    codes = (await api.client.get("/app/api/rewards/codes", headers=app_auth(clock, ALEX))).json()
    assert [code["code"] for code in codes] == [first.json()["code"]]
    one = await api.client.get(f"/app/api/rewards/codes/{codes[0]['id']}", headers=app_auth(clock, ALEX))
    assert one.status_code == 200 and one.json()["code"] == first.json()["code"]
    # A new confirmation is a new key: it redeems again.
    again = await api.client.post(url, json={"points_price": 300}, headers=app_auth(clock, ALEX) | {"Idempotency-Key": "confirm-0002"})
    assert again.status_code == 201 and again.json()["code"] != first.json()["code"]
    assert await _balance(uow_factory, member.id) == 400


async def test_a_key_reused_for_another_reward_is_refused(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 1000)
    latte = await make_reward(uow_factory, clock, price=300)
    mug = await make_reward(uow_factory, clock, price=200)
    headers = app_auth(clock, ALEX) | {"Idempotency-Key": "confirm-0003"}
    assert (await api.client.post(f"/app/api/rewards/{latte.id}/redeem", json={"points_price": 300}, headers=headers)).status_code == 201
    reused = await api.client.post(f"/app/api/rewards/{mug.id}/redeem", json={"points_price": 200}, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_conflict"
    assert await _redemptions(uow_factory) == 1 and await _balance(uow_factory, member.id) == 700


async def test_every_refusal_is_a_clear_4xx_and_writes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await give_points(uow_factory, clock, member, 250)
    dear = await make_reward(uow_factory, clock, price=300)
    gone = await make_reward(uow_factory, clock, price=50, stock=0)
    lounge = await make_reward(uow_factory, clock, price=50, min_tier="gold")
    off = await make_reward(uow_factory, clock, price=50, active=False)
    auth = app_auth(clock, ALEX)

    async def redeem(reward_id: int, price: int, key: str = "refused-key-1", **extra: str) -> tuple[int, dict[str, object]]:
        response = await api.client.post(
            f"/app/api/rewards/{reward_id}/redeem", json={"points_price": price}, headers=auth | {"Idempotency-Key": key} | extra
        )
        return response.status_code, response.json()

    status, body = await redeem(dear.id, 300)
    assert (status, body["code"], body["short"]) == (409, "insufficient_points", 50)
    status, body = await redeem(gone.id, 50)
    assert (status, body["code"], body["reason"]) == (409, "reward_unavailable", "out_of_stock")
    status, body = await redeem(lounge.id, 50)
    assert (status, body["reason"]) == (409, "tier")
    status, body = await redeem(off.id, 50)
    assert (status, body["reason"]) == (409, "inactive")
    status, body = await redeem(999_999, 50)
    assert (status, body["code"]) == (404, "reward_not_found")
    status, body = await redeem(gone.id, 49)
    assert (status, body["reason"]) == (409, "price_changed")
    for bad_key in ("short", "has space in it", "x" * 65):
        status, _ = await redeem(gone.id, 50, key=bad_key)
        assert status == 422, bad_key
    missing = await api.client.post(f"/app/api/rewards/{gone.id}/redeem", json={"points_price": 50}, headers=auth)
    assert missing.status_code == 422
    async with uow_factory() as uow:
        await blocking.set_blocked(uow, clock, member.id, blocked=True, actor="test")
    cheap = await make_reward(uow_factory, clock, price=10)
    status, body = await redeem(cheap.id, 10)
    assert (status, body["code"]) == (409, "member_blocked")
    assert await _redemptions(uow_factory) == 0 and await _balance(uow_factory, member.id) == 250


async def test_another_members_code_is_not_found(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    alex = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await chat_member(uow_factory, clock, telegram_id=BEA)
    await give_points(uow_factory, clock, alex, 500)
    reward = await make_reward(uow_factory, clock, price=100)
    made = await api.client.post(
        f"/app/api/rewards/{reward.id}/redeem", json={"points_price": 100}, headers=app_auth(clock, ALEX) | {"Idempotency-Key": "alex-key-01"}
    )
    redemption_id = made.json()["id"]
    foreign = await api.client.get(f"/app/api/rewards/codes/{redemption_id}", headers=app_auth(clock, BEA))
    assert foreign.status_code == 404 and made.json()["code"] not in foreign.text
    assert (await api.client.get("/app/api/rewards/codes", headers=app_auth(clock, BEA))).json() == []


async def test_coupons_come_soonest_ending_first_with_worth_place_and_code(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    later = await make_template(uow_factory, clock, kind="percent_off", value=20, valid_days=30, cities=["Hangzhou"])
    sooner = await make_template(uow_factory, clock, kind="amount_off", value=1500, min_spend_minor=8000, valid_days=5)
    late = await give_coupon(uow_factory, clock, member, later)
    soon = await give_coupon(uow_factory, clock, member, sooner)
    response = await api.client.get("/app/api/coupons", headers=app_auth(clock, ALEX))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["code"] for c in body["data"]] == [soon.code, late.code]
    first, second = body["data"]
    assert (first["kind"], first["value"], first["currency"], first["min_spend_minor"]) == ("amount_off", 1500, "CNY", 8000)
    assert (second["kind"], second["value"], second["cities"], second["stores"]) == ("percent_off", 20, ["Hangzhou"], [])
    assert first["qr_svg"] is None  # the list is not the till's: the QR comes with the coupon shown
    one = await api.client.get(f"/app/api/coupons/{soon.id}", headers=app_auth(clock, ALEX))
    assert one.status_code == 200 and one.json()["code"] == soon.code
    assert one.json()["qr_svg"].startswith("<svg")


async def test_a_coupon_of_another_member_is_not_found_and_a_used_one_is_refused(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    alex = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await chat_member(uow_factory, clock, telegram_id=BEA)
    template = await make_template(uow_factory, clock, per_member_limit=2)
    mine = await give_coupon(uow_factory, clock, alex, template)
    foreign = await api.client.get(f"/app/api/coupons/{mine.id}", headers=app_auth(clock, BEA))
    assert foreign.status_code == 404 and mine.code not in foreign.text
    assert (await api.client.get("/app/api/coupons", headers=app_auth(clock, BEA))).json()["data"] == []
    used = await give_coupon(uow_factory, clock, alex, template)
    async with uow_factory() as uow:
        await uow.session.execute(update(Coupon).where(Coupon.id == used.id).values(status=CouponStatus.USED, used_at=clock.now()))
        await uow.commit()
    refused = await api.client.get(f"/app/api/coupons/{used.id}", headers=app_auth(clock, ALEX))
    assert (refused.status_code, refused.json()["code"], refused.json()["reason"]) == (409, "coupon_not_usable", "used")
    assert [c["id"] for c in (await api.client.get("/app/api/coupons", headers=app_auth(clock, ALEX))).json()["data"]] == [mine.id]
    clock.advance(timedelta(days=40))
    expired = await api.client.get(f"/app/api/coupons/{mine.id}", headers=app_auth(clock, ALEX))
    assert (expired.status_code, expired.json()["reason"]) == (409, "expired")
    assert (await api.client.get("/app/api/coupons", headers=app_auth(clock, ALEX))).json()["data"] == []


async def test_a_gold_member_may_have_the_gold_reward(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ALEX)
    await set_tier(uow_factory, member, "gold")
    await give_points(uow_factory, clock, member, 100)
    lounge = await make_reward(uow_factory, clock, price=100, min_tier="gold")
    offer = (await api.client.get(f"/app/api/rewards/{lounge.id}", headers=app_auth(clock, ALEX))).json()
    assert (offer["can_redeem"], offer["required_tier"]) == (True, "Gold")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/app/api/points"), ("GET", "/app/api/history"), ("GET", "/app/api/tier"), ("GET", "/app/api/rewards"),
        ("GET", "/app/api/rewards/codes"), ("GET", "/app/api/coupons"), ("GET", "/app/api/stores"), ("GET", "/app/api/settings"),
        ("GET", "/app/api/privacy/export"), ("POST", "/app/api/privacy/erase/ask"),
    ],
)
async def test_the_screens_are_for_members_signed_in(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, method: str, path: str
) -> None:
    await chat_member(uow_factory, clock, telegram_id=ALEX)
    unsigned = await api.client.request(method, path)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "not_signed_in")
    tampered = app_auth(clock, ALEX)["Authorization"].replace("%22id%22%3A7101", "%22id%22%3A7102")
    assert (await api.client.request(method, path, headers={"Authorization": tampered})).status_code == 401
    guest = await api.client.request(method, path, headers=app_auth(clock, 7199))
    assert (guest.status_code, guest.json()["code"]) == (403, "not_a_member")
