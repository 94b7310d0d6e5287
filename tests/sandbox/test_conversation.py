"""The conversation helper and waiting: scripted member sessions against a polling bot."""

from __future__ import annotations

import pytest
from aiogram import Bot

from sandbox import SandboxLimits, SandboxServer
from sandbox.middleware import HandlingMiddleware
from tests.sandbox.conftest import polling
from tests.sandbox.demo_bot import CARD_PNG, demo_router


async def test_conversation_collects_bursts_edits_and_keyboards(
    sandbox: SandboxServer, bot: Bot
) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    ann = sandbox.add_user("Ann", phone_number="+8613800000000")
    conv = sandbox.conversation(ann)
    async with polling(bot, demo_router()):
        replies = await conv.say("/start")
        assert [m.text for m in replies] == ["Welcome to Coffee Club!", "Share your phone to join."]
        assert replies[0].button_labels == ["Agree", "Decline"]
        assert conv.reply_keyboard_labels == ["Share my phone number", "My card"]

        # The bot edits the message in place: the edited message is the reply.
        replies = await conv.press("Agree")
        assert [m.text for m in replies] == ["You chose agree"]
        assert replies[0].message_id == conv.messages[0].message_id
        assert [v.text for v in replies[0].edits] == ["Welcome to Coffee Club!"]
        assert conv.last_callback_answer is not None
        assert conv.last_callback_answer.text == "Noted"
        # The edit dropped the inline keyboard, so there is nothing left to press by index.
        with pytest.raises(ValueError, match="no bot message with inline buttons"):
            await conv.press(0)
        with pytest.raises(ValueError, match="no button labelled 'Nope'"):
            await conv.press("Nope")

        assert [m.text for m in await conv.press("My card")] == ["Card #123"]
        # A request_contact button shares the member's own phone.
        replies = await conv.press("Share my phone number")
        assert [m.text for m in replies] == ["Thanks, +8613800000000"]
        assert conv.reply_keyboard is None

        replies = await conv.share_location(31.2304, 121.4737)
        assert replies[0].text == "You are at 31.2304, 121.4737"
        assert replies[1].venue is not None and replies[1].venue["title"] == "Coffee Club"

        assert [m.text for m in await conv.send_sticker()] == ["Nice sticker"]
        [photo] = await conv.say("/photo")
        assert photo.photo_bytes == CARD_PNG and photo.caption == "Your card"


async def test_press_by_index_and_contact_of_someone_else(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    conv = sandbox.conversation(sandbox.add_user("Bob"))
    async with polling(bot, demo_router()):
        await conv.say("/start")
        assert [m.text for m in await conv.press(1)] == ["You chose decline"]
        replies = await conv.share_contact("+8613900000000", user_id=99, first_name="Mum")
        assert replies[0].text == "Thanks, +8613900000000"
        contact = sandbox.history(conv.user)[-2].contact
        assert contact == {"phone_number": "+8613900000000", "first_name": "Mum", "user_id": 99}


async def test_wait_for_messages_uses_a_cursor(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    ann = sandbox.add_user("Ann")
    async with polling(bot, demo_router()):
        await sandbox.send_text(ann, "/start")
        first = await sandbox.wait_for_messages(ann, 2)
        assert [m.text for m in first] == ["Welcome to Coffee Club!", "Share your phone to join."]
        # Already-returned messages do not satisfy the next wait.
        with pytest.raises(TimeoutError, match="received 0: nothing"):
            await sandbox.wait_for_messages(ann, timeout=0.2)
        await sandbox.send_text(ann, "ping")
        [echo] = await sandbox.wait_for_messages(ann)
        assert echo.text == "echo: ping"
        # An explicit cursor re-reads history.
        again = await sandbox.wait_for_messages(ann, 3, after=0)
        assert [m.text for m in again][-1] == "echo: ping"
        await sandbox.wait_idle(quiet=0.05)
        assert sandbox.pending_updates == []


async def test_a_burst_waits_for_a_handler_the_bot_reports_busy(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    conv = sandbox.conversation(sandbox.add_user("Ann"))  # quiet period 0.05 s < the handler's pause
    async with polling(bot, demo_router()):
        # Unreported, the handler's pause looks like the end of the burst.
        assert [m.text for m in await conv.say("/slow")] == ["Looking it up…"]
        await sandbox.wait_for_messages(conv.user)
    async with polling(bot, demo_router()) as dispatcher:
        dispatcher.update.outer_middleware(HandlingMiddleware(sandbox))
        assert [m.text for m in await conv.say("/slow")] == ["Looking it up…", "Found it"]
        assert not sandbox.busy


async def test_no_reply_times_out_with_a_diagnosis(sandbox: SandboxServer) -> None:
    conv = sandbox.conversation(sandbox.add_user("Ann"), timeout=0.2)
    with pytest.raises(TimeoutError, match=r"no reply from the bot.*1 update\(s\) not yet fetched"):
        await conv.say("/start")
    # Without expecting a reply the action just returns what came (nothing).
    assert await conv.say("anyone?", expect_reply=False) == []


async def test_member_cannot_write_while_blocking_the_bot(sandbox: SandboxServer) -> None:
    from sandbox import SandboxError

    ann = sandbox.add_user("Ann")
    await sandbox.block(ann)
    with pytest.raises(SandboxError, match="blocked the bot"):
        await sandbox.send_text(ann, "hi")
    assert await sandbox.block(ann) is None  # already blocked: nothing enqueued
    await sandbox.unblock(ann)
    assert (await sandbox.send_text(ann, "hi")).update is not None
