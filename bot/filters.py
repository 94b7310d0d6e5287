"""Filters shared by the feature routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject, User

from bot.render import texts_for
from db.uow import UnitOfWork
from loyalty import staff
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


class IsStaff(Filter):
    """The update comes from a staff member who runs the program (an owner or a marketer, not a
    cashier: loyalty.staff); their role reaches the handler as
    `staff_role`. Read from the database on every update, not cached: removing someone takes
    their access away with their next tap."""

    async def __call__(
        self, event: TelegramObject, uow: UnitOfWork, event_from_user: User | None = None
    ) -> bool | dict[str, Any]:
        if event_from_user is None:
            return False
        role = await staff.role_of(uow, event_from_user.id)
        await uow.release()  # a read: end it before the handler talks to Telegram
        # A cashier's one tool is the Mini App's till: in the chat they are a member like any other.
        return {"staff_role": role} if role is not None and staff.runs_program(role) else False
