"""Sending to one chat in order, and within Telegram's flood control.

Telegram answers a chat that receives too much with 429 and `retry_after`. If every pending
reply retried on its own, whichever woke first would go first and the member would read the
birthday question after the city question. So sends to a chat pass one at a time through that
chat's lock, and a 429 is waited out while holding it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger(__name__)


class OrderedDeliveryMiddleware(BaseRequestMiddleware):
    def __init__(self, max_attempts: int = 5, max_wait: float = 60.0) -> None:
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self._chat_locks: defaultdict[int | str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        if chat_id is None:
            return await self._with_retries(make_request, bot, method)
        lock = self._chat_locks[chat_id]
        try:
            async with lock:
                return await self._with_retries(make_request, bot, method)
        finally:
            if not lock.locked() and not lock._waiters:  # noqa: SLF001 - forget idle chats
                self._chat_locks.pop(chat_id, None)

    async def _with_retries(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt == self.max_attempts or error.retry_after > self.max_wait:
                    raise
                log.info(
                    "%s hit flood control, retrying in %s s (attempt %s)",
                    type(method).__name__, error.retry_after, attempt,
                )
                await asyncio.sleep(error.retry_after)
        raise AssertionError("unreachable")
