"""The survey's keyboards and the messages staff get about feedback: shared by the notifier
(the question) and the feedback routers (what follows it)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import FeedbackScoreCallback, FeedbackStep, FeedbackStepCallback, StaffFeedbackReplyCallback
from bot.render import Texts


def score_keyboard(survey_id: int) -> InlineKeyboardMarkup:
    """0-10 in two rows (0-5, 6-10): big enough to tap on a phone."""
    builder = InlineKeyboardBuilder()
    for score in range(11):
        builder.button(text=str(score), callback_data=FeedbackScoreCallback(survey_id=survey_id, score=score))
    builder.adjust(6, 5)
    return builder.as_markup()


def skip_keyboard(texts: Texts, survey_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("feedback/buttons", button="skip"),
        callback_data=FeedbackStepCallback(survey_id=survey_id, step=FeedbackStep.skip),
    )
    return builder.as_markup()


def contact_keyboard(texts: Texts, survey_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for step in (FeedbackStep.yes, FeedbackStep.no):
        builder.button(
            text=texts("feedback/buttons", button=step.value),
            callback_data=FeedbackStepCallback(survey_id=survey_id, step=step),
        )
    return builder.as_markup()


def open_chat_keyboard(texts: Texts, telegram_id: int) -> InlineKeyboardMarkup:
    """Opens the member's own chat: given only when they agreed to be contacted."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("feedback/buttons", button="open"), url=f"tg://user?id={telegram_id}")
    return builder.as_markup()


def reply_keyboard(texts: Texts, message_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("feedback/buttons", button="reply"), callback_data=StaffFeedbackReplyCallback(message_id=message_id)
    )
    return builder.as_markup()
