"""Keyboards, labelled from the templates of the member's locale."""

from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    WebAppInfo,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import ConsentAnswer, ConsentCallback, LanguageCallback
from bot.render import Texts, texts_for
from loyalty.config import SUPPORTED_LOCALES


def main_menu(texts: Texts) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts("buttons/my_card")), KeyboardButton(text=texts("buttons/points"))],
            [KeyboardButton(text=texts("buttons/rewards")), KeyboardButton(text=texts("buttons/coupons"))],
            [KeyboardButton(text=texts("buttons/nearby"), request_location=True)],
            [KeyboardButton(text=texts("buttons/help")), KeyboardButton(text=texts("buttons/language"))],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def consent(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("buttons/agree"), callback_data=ConsentCallback(answer=ConsentAnswer.agree))
    builder.button(
        text=texts("buttons/decline"), callback_data=ConsentCallback(answer=ConsentAnswer.decline)
    )
    return builder.as_markup()


def share_phone(texts: Texts) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts("buttons/share_phone"), request_contact=True)],
            [KeyboardButton(text=texts("buttons/cancel"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def skip(texts: Texts) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=texts("buttons/skip"))]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def languages() -> InlineKeyboardMarkup:
    # Each language is named in itself, so a member lost in the wrong language can find theirs.
    builder = InlineKeyboardBuilder()
    for locale in SUPPORTED_LOCALES:
        builder.button(
            text=texts_for(locale)("buttons/language_name"), callback_data=LanguageCallback(locale=locale)
        )
    return builder.as_markup()


def open_app(texts: Texts, url: str) -> InlineKeyboardMarkup:
    """The Mini App (WEBAPP_URL), opened inside the chat, signed by Telegram."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=texts("buttons/open_app"), web_app=WebAppInfo(url=url))]])
