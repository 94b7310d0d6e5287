"""The staff command menu: members' commands plus /broadcast, /campaigns and /console, shown only in a staff
member's own chat (BotCommandScopeChat). The default menu, every member's, never lists them."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat

from bot.render import texts_for
from loyalty.config import SUPPORTED_LOCALES

STAFF_COMMANDS = ("broadcast", "campaigns", "console")


def _language(locale: str) -> str | None:
    # As for the members' menu (bot/app.py): English is the default, others by language code.
    return None if locale == "en" else locale.split("_")[0]


async def give_staff_menu(bot: Bot, telegram_id: int) -> None:
    from bot.app import COMMANDS  # the members' commands; bot.app builds the routers, so late

    scope = BotCommandScopeChat(chat_id=telegram_id)
    for locale in SUPPORTED_LOCALES:
        texts = texts_for(locale)
        commands = [BotCommand(command=name, description=texts(f"commands/{name}")) for name in COMMANDS]
        commands += [BotCommand(command=name, description=texts(f"staff/commands/{name}")) for name in STAFF_COMMANDS]
        await bot.set_my_commands(commands, scope=scope, language_code=_language(locale))


async def take_staff_menu(bot: Bot, telegram_id: int) -> None:
    """Back to the members' menu in that chat."""
    scope = BotCommandScopeChat(chat_id=telegram_id)
    for locale in SUPPORTED_LOCALES:
        await bot.delete_my_commands(scope=scope, language_code=_language(locale))
