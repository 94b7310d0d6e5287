"""Where someone who is not a member yet joins: the bot's chat, by its /start link.

The API knows the bot by its token only; its username comes from getMe, asked once per process
(the username of a bot never changes under the same token)."""

from __future__ import annotations

import logging

import aiohttp
from fastapi import Request

from loyalty.config import Settings

log = logging.getLogger(__name__)

# The /start payload the chat sees, so joining from the Mini App is told apart from other ways in.
START_PAYLOAD = "miniapp"
GET_ME_TIMEOUT_SECONDS = 5
_STATE = "webapp_bot_username"


async def bot_username(request: Request, settings: Settings) -> str | None:
    """The bot's @username, or None when Telegram could not be asked (the page then says to
    open the chat instead of linking to it)."""
    known: str | None = getattr(request.app.state, _STATE, None)
    if known is not None:
        return known
    assert settings.bot_token is not None
    url = f"{settings.bot_api_url.rstrip('/')}/bot{settings.bot_token.get_secret_value()}/getMe"
    try:
        timeout = aiohttp.ClientTimeout(total=GET_ME_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            answer = await response.json()
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        log.warning("getMe failed, no join link: %s", type(exc).__name__)
        return None
    username = answer.get("result", {}).get("username") if answer.get("ok") else None
    if isinstance(username, str) and username:
        setattr(request.app.state, _STATE, username)
        return username
    return None


def join_link(username: str) -> str:
    return f"https://t.me/{username}?start={START_PAYLOAD}"
