"""What an owner's care of a member does in the chat: the member is told of a points adjustment
and receives their card again, in their language, and a blocked member who tries to redeem is
told why in their language, with nothing spent."""

from __future__ import annotations

from sqlalchemy import select

from bot.render import texts_for
from db.models import Member, RewardRedemption
from loyalty import member_care
from loyalty.blocking import set_blocked
from loyalty.idempotency import IdempotencyKey
from loyalty.points import adjust_points
from tests.e2e.conftest import Product
from tests.utils.members import TEST_SETTINGS, chat_member
from tests.utils.qr import decode_qr
from tests.utils.rewards import give_points, make_reward

ZH = texts_for("zh_CN")
STAFF = "staff:7301"


async def test_the_member_is_told_of_an_adjustment_and_gets_their_card_again(product: Product) -> None:
    user, conv = product.member("Lin", language="zh-hans")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="zh_CN")
    async with product.uow_factory() as uow:
        await adjust_points(
            uow, product.clock, TEST_SETTINGS, member_number=member.member_number, points=120, reason="broken cup",
            actor=STAFF, idempotency=IdempotencyKey(STAFF, "k1", "f"), tell_member=True,
        )
    async with product.uow_factory() as uow:
        await member_care.resend_card(uow, product.clock, member.member_number, actor=STAFF)

    mark = conv.mark()
    assert await product.notifier.drain_once() == 2
    told, card = await conv.collect_since(mark, "the adjustment and the card")
    assert "我们调整了您的积分" in told.text and "+120 积分" in told.text and "broken cup" not in told.text
    assert decode_qr(card) == member.member_number
    assert member.member_number in card.caption and "积分：120" in card.caption.replace("<b>", "").replace("</b>", "")


async def test_a_blocked_member_is_told_in_their_language_and_redeems_nothing(product: Product) -> None:
    user, conv = product.member("Lin", language="zh-hans")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="zh_CN")
    await give_points(product.uow_factory, product.clock, member, 500)
    await make_reward(product.uow_factory, product.clock, price=250, zh_name="拿铁")
    await conv.say("/rewards")
    await conv.press("拿铁 · 250 积分")
    await conv.press(ZH("rewards/buttons/redeem"))
    async with product.uow_factory() as uow:
        await set_blocked(uow, product.clock, member.id, blocked=True, actor=STAFF)

    await conv.press(ZH("rewards/buttons/confirm"))
    answer = conv.last_callback_answer
    assert answer is not None and answer.show_alert
    assert answer.text == "您的会员资格已被暂停，暂时无法兑换积分。请到店内咨询。"
    async with product.uow_factory() as uow:
        assert list(await uow.session.scalars(select(RewardRedemption))) == []
        assert await uow.session.scalar(select(Member.points_balance).where(Member.id == member.id)) == 500
