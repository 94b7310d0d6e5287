"""A reward's or a coupon's picture in the chat, through aiogram and the sandbox: sent with the
reward's details and before a coupon's code, from the https address the merchant gave."""

from __future__ import annotations

from bot.render import texts_for
from loyalty import coupons, rewards
from tests.e2e.conftest import Product
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import TEST_SETTINGS, chat_member
from tests.utils.qr import decode_qr
from tests.utils.rewards import give_points, make_reward

EN = texts_for("en")
PICTURE = "https://shop.example.com/img/latte.jpg"


async def test_a_rewards_picture_comes_with_its_details_and_a_coupons_before_its_code(product: Product) -> None:
    user, conv = product.member("Alex")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    await give_points(product.uow_factory, product.clock, member, 500)
    reward = await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    plain = await make_reward(product.uow_factory, product.clock, price=300, name="Mug")
    template = await make_template(product.uow_factory, product.clock, code="LATTE20", value=2000, name="Latte deal")
    async with product.uow_factory() as uow:
        await rewards.update_reward(uow, product.clock, reward.code, {"image_url": PICTURE}, program_currency=TEST_SETTINGS.currency, actor="test")
    async with product.uow_factory() as uow:
        await coupons.update_template(uow, product.clock, template.code, {"image_url": PICTURE}, actor="test")
    coupon = await give_coupon(product.uow_factory, product.clock, member, template)

    await conv.say("/rewards")
    detail, picture = await conv.press("Latte · 250 pts")
    assert "Latte" in detail.text and detail.button_labels[0] == EN("rewards/buttons/redeem")
    assert picture.method == "sendPhoto" and picture.photo is not None and picture.photo.url == PICTURE
    back = await conv.press(EN("rewards/buttons/back"))
    [only_details] = await conv.press(f"Mug · {plain.points_price} pts")
    assert only_details.photo is None, "no picture, no photo"

    await conv.say("/coupons")
    picture, code = await conv.press("🎟 Latte deal")
    assert picture.photo is not None and picture.photo.url == PICTURE
    assert decode_qr(code) == coupon.code and coupon.code in (code.caption or "")
    assert len(back) == 1, "back to the list, in place"
