"""Rewards in the chat, through aiogram and the sandbox: browse, look, confirm, get the QR; every
refusal explained, forged buttons refused, and a double tap redeeming once."""

from __future__ import annotations

from sqlalchemy import func, select

from bot import rewards_view as view
from bot.render import texts_for
from db.models import Member, Reward, RewardRedemption
from loyalty.ledger import check_consistency
from sandbox import Conversation, SandboxUser
from tests.e2e.conftest import Product
from tests.utils.members import chat_member
from tests.utils.qr import decode_qr
from tests.utils.rewards import give_points, make_reward, set_tier

EN = texts_for("en")
ZH = texts_for("zh_CN")


async def member_in_chat(
    product: Product, points: int, *, name: str = "Alex", language: str = "en"
) -> tuple[SandboxUser, Conversation, Member]:
    user, conv = product.member(name, language=language)
    locale = "zh_CN" if language.startswith("zh") else "en"
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale=locale)
    if points:
        await give_points(product.uow_factory, product.clock, member, points)
    return user, conv, member


async def redemptions(product: Product) -> list[RewardRedemption]:
    async with product.uow_factory() as uow:
        return list(await uow.session.scalars(select(RewardRedemption).order_by(RewardRedemption.id)))


async def balance_of(product: Product, member: Member) -> int:
    async with product.uow_factory() as uow:
        await check_consistency(uow, member.id)
        return int(await uow.session.scalar(select(Member.points_balance).where(Member.id == member.id)) or 0)


async def test_browse_pages_of_five_with_the_balance_in_the_header(product: Product) -> None:
    _, conv, _ = await member_in_chat(product, 1460)
    for price in (700, 100, 300, 200, 600, 500, 400):
        await make_reward(product.uow_factory, product.clock, price=price, name=f"Gift {price}")

    [first] = await conv.say(EN("buttons/rewards"))  # the main menu button sends its label
    assert "You have 1,460 points to spend" in first.text and "Page 1 of 2" in first.text
    assert first.button_labels == [
        *(f"Gift {price} · {price} pts" for price in (100, 200, 300, 400, 500)),
        EN("rewards/buttons/next"),
        EN("rewards/buttons/my_codes"),
    ]
    [second] = await conv.press(EN("rewards/buttons/next"))
    assert second.message_id == first.message_id, "pages turn in place"
    assert "Page 2 of 2" in second.text
    assert second.button_labels == [
        "Gift 600 · 600 pts", "Gift 700 · 700 pts", EN("rewards/buttons/prev"), EN("rewards/buttons/my_codes"),
    ]
    [back] = await conv.press(EN("rewards/buttons/prev"))
    assert back.button_labels[0] == "Gift 100 · 100 pts"
    assert (await conv.say("/rewards"))[0].button_labels == first.button_labels


async def test_redeem_with_confirmation_then_show_the_qr(product: Product) -> None:
    _, conv, member = await member_in_chat(product, 1460)
    await make_reward(
        product.uow_factory, product.clock, price=250, name="Latte", description="Any size & any milk.", stock=5
    )

    await conv.say("/rewards")
    [detail] = await conv.press("Latte · 250 pts")
    assert "Any size & any milk." in detail.text and "¥32.00" in detail.text
    assert "Costs 250 points" in detail.text and "You can redeem this" in detail.text
    assert detail.button_labels == [EN("rewards/buttons/redeem"), EN("rewards/buttons/back")]

    [confirm] = await conv.press(EN("rewards/buttons/redeem"))
    assert confirm.text == "Redeem Latte for 250 points? You'll have 1,210 left."
    assert await redemptions(product) == [], "asking writes nothing"
    assert all(len(button["callback_data"].encode()) <= 64 for button in confirm.buttons)

    replies = await conv.press(EN("rewards/buttons/confirm"))
    edited, photo = replies
    assert edited.message_id == confirm.message_id and "Latte" in edited.text and edited.buttons == []
    [redemption] = await redemptions(product)
    assert decode_qr(photo) == redemption.code
    assert redemption.code in photo.caption and "1,210 points left" in photo.caption
    assert redemption.member_id == member.id and redemption.status == "issued"
    assert await balance_of(product, member) == 1210

    await conv.say("/rewards")
    [codes] = await conv.press(EN("rewards/buttons/my_codes"))
    assert codes.button_labels == [f"Latte · {redemption.code}", EN("rewards/buttons/back")]
    [again] = await conv.press(f"Latte · {redemption.code}")
    assert decode_qr(again) == redemption.code


