"""/console: a one-time link that signs the staff member in to the web console.

Only staff get here (the staff router's IsStaff filter); anyone else's /console falls through
to the unknown-command answer. The link's preview is switched off: Telegram's preview fetcher
would otherwise open the link, and a one-time link opened by anyone else is spent."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.routers.staff.context import StaffContext, StaffContextMiddleware
from loyalty import console_access


async def console_link(message: Message, ctx: StaffContext) -> None:
    assert message.from_user is not None
    url = await console_access.create_link(
        ctx.uow, ctx.clock, ctx.settings, message.from_user.id, locale=ctx.texts.locale
    )
    await message.answer(
        ctx.texts("staff/console/link", url=url, minutes=ctx.settings.console_link_minutes),
        disable_web_page_preview=True,
    )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-console")
    router.message.middleware(StaffContextMiddleware())
    router.message.register(console_link, Command("console"))
    return router
