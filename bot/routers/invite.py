"""/invite: the member's invitation card, a message with a button that opens the bot by their
referral link (so it can be forwarded as it is) and a button that shares the link. The same
card comes from the "Invite a friend" button under /points."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import InviteCallback
from bot.filters import ButtonText
from bot.render import Texts
from db.models import Member
from db.uow import UnitOfWork
from loyalty import referrals
from loyalty.config import Settings


async def invite_markup(uow: UnitOfWork, texts: Texts) -> InlineKeyboardMarkup | None:
    """The "Invite a friend" button, while the program is on."""
    terms = await referrals.current_terms(uow)
    if terms is None or not terms.active:
        return None
    button = InlineKeyboardButton(text=texts("buttons/invite"), callback_data=InviteCallback().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def invite(message: Message, member: Member | None, uow: UnitOfWork, texts: Texts, settings: Settings) -> None:
    assert message.bot is not None
    await _send_card(message.bot, message.chat.id, member, uow, texts, settings)


async def invite_pressed(
    query: CallbackQuery, member: Member | None, uow: UnitOfWork, texts: Texts, settings: Settings
) -> None:
    await query.answer()
    if query.message is not None:
        await _send_card(query.bot, query.message.chat.id, member, uow, texts, settings)  # type: ignore[arg-type]


async def _send_card(bot: Bot, chat_id: int, member: Member | None, uow: UnitOfWork, texts: Texts, settings: Settings) -> None:
    if member is None:
        await bot.send_message(chat_id, texts("card/need_signup"))
        return
    terms = await referrals.current_terms(uow)
    if terms is None or not terms.active:
        await bot.send_message(chat_id, texts("referrals/off"))
        return
    code = await referrals.code_for(uow, member)
    await uow.release()  # nothing held while Telegram answers
    me = await bot.me()  # aiogram asks getMe once and keeps the answer
    link = referrals.invite_link(me.username or "", code)
    pitch = texts("referrals/share_text", program=settings.program_name)
    share = referrals.share_link(link, pitch)
    await bot.send_message(
        chat_id,
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
    router.callback_query.register(invite_pressed, InviteCallback.filter())
    return router
