"""/privacy (also the last button of /settings): the member's own data, theirs to take or erase.

- Export: everything stored about them (loyalty.data_export) as a text file in their language
  and the same as JSON, sent as two documents. A member's own read is not audited: the audit
  trail holds staff and API actions.
- Delete my membership, asked twice: "Delete your membership?", then what is lost (points,
  coupons, reward codes, the tier) with the button that erases (loyalty.erasure). Withdrawing
  consent is the same thing, and the menu says so. The last button carries a nonce the chat's FSM
  data holds too (bot/privacy_view.py): a forged, stale or old confirmation erases nothing.
  Afterwards the chat is a guest's: its FSM data is cleared, the member keyboard removed, a staff
  menu taken back, and `/start` begins a new sign-up.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, or_f
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot import privacy_view as view
from bot.edits import edit_in_place, show_in_place
from bot.render import Texts
from bot.routers.staff.menu import take_staff_menu
from db.models import Member
from db.uow import UnitOfWork
from loyalty import data_export, erasure, staff
from loyalty.clock import Clock
from loyalty.config import Settings

log = logging.getLogger(__name__)

MEMBER_ACTOR = "chat"  # how the ledger records what a member does in the chat


async def show_menu(message: Message, member: Member | None, texts: Texts, settings: Settings) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    await message.answer(
        texts("privacy/menu", version=settings.privacy_version, url=settings.privacy_url),
        reply_markup=view.menu_keyboard(texts),
        disable_web_page_preview=True,
    )


async def open_menu(query: CallbackQuery, texts: Texts, settings: Settings, bot: Bot) -> None:
    await query.answer()
    await bot.send_message(
        query.from_user.id,
        texts("privacy/menu", version=settings.privacy_version, url=settings.privacy_url),
        reply_markup=view.menu_keyboard(texts),
        disable_web_page_preview=True,
    )


async def export_data(
    query: CallbackQuery, member: Member, texts: Texts, uow: UnitOfWork, clock: Clock, settings: Settings, bot: Bot
) -> None:
    export = await data_export.export_member(uow, settings, member, now=clock.now())
    await uow.release()
    await query.answer()
    readable, machine = view.export_files(texts, export)
    chat = query.from_user.id
    await bot.send_document(chat, readable, caption=texts("privacy/export_caption", today=export.exported_at.date()))
    await bot.send_document(chat, machine, caption=texts("privacy/export_json_caption"))


async def ask_erase(query: CallbackQuery, texts: Texts, uow: UnitOfWork) -> None:
    await uow.release()
    await query.answer()
    await show_in_place(query, texts("privacy/erase_ask"), view.ask_keyboard(texts))


async def ask_erase_sure(
    query: CallbackQuery,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    now = clock.now()
    losses = await erasure.losses(uow, settings, member, now=now)
    await uow.release()
    confirm, kept = view.new_confirmation(member.member_number, now)
    await state.update_data({view.CONFIRMATION_KEY: kept})
    await query.answer()
    await show_in_place(query, view.final_text(texts, losses), view.final_keyboard(texts, confirm))


async def keep(query: CallbackQuery, texts: Texts, uow: UnitOfWork, state: FSMContext) -> None:
    await uow.release()
    await view.withdraw_confirmation(state)  # an older "delete" button stops working
    await query.answer()
    await show_in_place(query, texts("privacy/kept"), None)


async def confirm_erase(
    query: CallbackQuery,
    callback_data: view.EraseConfirm,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    state: FSMContext,
    bot: Bot,
) -> None:
    kept = (await state.get_data()).get(view.CONFIRMATION_KEY)
    if not view.confirmation_holds(callback_data, kept, member.member_number, clock.now()):
        await uow.rollback()
        await query.answer(texts("privacy/confirm_expired"), show_alert=True)
        return
    telegram_id = query.from_user.id
    was_staff = await staff.role_of(uow, telegram_id) is not None
    await erasure.erase_member(uow, clock, member.id, actor=MEMBER_ACTOR, audited=False)
    await state.clear()  # the chat's conversation state goes too: from now on, a guest's
    await query.answer()
    if isinstance(query.message, Message):
        with edit_in_place():
            await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(telegram_id, texts("privacy/erased"), reply_markup=ReplyKeyboardRemove())
    if was_staff:
        # Access went with the staff row; the menu entries are only a convenience.
        with contextlib.suppress(TelegramAPIError):
            await take_staff_menu(bot, telegram_id)


def _pressed_by_guest(_: CallbackQuery, member: Member | None) -> bool:
    return member is None


async def need_signup(query: CallbackQuery, texts: Texts, uow: UnitOfWork) -> None:
    await uow.rollback()
    await query.answer(texts("card/need_signup"), show_alert=True)


def _action(action: view.PrivacyAction) -> CallbackQueryFilter:
    return view.PrivacyCallback.filter(F.action == action)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="privacy")
    router.message.register(show_menu, Command("privacy"))
    # First: a privacy button pressed by someone who is not (or no longer) a member.
    router.callback_query.register(
        need_signup, _pressed_by_guest, or_f(view.PrivacyCallback.filter(), view.EraseConfirm.filter())
    )
    router.callback_query.register(open_menu, _action(view.PrivacyAction.menu))
    router.callback_query.register(export_data, _action(view.PrivacyAction.export))
    router.callback_query.register(ask_erase, _action(view.PrivacyAction.erase))
    router.callback_query.register(ask_erase_sure, _action(view.PrivacyAction.erase_sure))
    router.callback_query.register(keep, _action(view.PrivacyAction.keep))
    router.callback_query.register(confirm_erase, view.EraseConfirm.filter())
    return router
