"""Points in the chat: a purchase at the till lands as a message in value terms; /points and
the card show balance, tier, progress and expiry."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Notification, Reward, Store
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from tests.e2e.conftest import Product
from tests.utils.members import TEST_SETTINGS, next_phone


async def signed_up(product: Product, name: str = "Alex", language: str = "en"):  # type: ignore[no-untyped-def]
    user, conv = product.member(name, language=language)
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    await conv.press("Skip" if language == "en" else "跳过")
    await conv.press("Skip" if language == "en" else "跳过")
    async with product.uow_factory() as uow:
        member = await uow.members.by_telegram_id(user.id)
    assert member is not None
    return user, conv, member


async def seed_catalogue(product: Product) -> None:
    now = product.clock.now()
    async with product.uow_factory() as uow:
        uow.session.add(Store(code="S001", name="People's Square", city="Shanghai", timezone="Asia/Shanghai", active=True, created_at=now))
        uow.session.add(Reward(code="LATTE", names={"en": "Latte", "zh_CN": "拿铁"}, descriptions={}, points_price=50,
                               cash_value_minor=3200, currency="CNY", stock=None, min_tier_rank=0, active=True, created_at=now))
        uow.session.add(Reward(code="MUG", names={"en": "Mug", "zh_CN": "马克杯"}, descriptions={}, points_price=400,
                               cash_value_minor=9900, currency="CNY", stock=10, min_tier_rank=0, active=True, created_at=now))
        await uow.commit()


async def buy(product: Product, member_number: str, order_id: str, amount_minor: int) -> dict:
    async with product.uow_factory() as uow:
        answer, _ = await record_purchase(
            uow, product.clock, TEST_SETTINGS,
            PurchaseRequest(member=MemberRef(member_number=member_number), order_id=order_id, channel="store",
                            amount_minor=amount_minor, currency="CNY", store_code="S001"),
            actor="test", idempotency=IdempotencyKey("test", order_id, order_id),
        )
    return answer.body


async def test_points_from_the_till_arrive_in_value_terms(product: Product) -> None:
    await seed_catalogue(product)
    _user, conv, member = await signed_up(product)
    mark = conv.mark()
    await buy(product, member.member_number, "A-1", 12800)
    assert await product.notifier.drain_once() == 1
    [message] = await conv.collect_since(mark, "points landed")
    assert "+128 points" in message.text
    assert "you now have 128" in message.text
    assert "2 × Latte" in message.text  # 128 points buy two 50-point lattes
    async with product.uow_factory() as uow:
        [note] = (await uow.session.scalars(select(Notification).where(Notification.kind == "points_earned"))).all()
    assert note.status == "sent" and note.sent_at == product.clock.now()
    assert await product.notifier.drain_once() == 0, "a sent notification never goes twice"


async def test_upgrade_is_celebrated_with_the_new_tier_benefits(product: Product) -> None:
    await seed_catalogue(product)
    _, conv, member = await signed_up(product, "小明", "zh-hans")
    mark = conv.mark()
    await buy(product, member.member_number, "G-1", 650_000)
    assert await product.notifier.drain_once() == 2
    texts = [m.text for m in await conv.collect_since(mark, "upgrade")]
    assert any("恭喜您升级为金卡" in t and "免费配送" in t for t in texts), texts
    card = await conv.say("/card")
    assert "金卡" in card[-1].caption and "6,500" in card[-1].caption


async def test_points_command_shows_balance_expiry_and_progress(product: Product) -> None:
    await seed_catalogue(product)
    _, conv, member = await signed_up(product)
    await buy(product, member.member_number, "P-1", 150_000)  # ¥1,500: ¥500 short of Silver
    [summary] = await conv.say("/points")
    assert "You have 1,500 points" in summary.text
    assert "1,500 valid until Nov 30, 2027" in summary.text  # earned Nov 2026: 12 months, month end
    assert "To reach Silver" in summary.text and "500.00 more" in summary.text and "9 more visits" in summary.text


async def test_member_who_blocked_the_bot_is_skipped_and_marked(product: Product) -> None:
    await seed_catalogue(product)
    user, conv, member = await signed_up(product)
    await conv.block()
    await product.sandbox.wait_idle()
    await buy(product, member.member_number, "X-1", 1000)
    assert await product.notifier.drain_once() == 0
    async with product.uow_factory() as uow:
        [note] = (await uow.session.scalars(select(Notification))).all()
        blocked = await uow.members.by_telegram_id(user.id)
    assert note.status == "skipped" and blocked is not None and blocked.chat_blocked_at is not None
