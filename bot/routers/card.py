from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.card import send_card
from bot.filters import ButtonText
from bot.render import Texts
from db.models import Member
from db.uow import UnitOfWork
from loyalty.config import Settings


async def show_card(
    message: Message, member: Member | None, uow: UnitOfWork, texts: Texts, settings: Settings
) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    await send_card(message, member, uow, texts, settings)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="card")
    router.message.register(show_card, Command("card"))
    router.message.register(show_card, ButtonText("buttons/my_card"))
    return router
