"""Editing a message the bot sent. Telegram refuses an edit that would leave the message as it
is ("message is not modified": a button pressed twice, a count that did not move); for the
bot that edit has simply already happened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


def unchanged(error: TelegramBadRequest) -> bool:
    """Whether Telegram refused the edit only because it changed nothing."""
    return "message is not modified" in error.message


@contextmanager
def edit_in_place() -> Iterator[None]:
    """`with edit_in_place(): await message.edit_text(...)`: an edit that changes nothing is
    no error; any other refusal still is."""
    try:
        yield
    except TelegramBadRequest as error:
        if not unchanged(error):
            raise


def pressed_label(query: CallbackQuery) -> str | None:
    """The label of the button pressed, when it is one of its message's own (else None: forged,
    or a message too old to carry its keyboard)."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return None
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None


async def keep_answer(query: CallbackQuery, answered: str | None) -> None:
    """Take an answered prompt's buttons off, so it cannot be pressed again, and write the answer
    under its question (`answered`, HTML), so the chat still shows what was chosen; without one,
    only the buttons go."""
    message = query.message
    if not isinstance(message, Message):
        return
    with edit_in_place():  # pressed twice: it already reads so
        if answered is None or message.text is None:
            await message.edit_reply_markup(reply_markup=None)
        else:
            await message.edit_text(
                f"{message.html_text}\n\n{answered}", reply_markup=None, disable_web_page_preview=True
            )


async def show_in_place(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Turn the pressed message into the next step, or send it anew if it cannot be edited."""
    if isinstance(query.message, Message) and query.message.text is not None:
        with edit_in_place():
            await query.message.edit_text(text, reply_markup=markup)
        return
    assert query.bot is not None
    await query.bot.send_message(query.from_user.id, text, reply_markup=markup)
