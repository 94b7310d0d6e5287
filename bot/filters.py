"""Filters shared by the feature routers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import Message

from bot.render import texts_for
from loyalty.config import SUPPORTED_LOCALES


class ButtonText(Filter):
    """A tap on a reply-keyboard button, or the member typing its label: in any locale (a member
    may switch language while an old keyboard is still shown), ignoring case and spacing."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.labels = frozenset(_fold(texts_for(locale)(key)) for locale in SUPPORTED_LOCALES)

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and _fold(message.text) in self.labels


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()
