"""Member actions reach aiogram handlers through getUpdates long polling, with Telegram's types."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramConflictError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, Update

from sandbox import SandboxServer
from tests.sandbox.conftest import make_bot, polling


def texts(updates: list[Update]) -> list[str | None]:
    return [u.message.text if u.message else None for u in updates]


async def next_event(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), 5)


async def test_member_actions_reach_handlers_with_telegram_types(
    sandbox: SandboxServer, bot: Bot
) -> None:
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    router = Router()

    @router.message(CommandStart())
    async def on_start(message: Message, command: CommandObject) -> None:
        await received.put(("start", (message, command.args)))

    @router.message(Command("card"))
    async def on_card(message: Message) -> None:
        await received.put(("card", message))

    @router.message(F.contact)
    async def on_contact(message: Message) -> None:
        await received.put(("contact", message))

    @router.message(F.location)
    async def on_location(message: Message) -> None:
        await received.put(("location", message))

    @router.edited_message(F.location)
    async def on_live(message: Message) -> None:
        await received.put(("live", message))

    @router.message(F.sticker)
    async def on_sticker(message: Message) -> None:
        await received.put(("sticker", message))

    @router.message(F.text)
    async def on_text(message: Message) -> None:
        await received.put(("text", message))

    user = sandbox.add_user("Ann", last_name="Lee", username="ann_lee", language_code="zh-hans")
    async with polling(bot, router):
        await sandbox.send_text(user, "/start ref-42")
        kind, (message, args) = await next_event(received)
        assert kind == "start" and args == "ref-42"
        assert message.from_user.id == user.id and message.from_user.is_bot is False
        assert message.from_user.language_code == "zh-hans"
        assert message.chat.id == user.id and message.chat.type == "private"
        assert message.chat.username == "ann_lee"
        assert message.entities[0].type == "bot_command"
        assert (message.entities[0].offset, message.entities[0].length) == (0, 6)
        assert abs(message.date.timestamp() - sandbox.state.now()) < 5

        await sandbox.send_text(user, "/card@loyalty_sandbox_bot")
        kind, message = await next_event(received)
        assert kind == "card"

        await sandbox.send_text(user, "hello there")
        kind, message = await next_event(received)
        assert kind == "text" and message.text == "hello there" and message.entities is None

        await sandbox.send_contact(user, "+8613800000000")
        kind, message = await next_event(received)
        assert kind == "contact"
        assert message.contact.phone_number == "+8613800000000"
        assert message.contact.user_id == user.id and message.contact.first_name == "Ann"

        await sandbox.send_contact(user, "+8613900000000", contact_user_id=777, first_name="Bo")
        kind, message = await next_event(received)
        assert (message.contact.user_id, message.contact.first_name) == (777, "Bo")

        live = await sandbox.send_location(user, 31.2304, 121.4737, live_period=900)
        kind, message = await next_event(received)
        assert kind == "location" and message.location.live_period == 900
        assert message.message_id == live.message_id

        await sandbox.update_live_location(user, live.message_id, 31.25, 121.5)
        kind, message = await next_event(received)
        assert kind == "live" and message.message_id == live.message_id
        assert message.location.latitude == pytest.approx(31.25)
        assert message.edit_date is not None

        await sandbox.send_sticker(user)
        kind, message = await next_event(received)
        assert kind == "sticker"
        assert message.sticker.type == "regular" and message.sticker.is_animated is False


async def test_callback_queries_carry_the_message_and_any_data(
    sandbox: SandboxServer, bot: Bot
) -> None:
    received: asyncio.Queue[CallbackQuery] = asyncio.Queue()
    router = Router()

    @router.callback_query()
    async def on_press(query: CallbackQuery) -> None:
        await query.answer(f"got {query.data}")
        await received.put(query)

    user = sandbox.add_user("Ann")
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    sent = await bot.send_message(
        user.id,
        "Choose",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="pick:a")]]
        ),
    )
    async with polling(bot, router):
        query_id = await sandbox.press_button(user, sent.message_id, "pick:a")
        query = await next_event(received)
        assert query.id == query_id and query.data == "pick:a"
        assert query.from_user.id == user.id and query.chat_instance
        assert query.message.message_id == sent.message_id and query.message.text == "Choose"
        assert query.message.reply_markup.inline_keyboard[0][0].text == "A"

        # A forged payload (not on any keyboard) is delivered byte for byte.
        forged = "pick:../../admin;drop table members"
        await sandbox.press_button(user, sent.message_id, forged)
        query = await next_event(received)
        assert query.data == forged

        answer = await sandbox.wait_for_callback_answer(query.id)
        assert answer.text == f"got {forged}"


async def test_blocking_sends_my_chat_member(sandbox: SandboxServer, bot: Bot) -> None:
    received: asyncio.Queue[ChatMemberUpdated] = asyncio.Queue()
    router = Router()

    @router.my_chat_member()
    async def on_member(update: ChatMemberUpdated) -> None:
        await received.put(update)

    user = sandbox.add_user("Ann")
    async with polling(bot, router):
        await sandbox.block(user)
        update = await next_event(received)
        assert update.new_chat_member.status == "kicked"
        assert update.old_chat_member.status == "member"
        assert update.new_chat_member.user.id == sandbox.bot.id
        assert update.from_user.id == user.id
        await sandbox.unblock(user)
        update = await next_event(received)
        assert update.new_chat_member.status == "member"


async def test_get_updates_offset_confirms_and_drops(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    for text in ("one", "two", "three"):
        await sandbox.send_text(user, text)
    first = await bot.get_updates()
    assert texts(first) == ["one", "two", "three"]
    ids = [u.update_id for u in first]
    assert ids == list(range(ids[0], ids[0] + 3))

    # Unconfirmed updates are delivered again.
    assert [u.update_id for u in await bot.get_updates()] == ids
    # offset = id + 1 confirms everything up to id; confirmed updates never come back.
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u.update_id for u in await bot.get_updates()] == ids[1:]
    assert [u.update_id for u in await bot.get_updates(limit=1)] == ids[1:2]
    await sandbox.send_text(user, "four")
    # A negative offset keeps only the last -offset updates and forgets the rest.
    last = await bot.get_updates(offset=-1)
    assert texts(last) == ["four"]
    assert texts(await bot.get_updates()) == ["four"]
    assert await bot.get_updates(offset=last[0].update_id + 1) == []
    assert sandbox.pending_updates == []


async def test_allowed_updates_filters_new_updates(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    await bot.get_updates(allowed_updates=["message"])
    sent = await bot.send_message(user.id, "x")
    assert await sandbox.press_button(user, sent.message_id, "ignored")
    await sandbox.send_text(user, "kept")
    updates = await bot.get_updates()
    assert [u.event_type for u in updates] == ["message"]
    await bot.get_updates(allowed_updates=[])  # back to Telegram's default set
    await sandbox.press_button(user, sent.message_id, "delivered")
    assert (await bot.get_updates(offset=updates[-1].update_id + 1))[0].callback_query


async def test_long_poll_wakes_on_a_new_update(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await sandbox.wait_for_poll(timeout=2)
    assert not poll.done()
    await sandbox.send_text(user, "wake up")
    updates = await asyncio.wait_for(poll, 2)  # far less than the 20 s poll timeout
    assert texts(updates) == ["wake up"]


async def test_a_second_poller_terminates_the_first(sandbox: SandboxServer, bot: Bot) -> None:
    other = make_bot(sandbox)
    try:
        first = asyncio.create_task(bot.get_updates(timeout=20))
        await sandbox.wait_for_poll(timeout=2)
        second = asyncio.create_task(other.get_updates(timeout=20))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await asyncio.wait_for(first, 2)
        await sandbox.send_text(sandbox.add_user("Ann"), "hi")
        assert len(await asyncio.wait_for(second, 2)) == 1
    finally:
        await other.session.close()


async def test_stopping_the_sandbox_releases_long_polls(fake_clock: Any) -> None:
    sandbox = SandboxServer(clock=fake_clock)
    await sandbox.start()
    bot = make_bot(sandbox)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await sandbox.wait_for_poll(timeout=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await sandbox.stop()
        # Half the poll's 30 s: stopping did not wait it out, however busy the machine is.
        assert loop.time() - started < 15
        assert await asyncio.wait_for(poll, 15) == []
    finally:
        await bot.session.close()
