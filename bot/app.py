"""Builds the Bot and the Dispatcher; nothing runs at import time."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import BotCommand, MenuButtonWebApp, WebAppInfo

from bot import errors
from bot.delivery import OrderedDeliveryMiddleware
from bot.middlewares import MemberContextMiddleware, UnitOfWorkMiddleware
from bot.render import texts_for
from bot.routers import build_root_router
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings

log = logging.getLogger(__name__)

COMMANDS = (
    "start", "card", "points", "rewards", "coupons", "invite", "language", "settings", "privacy", "feedback", "help",
    "cancel",
)


def build_bot(token: str, api_url: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    session.middleware(OrderedDeliveryMiddleware())
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        # Sign-up state survives restarts and is shared by several bot processes.
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update at a time per chat, its state read inside the lock.

    aiogram runs updates as concurrent tasks; without this, two quick messages from one member
    would both be handled against the same sign-up step."""
    from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

    if isinstance(storage, RedisStorage):
        return RedisEventIsolation(storage.redis, key_builder=storage.key_builder)
    return SimpleEventIsolation()


def build_dispatcher(
    *,
    settings: Settings,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    storage: BaseStorage | None = None,
) -> Dispatcher:
    storage = storage or build_storage(settings)
    dp = Dispatcher(
        storage=storage,
        events_isolation=build_isolation(storage),
        settings=settings,
        clock=clock,
    )
    dp.update.outer_middleware(UnitOfWorkMiddleware(uow_factory))
    dp.update.outer_middleware(MemberContextMiddleware(clock))
    dp.include_router(errors.router())
    dp.include_router(build_root_router())
    dp.startup.register(_set_commands)
    dp.startup.register(_set_menu_button)
    return dp


async def _set_commands(bot: Bot) -> None:
    for locale in SUPPORTED_LOCALES:
        texts = texts_for(locale)
        commands = [BotCommand(command=name, description=texts(f"commands/{name}")) for name in COMMANDS]
        language = None if locale == "en" else locale.split("_")[0]
        await bot.set_my_commands(commands, language_code=language)


async def _set_menu_button(bot: Bot, settings: Settings) -> None:
    """With WEBAPP_URL, the chat's menu button opens the Mini App. Without, it is left as it is
    (BotFather may have set it)."""
    if not settings.webapp_url:
        return
    text = texts_for(settings.default_locale)("buttons/open_app")
    try:
        await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text=text, web_app=WebAppInfo(url=settings.webapp_url)))
    except TelegramBadRequest as error:  # the chat works without it: say why, and go on
        log.warning("the menu button could not open the Mini App at %s: %s", settings.webapp_url, error.message)
