"""Outer middlewares: each update gets one unit of work, its member and its locale."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, Update, User

from bot.render import region_of, texts_for
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.members import member_for_chat, note_first_name, set_chat_reachable
from loyalty.profile import locale_for_language_code

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = logging.getLogger(__name__)

GUEST_LOCALE_KEY = "locale"  # a guest's language choice lives in FSM data, not the database


class UnitOfWorkMiddleware(BaseMiddleware):
    """Opens the update's transaction; rules commit it, anything else is rolled back."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._uow_factory() as uow:
            data["uow"] = uow
            return await handler(event, data)


class MemberContextMiddleware(BaseMiddleware):
    """Finds the member behind the update and picks the language to answer in.

    Locale: the member's saved choice, else a guest's choice kept in FSM data, else the
    Telegram client's language."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        member = None
        locale = "en"
        region = None
        if user is not None:
            uow = data["uow"]
            member = await member_for_chat(uow, user.id)
            if member is not None:
                locale = member.locale
                region = region_of(member.city)
                if member.chat_blocked_at is not None and _is_member_message(event):
                    # Writing to the bot is the surest sign the chat works again.
                    member = await set_chat_reachable(uow, self._clock, user.id, reachable=True)
                if member is not None and _is_member_message(event):
                    # The name a broadcast greets them by follows the one they write under; one
                    # decryption to compare, a write only when it changed.
                    await note_first_name(uow, self._clock, member, user.first_name)
            else:
                state: FSMContext | None = data.get("state")
                saved = (await state.get_data()).get(GUEST_LOCALE_KEY) if state else None
                locale = saved or locale_for_language_code(user.language_code)
        if user is not None:
            await data["uow"].release()
        data["member"] = member
        data["texts"] = texts_for(locale, region)
        return await handler(event, data)


def _is_member_message(event: TelegramObject) -> bool:
    return isinstance(event, Update) and (event.message is not None or event.callback_query is not None)
