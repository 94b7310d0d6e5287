"""/settings: which kinds of messages the member wants. One message lists the topics
(loyalty.nudges.kinds.TOPICS), each with a button showing its state; pressing one sets it and
turns the message into its new state in place.

Receipts of what the member did (points earned, a new tier) are not listed: they always come.
The last button opens the member's data (bot/routers/privacy.py): export or delete.
A button carries the topic and the state wanted, never trust: the topic is checked again by
loyalty.nudges.preferences, and anything else (an unknown topic, another payload shape) is
refused as a stale button and writes nothing.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import TopicCallback, on_its_message
from bot.edits import edit_in_place
from bot.privacy_view import open_button
from bot.render import Texts
from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidInput
from loyalty.nudges import preferences
from loyalty.nudges.kinds import TOPICS


def settings_text(texts: Texts, muted: frozenset[str]) -> str:
    topics = [{"topic": topic, "on": topic not in muted} for topic in TOPICS]
    return texts("settings/list", topics=topics)


def settings_keyboard(texts: Texts, muted: frozenset[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic in TOPICS:
        on = topic not in muted
        builder.button(
            text=texts("settings/buttons/toggle", topic=topic, on=on),
            callback_data=TopicCallback(topic=topic, on=not on),
        )
    open_button(texts, builder)  # the member's data: export or delete (bot/routers/privacy.py)
    builder.adjust(1)
    return builder.as_markup()


async def show_settings(
    message: Message, member: Member | None, texts: Texts, uow: UnitOfWork
) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    muted = await preferences.mutes(uow, member)
    await uow.release()
    await message.answer(settings_text(texts, muted), reply_markup=settings_keyboard(texts, muted))


async def set_topic(
    query: CallbackQuery,
    callback_data: TopicCallback,
    member: Member | None,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    if member is None:
        await uow.rollback()
        await query.answer(texts("card/need_signup"), show_alert=True)
        return
    if not on_its_message(query):  # a settings button on another message: it would rewrite that one
        await uow.rollback()
        await query.answer(texts("fallback/stale_button"), show_alert=True)
        return
    try:
        muted = await preferences.set_muted(
            uow, clock, member, callback_data.topic, not callback_data.on
        )
    except InvalidInput:  # a topic no button ever carried: forged
        await query.answer(texts("fallback/stale_button"))
        return
    await query.answer(texts("settings/toggled", topic=callback_data.topic, on=callback_data.on))
    if isinstance(query.message, Message):
        with edit_in_place():  # pressed again: the message already says this
            await query.message.edit_text(
                settings_text(texts, muted), reply_markup=settings_keyboard(texts, muted)
            )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="settings")
    router.message.register(show_settings, Command("settings"))
    router.callback_query.register(set_topic, TopicCallback.filter())
    return router
