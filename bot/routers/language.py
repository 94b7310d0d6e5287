from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import LanguageCallback, on_its_message
from bot.edits import keep_answer, pressed_label
from bot.filters import ButtonText
from bot.middlewares import GUEST_LOCALE_KEY
from bot.render import Texts, texts_for
from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES
from loyalty.members import set_locale


async def choose_language(message: Message, texts: Texts) -> None:
    await message.answer(texts("language/choose"), reply_markup=keyboards.languages())


async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCallback,
    member: Member | None,
    state: FSMContext,
    uow: UnitOfWork,
    clock: Clock,
    texts: Texts,
) -> None:
    if not on_its_message(query):  # a language button on another message: it would strip its keyboard
        await query.answer(texts("fallback/stale_button"), show_alert=True)
        return
    if member is not None:
        await set_locale(uow, clock, member, callback_data.locale)
    else:
        await state.update_data({GUEST_LOCALE_KEY: callback_data.locale})
    texts = texts_for(callback_data.locale)
    await query.answer()
    if isinstance(query.message, Message):
        # The question stays with the language chosen under it; pressed twice, it already reads so.
        label = pressed_label(query)
        await keep_answer(query, texts("answered", answer=label) if label is not None else None)
        # The menu's labels are in the old language: resend it along with the confirmation.
        await query.message.answer(
            texts("language/changed"),
            reply_markup=keyboards.main_menu(texts) if member is not None else None,
        )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="language")
    router.message.register(choose_language, Command("language"))
    router.message.register(choose_language, ButtonText("buttons/language"))
    router.callback_query.register(language_chosen, LanguageCallback.filter(F.locale.in_(SUPPORTED_LOCALES)))
    return router
