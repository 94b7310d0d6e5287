"""Tell the sandbox while the bot handles an update, for a bot that runs in the same process
as the sandbox (tests, `loyalty chat`).

A handler that edits one message, reads the database for a while and then sends the next
leaves the chat silent in between; without this, a conversation's burst of replies could end
in that silence on a slow machine and miss the second message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


class HandlingMiddleware(BaseMiddleware):
    """`dispatcher.update.outer_middleware(HandlingMiddleware(sandbox))`."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self._sandbox = sandbox

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        with self._sandbox.handling():
            return await handler(event, data)
