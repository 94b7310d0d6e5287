"""Last in line: whatever no feature understood gets a short, helpful answer and writes nothing."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.render import Texts
from db.models import Member


async def unknown_message(message: Message, member: Member | None, texts: Texts) -> None:
    if member is None:
        await message.answer(texts("fallback/guest"))
    else:
        await message.answer(texts("fallback/member"), reply_markup=keyboards.main_menu(texts))


async def stale_button(query: CallbackQuery, texts: Texts) -> None:
    # Old buttons and forged payloads land here alike: neither may act on anything.
    await query.answer(texts("fallback/stale_button"), show_alert=False)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="fallback")
    router.message.register(unknown_message)
    router.callback_query.register(stale_button)
    return router
