"""Well-formed buttons pressed on a message that never carried them (a modified client can send
any payload on any message): each is answered with an alert in the member's language, and
nothing changes: no preference written, no message rewritten, no error raised."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.render import texts_for
from db.models import Member, MemberMute
from tests.e2e.conftest import Product
from tests.utils.members import chat_member
from tests.utils.rewards import make_reward

EN = texts_for("en")
ZH = texts_for("zh_CN")


async def locale_and_mutes(product: Product, member_id: int) -> tuple[str, list[str]]:
    async with product.uow_factory() as uow:
        locale = await uow.session.scalar(select(Member.locale).where(Member.id == member_id))
        mutes = await uow.session.scalars(select(MemberMute.topic).where(MemberMute.member_id == member_id))
        return str(locale), list(mutes)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
async def test_settings_and_language_buttons_on_another_message_get_an_alert(
    product: Product, caplog: pytest.LogCaptureFixture, locale: str
) -> None:
    user, conv = product.member("Alex", language="zh-hans" if locale == "zh_CN" else "en")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale=locale)
    await make_reward(product.uow_factory, product.clock, price=250, name="Latte")
    texts = EN if locale == "en" else ZH
    refusal = (texts("fallback/stale_button"), True)

    for command in ("/card", "/help", "/rewards"):  # a photo, a text without buttons, other buttons
        [shown] = await conv.say(command)
        for data in ("topic:tier:0", "topic:points:1", "lang:en", "lang:zh_CN"):
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                answer = await product.forge(conv, data)
            assert (answer.text, answer.show_alert) == refusal, (command, data)
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING], (command, data, caplog.text)
            after = product.sandbox.message(user.id, shown.message_id)
            assert (after.text, after.caption, after.reply_markup) == (shown.text, shown.caption, shown.reply_markup)
    assert await locale_and_mutes(product, member.id) == (locale, [])

    # The same buttons on their own messages still work.
    [listing] = await conv.say("/settings")
    await conv.press(listing.button_labels[2])  # the third topic: keeping your tier
    assert (await locale_and_mutes(product, member.id))[1] == ["tier"]
    other = "zh_CN" if locale == "en" else "en"
    [choice] = await conv.say("/language")
    await conv.press(texts_for(other)("buttons/language_name"))
    assert (await locale_and_mutes(product, member.id))[0] == other
    assert choice.message_id
