"""The member card: a QR code of the member number, with tier and points beside it."""

from __future__ import annotations

from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, ReplyKeyboardMarkup

from bot.keyboards import main_menu, open_app
from bot.qr import qr_png
from bot.render import Texts
from db.models import Member, Tier
from db.uow import UnitOfWork
from loyalty.config import Settings
from loyalty.i18n import localized


def card_caption(member: Member, tier: Tier, texts: Texts, settings: Settings) -> str:
    return texts(
        "card/caption",
        program=settings.program_name,
        member_number=member.member_number,
        tier=localized(tier.names, texts.locale),
        points=member.points_balance,
    )


async def send_card(
    message: Message,
    member: Member,
    uow: UnitOfWork,
    texts: Texts,
    settings: Settings,
    *,
    keyboard: ReplyKeyboardMarkup | None = None,
) -> Message:
    tier = await uow.program.tier(member.tier_id)
    assert tier is not None  # tier_id is a foreign key
    await uow.release()
    markup: ReplyKeyboardMarkup | InlineKeyboardMarkup = keyboard or main_menu(texts)
    if keyboard is None and settings.webapp_url:
        # The menu keyboard stays from earlier messages (it is persistent); the card's own
        # button opens the Mini App, whose card rotates its QR.
        markup = open_app(texts, settings.webapp_url)
    return await message.answer_photo(
        BufferedInputFile(qr_png(member.member_number), filename=f"card-{member.member_number}.png"),
        caption=card_caption(member, tier, texts, settings),
        reply_markup=markup,
    )
