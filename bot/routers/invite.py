"""/invite: the member's invitation card, a message with a button that opens the bot by their
referral link (so it can be forwarded as it is) and a button that shares the link."""

from __future__ import annotations

from urllib.parse import urlencode

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.filters import ButtonText
from bot.render import Texts
from db.models import Member
from db.uow import UnitOfWork
from loyalty import referrals
from loyalty.config import Settings

SHARE_URL = "https://t.me/share/url"


async def invite(message: Message, member: Member | None, uow: UnitOfWork, texts: Texts, settings: Settings) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    terms = await referrals.current_terms(uow)
    if terms is None or not terms.active:
        await message.answer(texts("referrals/off"))
        return
    code = await referrals.code_for(uow, member)
    assert message.bot is not None
    me = await message.bot.me()  # aiogram asks getMe once and keeps the answer
    link = referrals.invite_link(me.username or "", code)
    pitch = texts("referrals/share_text", program=settings.program_name)
    share = f"{SHARE_URL}?{urlencode({'url': link, 'text': pitch})}"
    await message.answer(
        texts("referrals/card", program=settings.program_name, link=link),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=texts("referrals/buttons/join", program=settings.program_name), url=link)],
                [InlineKeyboardButton(text=texts("referrals/buttons/share"), url=share)],
            ]
        ),
        disable_web_page_preview=True,
    )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="invite")
    router.message.register(invite, Command("invite"))
    router.message.register(invite, ButtonText("buttons/invite"))
    return router
