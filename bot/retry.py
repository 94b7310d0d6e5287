"""Honour Telegram's flood control for replies: wait `retry_after`, then send again."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(self, max_attempts: int = 5, max_wait: float = 60.0) -> None:
        self.max_attempts = max_attempts
        self.max_wait = max_wait

    async def __call__(
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
                log.warning(
                    "%s hit flood control, retrying in %s s (attempt %s)",
                    type(method).__name__, error.retry_after, attempt,
                )
                await asyncio.sleep(error.retry_after)
        raise AssertionError("unreachable")
