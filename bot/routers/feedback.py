"""The survey after a purchase (its question comes from the outbox, bot/notifier.py) and
/feedback, a message to the merchant at any time.

Survey: a score button (once per survey), then one follow-up question by the score with Skip;
the next text is the comment. A detractor is then asked whether someone may contact them, and
the store's staff (else the owners) hear about it at once. Each button names its survey; one
that is not the presser's own (forged) or no longer open (stale, pressed twice) gets an answer
and changes nothing: the rules in loyalty/feedback.py check both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import FeedbackScoreCallback, FeedbackStep, FeedbackStepCallback
from bot.edits import edit_in_place
from bot.feedback_view import contact_keyboard, open_chat_keyboard, reply_keyboard, skip_keyboard
from bot.filters import ButtonText
from bot.render import Texts, texts_for
from bot.states import Feedback
from db.models import Member, Staff
from db.uow import UnitOfWork
from loyalty import feedback
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput

log = logging.getLogger(__name__)


async def _refuse(query: CallbackQuery, texts: Texts, uow: UnitOfWork, error: Exception) -> None:
    await uow.rollback()
    if isinstance(error, feedback.SurveyAnswered):
        key = "feedback/answered"
    elif isinstance(error, feedback.SurveyClosed):
        key = "feedback/closed"
    else:
        key = "fallback/stale_button"
    await query.answer(texts(key), show_alert=True)


async def score(
    query: CallbackQuery, callback_data: FeedbackScoreCallback, member: Member | None, texts: Texts,
    uow: UnitOfWork, clock: Clock, settings: Settings, state: FSMContext,
) -> None:
    if member is None:
        await query.answer(texts("card/need_signup"), show_alert=True)
        return
    try:
        survey = await feedback.answer_score(uow, clock, settings, member, callback_data.survey_id, callback_data.score)
    except (feedback.SurveyNotFound, feedback.SurveyAnswered, InvalidInput) as error:
        await _refuse(query, texts, uow, error)
        return
    assert survey.score is not None
    await state.set_state(Feedback.comment)
    await state.update_data(survey_id=survey.id)
    await query.answer()
    if isinstance(query.message, Message):
        with edit_in_place():
            await query.message.edit_text(texts("feedback/scored", score=survey.score, points=survey.points_awarded))
    await _send(query, texts("feedback/follow_up", band=feedback.band(survey.score)), skip_keyboard(texts, survey.id))


async def comment(
    message: Message, member: Member | None, texts: Texts, uow: UnitOfWork, clock: Clock, state: FSMContext,
    bot: Bot, settings: Settings,
) -> None:
    data = await state.get_data()
    if member is None or "survey_id" not in data:
        await state.clear()
        return
    if not message.text:
        await message.answer(texts("feedback/need_text"))
        return
    try:
        survey = await feedback.answer_comment(uow, clock, member, int(data["survey_id"]), message.text)
    except InvalidInput:
        await uow.rollback()
        await message.answer(texts("feedback/too_long", limit=feedback.MAX_COMMENT))
        return
    except (feedback.SurveyNotFound, feedback.SurveyClosed):
        await uow.rollback()
        await state.clear()
        await message.answer(texts("feedback/closed"))
        return
    await state.clear()
    await _after_comment(message, texts, survey.id, detractor=survey.closed_at is None)


async def step(
    query: CallbackQuery, callback_data: FeedbackStepCallback, member: Member | None, texts: Texts,
    uow: UnitOfWork, clock: Clock, state: FSMContext, bot: Bot, settings: Settings,
) -> None:
    if member is None:
        await query.answer(texts("card/need_signup"), show_alert=True)
        return
    survey_id = callback_data.survey_id
    try:
        if callback_data.step == FeedbackStep.skip:
            survey = await feedback.answer_comment(uow, clock, member, survey_id, None)
        else:
            alert = await feedback.answer_contact(uow, clock, member, survey_id, callback_data.step == FeedbackStep.yes)
    except (feedback.SurveyNotFound, feedback.SurveyClosed) as error:
        await _refuse(query, texts, uow, error)
        return
    await query.answer()
    if isinstance(query.message, Message):
        with edit_in_place():
            await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.step == FeedbackStep.skip:
        if (await state.get_data()).get("survey_id") == survey_id:
            await state.clear()
        await _after_comment(query, texts, survey.id, detractor=survey.closed_at is None)
        return
    await _send(query, texts("feedback/thanks", contact=alert.telegram_id is not None), keyboards.main_menu(texts))
    await alert_staff(bot, settings, alert)


async def _after_comment(event: Message | CallbackQuery, texts: Texts, survey_id: int, *, detractor: bool) -> None:
    if detractor:
        await _send(event, texts("feedback/ask_contact"), contact_keyboard(texts, survey_id))
    else:
        await _send(event, texts("feedback/thanks", contact=False), keyboards.main_menu(texts))


async def _send(event: Message | CallbackQuery, text: str, markup: object) -> None:
    message = event if isinstance(event, Message) else event.message
    if isinstance(message, Message):
        await message.answer(text, reply_markup=markup)  # type: ignore[arg-type]


async def alert_staff(bot: Bot, settings: Settings, alert: feedback.Alert) -> None:
    """A detractor's answer, to each of the store's staff at once (in the program's language).
    The button to open the member's chat only when they agreed; never their phone number."""
    texts = texts_for(settings.default_locale)
    survey = alert.survey
    text = texts(
        "feedback/alert", score=survey.score, store_name=alert.store_name, name=alert.first_name,
        comment=survey.comment, contact=alert.telegram_id is not None,
    )
    markup = open_chat_keyboard(texts, alert.telegram_id) if alert.telegram_id is not None else None
    await _to_staff(bot, alert.recipients, text, markup)


async def _to_staff(bot: Bot, recipients: Sequence[Staff], text: str, markup: object) -> None:
    for staff in recipients:
        try:
            await bot.send_message(staff.telegram_id, text, reply_markup=markup)  # type: ignore[arg-type]
        except Exception:
            log.warning("feedback for staff %s could not be sent", staff.id, exc_info=True)


# --- /feedback -----------------------------------------------------------------------------------


async def start_message(message: Message, member: Member | None, texts: Texts, state: FSMContext) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    await state.set_state(Feedback.message)
    await message.answer(texts("feedback/write"))


async def take_message(
    message: Message, member: Member | None, texts: Texts, uow: UnitOfWork, clock: Clock, state: FSMContext,
    bot: Bot, settings: Settings,
) -> None:
    if member is None:
        await state.clear()
        return
    if not message.text:
        await message.answer(texts("feedback/need_text"))
        return
    try:
        written = await feedback.write(uow, clock, member, message.text)
    except InvalidInput:
        await uow.rollback()
        await message.answer(texts("feedback/too_long", limit=feedback.MAX_COMMENT))
        return
    await state.clear()
    await message.answer(texts("feedback/sent"), reply_markup=keyboards.main_menu(texts))
    staff_texts = texts_for(settings.default_locale)
    text = staff_texts(
        "feedback/incoming", name=uow.members.first_name_of(member), store_name=written.store_name, body=written.message.body
    )
    await _to_staff(bot, written.recipients, text, reply_keyboard(staff_texts, written.message.id))


async def cancel(message: Message, state: FSMContext, member: Member | None, texts: Texts) -> None:
    """Leave the survey's comment or /feedback's message: nothing more is written."""
    await state.clear()
    await message.answer(texts("feedback/cancelled"), reply_markup=keyboards.main_menu(texts) if member else None)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="feedback")
    router.callback_query.register(score, FeedbackScoreCallback.filter())
    router.callback_query.register(step, FeedbackStepCallback.filter())
    router.message.register(start_message, Command("feedback"))
    router.message.register(cancel, StateFilter(Feedback.comment, Feedback.message), Command("cancel"))
    router.message.register(cancel, StateFilter(Feedback.comment, Feedback.message), ButtonText("buttons/cancel"))
    router.message.register(comment, StateFilter(Feedback.comment), ~F.text.startswith("/"))
    router.message.register(take_message, StateFilter(Feedback.message), ~F.text.startswith("/"))
    return router
