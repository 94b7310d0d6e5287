"""The member card: a QR code of the member number, with tier and points beside it."""

from __future__ import annotations

from aiogram.types import BufferedInputFile, Message, ReplyKeyboardMarkup

from bot.keyboards import main_menu
from bot.qr import qr_png
from bot.render import Texts
from db.models import Member
from loyalty.config import Settings


def card_caption(member: Member, texts: Texts, settings: Settings) -> str:
    return texts(
        "card/caption",
        program=settings.program_name,
        member_number=member.member_number,
        tier=texts("tiers/member"),
        points=member.points_balance,
    )


async def send_card(
    message: Message,
    member: Member,
    texts: Texts,
    settings: Settings,
    *,
    keyboard: ReplyKeyboardMarkup | None = None,
) -> Message:
    return await message.answer_photo(
        BufferedInputFile(qr_png(member.member_number), filename=f"card-{member.member_number}.png"),
        caption=card_caption(member, texts, settings),
        reply_markup=keyboard or main_menu(texts),
    )
