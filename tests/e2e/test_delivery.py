"""Flood control and ordering: what a member reads arrives in the order the bot meant it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.app import build_bot
from db.models import Member
from sandbox import SandboxLimits, SandboxServer
from tests.e2e.conftest import Product
from tests.utils.members import next_phone


async def test_replies_held_back_by_flood_control_keep_their_order() -> None:
    # Telegram's per-chat limit with no burst allowance, sped up 5x so the test stays short.
    limits = SandboxLimits(per_chat_rate=5.0, per_chat_burst=1)
    async with SandboxServer(limits=limits) as sandbox:
        user = sandbox.add_user("Alex")
        bot = build_bot(sandbox.token, sandbox.base_url)
        try:
            texts = [f"message {n}" for n in range(4)]
            await asyncio.gather(*(bot.send_message(user.id, text) for text in texts))
        finally:
            await bot.session.close()
        received = [message.text for message in sandbox.messages(user.id)]
        assert received == texts
        assert sandbox.stats.rate_limited >= 1, "the limit was never hit, so nothing was tested"


@pytest.fixture
def sandbox_limits() -> SandboxLimits:
    return SandboxLimits(per_chat_burst=30)


async def test_quick_messages_from_one_member_are_handled_in_order(product: Product) -> None:
    user, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    # Birthday and city typed back to back, before the bot has answered the first.
    await product.sandbox.send_text(user, "1990-05-17")
    await product.sandbox.send_text(user, "Hangzhou")
    await product.sandbox.wait_for_messages(user.id, count=3, after=conv.messages[-1].message_id)
    async with product.uow_factory() as uow:
        member = (await uow.session.scalars(select(Member))).one()
        assert str(uow.members.birthday_of(member)) == "1990-05-17"
    assert member.city == "Hangzhou"
