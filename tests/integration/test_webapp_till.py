"""The card's rotating QR token at the tills, and the pocket till's routes, over real HTTP against
the real database: who may use the till, what it records and for which store, its idempotency,
its audit, and its refusals (which write nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from db.models import AuditEvent, Notification, NotificationKind, Purchase
from db.uow import UnitOfWorkFactory
from loyalty import card_tokens, console_access, staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, StaffOnly
from sandbox import SandboxServer
from tests.utils.api import RunningApi
from tests.utils.coupons import add_store
from tests.utils.members import chat_member
from tests.utils.webapp import sign_init_data, telegram_user, tma

MEMBER = 5101
CASHIER = 5201
OWNER = 5202
MARKETER = 5203


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    return settings.model_copy(update={"bot_token": SecretStr(sandbox.token), "bot_api_url": sandbox.base_url})


@pytest.fixture
async def shop(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_store(uow_factory, clock, "S1")
    await add_store(uow_factory, clock, "S2")
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=CASHIER, role="cashier", name="Cai", store_code="S1")
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=OWNER, role="owner", name="Olga")
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=MARKETER, role="marketer", name="Mark")


def as_user(sandbox: SandboxServer, clock: FixedClock, telegram_id: int) -> dict[str, str]:
    return tma(sign_init_data(sandbox.token, telegram_user(telegram_id), clock.now()))


async def card_qr(api: RunningApi, sandbox: SandboxServer, clock: FixedClock) -> str:
    response = await api.client.get("/app/api/card", headers=as_user(sandbox, clock, MEMBER))
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["qr_svg"].startswith("<svg")
    return str(card["qr"])


async def purchases(uow_factory: UnitOfWorkFactory) -> list[Purchase]:
    async with uow_factory() as uow:
        return list((await uow.session.scalars(select(Purchase).order_by(Purchase.id))).all())


async def audit_actions(uow_factory: UnitOfWorkFactory, actor: str) -> list[str]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(AuditEvent.action).where(AuditEvent.actor == actor).order_by(AuditEvent.id))
        return list(rows.all())


def sale(qr: str, amount: int = 3200, order_id: str = "sale-0001-abcd") -> dict[str, object]:
    return {"qr": qr, "amount_minor": amount, "order_id": order_id}


# --- the card's token at the merchant API -------------------------------------------------------


async def test_the_till_api_takes_a_fresh_card_token_and_refuses_an_expired_or_forged_one(
    api: RunningApi, auth: dict[str, str], sandbox: SandboxServer, uow_factory: UnitOfWorkFactory,
    clock: FixedClock, api_settings: Settings, shop: None,
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    token = await card_qr(api, sandbox, clock)
    assert token != member.member_number and card_tokens.looks_like_token(token)

    def body(qr: str, order: str) -> dict[str, object]:
        return {"member": {"qr": qr}, "order_id": order, "channel": "store", "store": "S1", "amount_minor": 1000, "currency": "CNY"}

    forged = ("A" if token[0] != "A" else "B") + token[1:]
    refused = await api.client.post("/api/v1/purchases", json=body(forged, "o-forged"), headers=auth)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "qr_invalid"
    assert refused.json()["detail"][0]["loc"] == ["body", "member", "qr"]

    accepted = await api.client.post("/api/v1/purchases", json=body(token, "o-fresh"), headers=auth)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["member_number"] == member.member_number

    clock.advance(timedelta(seconds=api_settings.card_token_seconds))
    expired = await api.client.post("/api/v1/purchases", json=body(token, "o-late"), headers=auth)
    assert expired.status_code == 422
    assert expired.json()["detail"][0]["type"] == "qr_expired"

    # The chat card's static QR, the member number, keeps working.
    static = await api.client.post("/api/v1/purchases", json=body(member.member_number, "o-static"), headers=auth)
    assert static.status_code == 201
    assert [p.order_id for p in await purchases(uow_factory)] == ["o-fresh", "o-static"]


def test_a_token_signed_with_another_key_is_forged_and_one_with_an_old_key_still_reads(clock: FixedClock) -> None:
    token = card_tokens.issue("k" * 40, 7, clock.now(), 90).token

    with pytest.raises(InvalidInput) as forged:
        card_tokens.member_id_of(["other" * 8], token, clock.now())
    assert forged.value.code == "qr_invalid"
    assert card_tokens.member_id_of(["new" * 14, "k" * 40], token, clock.now()) == 7
    assert len(token) == card_tokens.TOKEN_LENGTH and token == token.upper()


# --- who may use the till -----------------------------------------------------------------------


@pytest.mark.parametrize("who", [MEMBER, MARKETER])
async def test_a_member_or_a_marketer_calling_the_till_is_refused(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, shop: None, who: int
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)

    for method, path, payload in [
        ("POST", "/app/api/till/lookup", {"qr": member.member_number}),
        ("POST", "/app/api/till/purchases", sale(member.member_number)),
        ("GET", "/app/api/till/today", None),
        ("POST", "/app/api/till/refunds", {"order_id": "sale-0001-abcd", "refund_id": "refund-0001"}),
    ]:
        response = await api.client.request(method, path, json=payload, headers=as_user(sandbox, clock, who))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["code"] == "not_till_staff"
    assert await purchases(uow_factory) == []


async def test_a_cashier_needs_a_store_and_gets_neither_the_console_nor_a_sign_in_link(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, shop: None
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput) as refused:
            await staff.add(uow, clock, telegram_id=5301, role="cashier", name="No Store")
    assert refused.value.field == "store"
    async with uow_factory() as uow:
        with pytest.raises(StaffOnly):
            await console_access.create_link(uow, clock, settings, CASHIER)
    # An owner with a link who becomes a cashier cannot use it.
    async with uow_factory() as uow:
        url = await console_access.create_link(uow, clock, settings, OWNER)
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=5302, role="owner", name="Next owner")  # the last owner stays
        await staff.add(uow, clock, telegram_id=OWNER, role="cashier", name=None, store_code="S2")
    async with uow_factory() as uow:
        with pytest.raises(console_access.LinkRefused):
            await console_access.redeem_link(uow, clock, settings, url.rsplit("token=", 1)[1])


# --- the till at work ---------------------------------------------------------------------------


async def test_a_cashier_scans_the_card_and_records_a_sale_for_their_store_audited_with_a_receipt_queued(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, shop: None
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    token = await card_qr(api, sandbox, clock)
    cashier = as_user(sandbox, clock, CASHIER)

    looked = await api.client.post("/app/api/till/lookup", json={"qr": token}, headers=cashier)
    assert looked.status_code == 200, looked.text
    assert looked.json()["number"] == member.member_number
    # Another store than their own is refused, and nothing is recorded.
    elsewhere = await api.client.post("/app/api/till/purchases", json={**sale(token), "store": "S2"}, headers=cashier)
    assert elsewhere.status_code == 422

    recorded = await api.client.post("/app/api/till/purchases", json=sale(token), headers=cashier)

    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["points_earned"] > 0
    [row] = await purchases(uow_factory)
    async with uow_factory() as uow:
        store = await uow.program.store_by_code("S1")
        cashier_row = await uow.staff.by_telegram_id(CASHIER)
        receipts = await uow.session.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.member_id == member.id, Notification.kind == NotificationKind.POINTS_EARNED
            )
        )
    assert store is not None and cashier_row is not None
    assert (row.store_id, row.staff_id, row.amount_minor) == (store.id, cashier_row.id, 3200)
    assert receipts == 1
    assert await audit_actions(uow_factory, f"staff:{CASHIER}") == ["member.read", "till.purchase"]

    listed = (await api.client.get("/app/api/till/today", headers=cashier)).json()
    assert [p["order_id"] for p in listed["purchases"]] == ["sale-0001-abcd"]


async def test_a_double_tap_records_the_sale_once(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, shop: None
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    cashier = as_user(sandbox, clock, CASHIER)

    first, second = await asyncio.gather(
        api.client.post("/app/api/till/purchases", json=sale(member.member_number), headers=cashier),
        api.client.post("/app/api/till/purchases", json=sale(member.member_number), headers=cashier),
    )

    assert {first.status_code, second.status_code} <= {200, 201}, (first.text, second.text)
    assert sorted([first.json()["replayed"], second.json()["replayed"]]) == [False, True]
    assert first.json()["purchase_id"] == second.json()["purchase_id"]
    assert len(await purchases(uow_factory)) == 1
    assert await audit_actions(uow_factory, f"staff:{CASHIER}") == ["till.purchase"]


async def test_an_owner_tied_to_no_store_picks_one_and_refunds_only_their_own_sale_of_today(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, shop: None
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    owner = as_user(sandbox, clock, OWNER)
    cashier = as_user(sandbox, clock, CASHIER)

    unpicked = await api.client.post("/app/api/till/purchases", json=sale(member.member_number), headers=owner)
    assert unpicked.status_code == 422 and unpicked.json()["detail"][0]["loc"] == ["body", "store"]
    stores = (await api.client.get("/app/api/till/stores", headers=owner)).json()
    assert stores["fixed"] is False and [s["code"] for s in stores["stores"]] == ["S1", "S2"]
    picked = await api.client.post(
        "/app/api/till/purchases", json={**sale(member.member_number, 5000, "sale-owner-1"), "store": "S2"}, headers=owner
    )
    assert picked.status_code == 201, picked.text

    # The cashier's till cannot refund the owner's sale.
    theirs = await api.client.post(
        "/app/api/till/refunds", json={"order_id": "sale-owner-1", "refund_id": "refund-x-0001"}, headers=cashier
    )
    assert theirs.status_code == 404

    half = await api.client.post(
        "/app/api/till/refunds",
        json={"order_id": "sale-owner-1", "refund_id": "refund-o-0001", "amount_minor": 2500, "store": "S2"},
        headers=owner,
    )
    assert half.status_code == 201, half.text
    assert half.json()["refunded_total_minor"] == 2500

    # The next day it is no longer today's sale.
    clock.advance(timedelta(days=1))
    later = await api.client.post(
        "/app/api/till/refunds",
        json={"order_id": "sale-owner-1", "refund_id": "refund-o-0002", "store": "S2"},
        headers=as_user(sandbox, clock, OWNER),
    )
    assert later.status_code == 404
    assert await audit_actions(uow_factory, f"staff:{OWNER}") == ["till.purchase", "till.refund"]


async def test_the_till_redeems_a_coupon_shown_with_the_card_token_and_hands_a_reward_over_once(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, shop: None
) -> None:
    from db.models import Reward
    from loyalty import rewards
    from tests.utils.coupons import give_coupon, make_template

    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    coupon = await give_coupon(uow_factory, clock, member, await make_template(uow_factory, clock, value=500))
    cashier = as_user(sandbox, clock, CASHIER)
    token = await card_qr(api, sandbox, clock)

    looked = (await api.client.post("/app/api/till/lookup", json={"qr": token}, headers=cashier)).json()
    assert [c["code"] for c in looked["coupons"]] == [coupon.code]
    redeemed = await api.client.post(
        "/app/api/till/coupons/redeem",
        json={"code": coupon.code, "amount_minor": 3000, "order_id": "sale-coupon-1", "qr": token},
        headers=cashier,
    )
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["discount_minor"] == 500

    # Points to spend, from a sale at this till; then the member redeems a reward in the chat.
    assert (await api.client.post("/app/api/till/purchases", json=sale(token, 100_000, "sale-big-1"), headers=cashier)).status_code == 201
    async with uow_factory() as uow:
        reward = Reward(code="LATTE", names={"en": "Latte"}, descriptions={}, points_price=50, cash_value_minor=3200,
                        currency="CNY", stock=None, min_tier_rank=0, active=True, created_at=clock.now())
        uow.session.add(reward)
        await uow.commit()
        redemption = await rewards.redeem(uow, clock, member_id=member.id, reward_id=reward.id, actor="member")

    handed = await api.client.post("/app/api/till/rewards/redeem", json={"code": redemption.code}, headers=cashier)
    again = await api.client.post("/app/api/till/rewards/redeem", json={"code": redemption.code}, headers=cashier)

    assert handed.status_code == 200, handed.text
    assert handed.json()["reward"] == "Latte" and handed.json()["member_number"] == member.member_number
    assert again.status_code == 409 and again.json()["reason"] == "used"
    actions = await audit_actions(uow_factory, f"staff:{CASHIER}")
    assert "coupon.redeem" in actions and "redemption.use" in actions and "till.purchase" in actions
