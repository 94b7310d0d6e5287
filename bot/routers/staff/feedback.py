"""Staff answering what members wrote with /feedback: Reply on the forwarded message, then the
answer as the next text. The role is read again on the press and on the answer (IsStaff and
loyalty.feedback.reply): someone removed meanwhile is refused, and so is a forged Reply."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import StaffFeedbackReplyCallback
from bot.filters import ButtonText
from bot.routers.staff.context import StaffContext, StaffContextMiddleware
from bot.states import FeedbackReply
from loyalty import feedback
from loyalty.errors import InvalidInput


async def start_reply(
    query: CallbackQuery, callback_data: StaffFeedbackReplyCallback, ctx: StaffContext, state: FSMContext
) -> None:
    if await ctx.uow.feedback.message(callback_data.message_id) is None:
        await ctx.uow.rollback()
        await query.answer(ctx.texts("feedback/gone"), show_alert=True)
        return
    await ctx.uow.release()
    await state.set_state(FeedbackReply.text)
    await state.update_data(message_id=callback_data.message_id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(ctx.texts("feedback/reply_prompt"))


async def take_reply(message: Message, ctx: StaffContext, state: FSMContext) -> None:
    assert message.from_user is not None
    if not message.text:
        await message.answer(ctx.texts("feedback/need_text"))
        return
    message_id = int((await state.get_data())["message_id"])
    try:
        await feedback.reply(ctx.uow, ctx.clock, message.from_user.id, message_id, message.text)
    except InvalidInput:
        await ctx.uow.rollback()
        await message.answer(ctx.texts("feedback/too_long", limit=feedback.MAX_COMMENT))
        return
    except (feedback.FeedbackMessageNotFound, feedback.NotStaff):
        await ctx.uow.rollback()
        await state.clear()
        await message.answer(ctx.texts("feedback/gone"))
        return
    await state.clear()
    await message.answer(ctx.texts("feedback/replied"))


async def cancel(message: Message, ctx: StaffContext, state: FSMContext) -> None:
    await state.clear()
    await message.answer(ctx.texts("feedback/cancelled"))


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-feedback")
    router.message.middleware(StaffContextMiddleware())
    router.callback_query.middleware(StaffContextMiddleware())
    router.callback_query.register(start_reply, StaffFeedbackReplyCallback.filter())
    router.message.register(cancel, StateFilter(FeedbackReply.text), Command("cancel"))
    router.message.register(cancel, StateFilter(FeedbackReply.text), ButtonText("buttons/cancel"))
    router.message.register(take_reply, StateFilter(FeedbackReply.text), ~F.text.startswith("/"))
    return router
