"""The product end to end: aiogram polls the local Bot API sandbox over HTTP, a scripted member
chats, and the assertions read both the chat and the real database."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from bot.app import build_bot, build_dispatcher
from bot.notifier import NotificationSender
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import CallbackAnswer, Conversation, SandboxLimits, SandboxServer, SandboxUser
from sandbox.middleware import HandlingMiddleware


@dataclass
class Product:
    sandbox: SandboxServer
    uow_factory: UnitOfWorkFactory
    clock: FixedClock
    notifier: NotificationSender

    def member(self, name: str = "Alex", *, language: str = "en", phone: str | None = None) -> tuple[SandboxUser, Conversation]:
        user = self.sandbox.add_user(name, language_code=language, phone_number=phone)
        return user, self.sandbox.conversation(user)

    async def forge(self, conv: Conversation, data: str) -> CallbackAnswer:
        """Press a button that was never offered, carrying `data`, on the latest bot message."""
        assert conv.last is not None
        mark = conv.mark()
        conv.last_callback_query_id = await self.sandbox.press_button(conv.user, conv.last.message_id, data)
        await conv.collect_since(mark, f"forged {data!r}")
        answer = conv.last_callback_answer
        assert answer is not None
        return answer


async def _storage() -> AsyncIterator[BaseStorage]:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        yield MemoryStorage()
        return
    from aiogram.fsm.storage.redis import RedisStorage

    # A key prefix of its own per test keeps parallel runs and leftovers apart.
    prefix = f"loyalty-test-{secrets.token_hex(4)}"
    storage = RedisStorage.from_url(url, key_builder=DefaultKeyBuilder(prefix=prefix))
    try:
        yield storage
    finally:
        async for key in storage.redis.scan_iter(f"{prefix}:*"):
            await storage.redis.delete(key)
        await storage.close()


@pytest.fixture
def sandbox_limits() -> SandboxLimits:
    # A scripted member answers within milliseconds, far faster than a person; the per-chat
    # burst is widened so conversation tests test the conversation. Flood control itself is
    # tested with Telegram's strict numbers in test_delivery.py.
    return SandboxLimits(per_chat_burst=30)


@pytest.fixture
async def product(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock, sandbox_limits: SandboxLimits
) -> AsyncIterator[Product]:
    async with SandboxServer(limits=sandbox_limits) as sandbox:
        bot = build_bot(sandbox.token, sandbox.base_url)
        storage_gen = _storage()
        storage = await anext(storage_gen)
        dispatcher = build_dispatcher(settings=settings, uow_factory=uow_factory, clock=clock, storage=storage)
        dispatcher.update.outer_middleware(HandlingMiddleware(sandbox))
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False))
        notifier = NotificationSender(bot, uow_factory, clock, settings)
        await sandbox.wait_for_poll()
        try:
            yield Product(sandbox, uow_factory, clock, notifier)
        finally:
            await dispatcher.stop_polling()
            await polling
            await bot.session.close()
            await storage_gen.aclose()