async def test_not_enough_points_is_explained_and_not_offered(product: Product) -> None:
    _, conv, member = await member_in_chat(product, 210)
    reward = await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    await conv.say("/rewards")
    [detail] = await conv.press("Latte · 250 pts")
    assert "You need 40 more points" in detail.text
    assert detail.button_labels == [EN("rewards/buttons/back")]
    # A Redeem or Yes button for it anyway (made up, or kept from when they had the points):
    asked = await product.forge(conv, f"rwa:{reward.id}:1")
    assert asked.show_alert and asked.text == "You need 40 more points for this reward."
    confirmed = await product.forge(conv, f"rwc:{reward.id}:250:AAAAAAAAAAAA")
    assert confirmed.text == "You need 40 more points for this reward."
    assert await redemptions(product) == [] and await balance_of(product, member) == 210


async def test_sold_out_and_tier_too_low_are_explained(product: Product) -> None:
    _, conv, member = await member_in_chat(product, 5000, name="小明", language="zh-hans")
    await make_reward(product.uow_factory, product.clock, price=100, zh_name="马克杯", stock=0)
    await make_reward(product.uow_factory, product.clock, price=200, zh_name="金卡礼盒", min_tier="gold")
    [page] = await conv.say("/rewards")
    assert "您有 5,000 积分可用" in page.text
    [sold_out] = await conv.press("马克杯 · 100 积分")
    assert "已兑完" in sold_out.text and sold_out.button_labels == [ZH("rewards/buttons/back")]
    await conv.press(ZH("rewards/buttons/back"))
    [gold] = await conv.press("金卡礼盒 · 200 积分")
    assert "仅限金卡及以上等级会员兑换" in gold.text and ZH("rewards/buttons/redeem") not in gold.button_labels

    await set_tier(product.uow_factory, member, "gold")
    await conv.press(ZH("rewards/buttons/back"))
    [gold] = await conv.press("金卡礼盒 · 200 积分")
    assert ZH("rewards/buttons/redeem") in gold.button_labels


async def test_forged_and_stale_buttons_write_nothing(product: Product) -> None:
    _, conv, member = await member_in_chat(product, 1000)
    reward = await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    hidden = await make_reward(product.uow_factory, product.clock, price=100, active=False)
    await conv.say("/rewards")

    gone = EN("rewards/refused", reason="inactive", short=0, tier=None)
    assert (await product.forge(conv, "rwd:999999:1")).text == gone
    assert (await product.forge(conv, f"rwd:{hidden.id}:1")).text == gone
    assert (await product.forge(conv, f"rwc:{hidden.id}:100:AAAAAAAAAAAA")).text == gone
    assert (await product.forge(conv, "rwc:999999:100:AAAAAAAAAAAA")).text == gone
    assert (await product.forge(conv, "rwp:7")).text == EN("rewards/refused", reason="page", short=0, tier=None)
    changed = await product.forge(conv, f"rwc:{reward.id}:1:AAAAAAAAAAAA")  # a price never shown
    assert changed.text == EN("rewards/refused", reason="price_changed", short=0, tier=None)
    for unpackable in ("rwd:99999999999:1", "rwp:0", "rwc:1:250:short", "rwd:abc:1", "rws:-1"):
        assert (await product.forge(conv, unpackable)).text == EN("fallback/stale_button")
    assert await redemptions(product) == [] and await balance_of(product, member) == 1000


async def test_someone_elses_code_is_never_shown(product: Product) -> None:
    _, alice, _ = await member_in_chat(product, 1000, name="Alice")
    _, bob, _ = await member_in_chat(product, 1000, name="Bob")
    await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    await alice.say("/rewards")
    await alice.press("Latte · 250 pts")
    await alice.press(EN("rewards/buttons/redeem"))
    await alice.press(EN("rewards/buttons/confirm"))
    [alices] = await redemptions(product)

    await bob.say("/rewards")
    refused = await product.forge(bob, f"rws:{alices.id}")
    assert refused.text == EN("rewards/refused", reason="stale", short=0, tier=None)
    assert not any(alices.code in (m.text or m.caption or "") for m in bob.messages)
    [codes] = await bob.press(EN("rewards/buttons/my_codes"))
    assert codes.button_labels == [EN("rewards/buttons/back")] and "no codes" in codes.text


