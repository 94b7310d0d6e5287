from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot import keyboards, privacy_view, rewards_view
from bot.filters import ButtonText
from bot.render import Texts
from db.models import Member
from loyalty.config import Settings


async def show_help(message: Message, member: Member | None, texts: Texts, settings: Settings) -> None:
    await message.answer(
        texts("help", program=settings.program_name, is_member=member is not None),
        reply_markup=keyboards.main_menu(texts) if member is not None else None,
    )


async def cancel(message: Message, state: FSMContext, member: Member | None, texts: Texts) -> None:
    if await state.get_state() is None:
        # A confirmation waiting outside any flow: "delete my membership" asked, not yet pressed.
        if await privacy_view.withdraw_confirmation(state):
            await message.answer(texts("privacy/kept"))
        elif await rewards_view.withdraw_confirmation(state):
            await message.answer(texts("rewards/cancelled"))
        else:
            await message.answer(texts("fallback/nothing_to_cancel"))
        return
    await state.clear()
    if member is None:
        await message.answer(texts("signup/cancelled"), reply_markup=ReplyKeyboardRemove())
    else:
        await message.answer(texts("signup/profile_later"), reply_markup=keyboards.main_menu(texts))


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="help")
    router.message.register(show_help, Command("help"))
    router.message.register(show_help, ButtonText("buttons/help"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(cancel, ButtonText("buttons/cancel"))
    return router
