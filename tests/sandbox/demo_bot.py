"""A tiny bot for the conversation and terminal tests: welcome + terms buttons, a contact
keyboard, an echo, a photo and a file — the shapes the loyalty bot uses."""

from __future__ import annotations

import asyncio

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from tests.sandbox.conftest import png_bytes

CARD_PNG = png_bytes(120, 120)
SLOW_HANDLER_PAUSE = 0.3  # seconds between /slow's two replies: longer than a quiet period


def demo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            "<b>Welcome</b> to Coffee Club!",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(text="Agree", callback_data="terms:agree"),
                        InlineKeyboardButton(text="Decline", callback_data="terms:decline"),
                    ]
                ]
            ),
        )
        await message.answer(
            "Share your phone to join.",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[
                    [KeyboardButton(text="Share my phone number", request_contact=True)],
                    [KeyboardButton(text="My card")],
                ],
                resize_keyboard=True,
            ),
        )

    @router.callback_query(F.data.startswith("terms:"))
    async def terms(query: CallbackQuery) -> None:
        choice = (query.data or "").removeprefix("terms:")
        await query.answer("Noted")
        if isinstance(query.message, Message):
            await query.message.edit_text(f"You chose {choice}")

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None
        await message.answer(
            f"Thanks, {message.contact.phone_number}", reply_markup=ReplyKeyboardRemove()
        )

    @router.message(F.location)
    async def location(message: Message) -> None:
        assert message.location is not None
        await message.answer(
            f"You are at {message.location.latitude:.4f}, {message.location.longitude:.4f}"
        )
        await message.answer_venue(
            latitude=31.2304, longitude=121.4737, title="Coffee Club", address="1 Nanjing Rd"
        )

    @router.message(F.sticker)
    async def sticker(message: Message) -> None:
        await message.answer("Nice sticker")

    @router.message(Command("photo"))
    async def photo(message: Message) -> None:
        await message.answer_photo(BufferedInputFile(CARD_PNG, "card.png"), caption="Your card")

    @router.message(Command("file"))
    async def file(message: Message) -> None:
        await message.answer_document(BufferedInputFile(b"points: 42\n", "data.txt"), caption="Your data")

    @router.message(Command("slow"))
    async def slow(message: Message) -> None:
        # Two replies with a pause between them, as a handler that reads the database does.
        await message.answer("Looking it up…")
        await asyncio.sleep(SLOW_HANDLER_PAUSE)
        await message.answer("Found it")

    @router.message(F.text == "My card")
    async def card(message: Message) -> None:
        await message.answer("Card #123")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return router
