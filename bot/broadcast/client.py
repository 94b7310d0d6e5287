"""The broadcast sender's line to the Bot API: sendMessage and sendPhoto posted as JSON.

A paid broadcast sends 1,000 messages a second. Through aiogram's Bot each of them builds and
validates a method model, encodes a multipart form and parses the reply into a Message model:
about 0.6 ms of Python per message, most of a core at that rate, and a loop that busy answers
late, which bunches sends into bursts Telegram refuses. The broadcast needs none of that (it
reads only "ok" or the error), so it posts the same request as JSON with aiohttp, the library
aiogram itself sends with, and maps the reply to the outcomes the engine acts on. Replies and
everything interactive still go through aiogram.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiogram.client.telegram import TelegramAPIServer

REQUEST_TIMEOUT = 30.0  # seconds; a send that takes longer is retried later


class BroadcastError(Exception):
    """Telegram refused a send; `description` is its reason."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class RetryAfter(BroadcastError):
    """429: too many requests; every send must wait `seconds`."""

    def __init__(self, description: str, seconds: int) -> None:
        super().__init__(429, description)
        self.seconds = seconds


class Forbidden(BroadcastError):
    """403: the member blocked the bot or deleted the account."""


class BadRequest(BroadcastError):
    """400: the request itself is wrong (a bad image URL, a chat that does not exist)."""


class BroadcastClient:
    """`await client.send(chat_id, text, ...)` posts one message; `await client.close()` at the end.

    Raises RetryAfter, Forbidden, BadRequest, or BroadcastError for any other refusal;
    network trouble raises aiohttp's and asyncio's own errors."""

    def __init__(self, token: str, api_url: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        server = TelegramAPIServer.from_base(api_url)
        self._urls = {method: server.api_url(token, method) for method in ("sendMessage", "sendPhoto")}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No connection cap of its own: the engine's workers bound what is in flight.
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        image_url: str | None = None,
        keyboard: list[list[dict[str, Any]]] | None = None,
    ) -> None:
        """One HTML message (with `image_url`: a photo with the text as its caption)."""
        payload: dict[str, Any] = {"chat_id": chat_id, "parse_mode": "HTML"}
        if image_url:
            method = "sendPhoto"
            payload.update(photo=image_url, caption=text)
        else:
            method = "sendMessage"
            payload["text"] = text
        if keyboard:
            payload["reply_markup"] = {"inline_keyboard": keyboard}
        session = self._open()
        async with session.post(self._urls[method], json=payload) as response:
            body = await response.read()
        check(response.status, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def check(status: int, body: bytes) -> None:
    """Raise what Telegram's reply means, or return if it says ok."""
    try:
        reply = json.loads(body)
    except ValueError:
        raise BroadcastError(status, f"HTTP {status}: not a Bot API reply") from None
    if reply.get("ok"):
        return
    code = int(reply.get("error_code") or status)
    description = str(reply.get("description") or f"HTTP {status}")
    parameters = reply.get("parameters") or {}
    if code == 429:
        raise RetryAfter(description, int(parameters.get("retry_after") or 1))
    if code == 403:
        raise Forbidden(code, description)
    if code == 400:
        raise BadRequest(code, description)
    raise BroadcastError(code, description)