async def test_a_double_tap_on_confirm_redeems_once(product: Product) -> None:
    user, conv, member = await member_in_chat(product, 1000)
    await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    await conv.say("/rewards")
    await conv.press("Latte · 250 pts")
    [confirm] = await conv.press(EN("rewards/buttons/redeem"))
    data = confirm.button(EN("rewards/buttons/confirm"))["callback_data"]

    mark = conv.mark()
    first = await product.sandbox.press_button(user, confirm.message_id, data)
    second = await product.sandbox.press_button(user, confirm.message_id, data)
    await product.sandbox.wait_for_callback_answer(first)
    repeat = await product.sandbox.wait_for_callback_answer(second)
    replies = await conv.collect_since(mark, "double tap")

    [redemption] = await redemptions(product)
    assert [decode_qr(m) for m in replies if m.photo] == [redemption.code], "one code, sent once"
    assert repeat.show_alert and redemption.code in (repeat.text or "")
    assert await balance_of(product, member) == 750

    # A fresh confirmation (a new nonce) is a new redemption, deliberately.
    await conv.say("/rewards")
    await conv.press("Latte · 250 pts")
    await conv.press(EN("rewards/buttons/redeem"))
    await conv.press(EN("rewards/buttons/confirm"))
    assert len(await redemptions(product)) == 2 and await balance_of(product, member) == 500


async def test_the_last_unit_in_the_chat(product: Product) -> None:
    _, alice, _ = await member_in_chat(product, 1000, name="Alice")
    _, bob, _ = await member_in_chat(product, 1000, name="Bob")
    await make_reward(product.uow_factory, product.clock, price=250, name="Mug", stock=1)
    for conv in (alice, bob):
        await conv.say("/rewards")
        await conv.press("Mug · 250 pts")
        await conv.press(EN("rewards/buttons/redeem"))
    await alice.press(EN("rewards/buttons/confirm"))
    await bob.press(EN("rewards/buttons/confirm"))
    assert bob.last_callback_answer is not None
    assert bob.last_callback_answer.text == "Sorry, this reward is sold out."
    assert len(await redemptions(product)) == 1
    async with product.uow_factory() as uow:
        assert await uow.session.scalar(select(Reward.stock)) == 0


async def test_guests_are_asked_to_sign_up(product: Product) -> None:
    _, conv = product.member("Guest")
    [reply] = await conv.say("/rewards")
    assert reply.text == EN("card/need_signup")
    # Every kind of rewards button, pressed by someone who is not a member.
    for data in ("rwp:1", "rwd:1:1", "rwa:1:1", view.RewardConfirm(reward_id=1, price=250, nonce="a" * 12).pack(), "rwm:1", "rws:1"):
        answer = await product.forge(conv, data)
        assert answer.text == EN("card/need_signup"), data
    async with product.uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 0


async def test_cancel_withdraws_a_pending_redemption_and_only_that(product: Product) -> None:
    _, conv, member = await member_in_chat(product, 1460)
    await make_reward(product.uow_factory, product.clock, price=250, name="Latte", stock=5)
    await conv.say("/rewards")
    await conv.press("Latte · 250 pts")
    [confirm] = await conv.press(EN("rewards/buttons/redeem"))
    yes = confirm.button(EN("rewards/buttons/confirm"))["callback_data"]

    [cancelled] = await conv.say("/cancel")
    assert cancelled.text == EN("rewards/cancelled")
    answer = await product.forge(conv, yes)  # the old "Yes, redeem", pressed after all
    assert answer.text == view.refusal(EN, "stale") and answer.show_alert
    assert await redemptions(product) == [] and await balance_of(product, member) == 1460
    assert (await conv.say("/cancel"))[-1].text == EN("fallback/nothing_to_cancel")

    # A confirmation that went through leaves nothing to cancel, and a second tap is still the same code.
    await conv.say("/rewards")
    await conv.press("Latte · 250 pts")
    await conv.press(EN("rewards/buttons/redeem"))
    await conv.press(EN("rewards/buttons/confirm"))
    assert len(await redemptions(product)) == 1 and await balance_of(product, member) == 1210
    assert (await conv.say("/cancel"))[-1].text == EN("fallback/nothing_to_cancel")
