from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.card import send_card
from bot.render import Texts, all_labels
from db.models import Member
from loyalty.config import Settings

router = Router(name="card")


@router.message(Command("card"))
@router.message(F.text.in_(all_labels("buttons/my_card")))
async def show_card(message: Message, member: Member | None, texts: Texts, settings: Settings) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    await send_card(message, member, texts, settings)
