"""The merchant's picture of a reward or coupon, sent to the chat from its https address."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

log = logging.getLogger(__name__)


async def send_picture(bot: Bot, chat_id: int, url: str | None) -> None:
    """Send the picture when there is one. Telegram fetches it; one it cannot fetch or read is
    logged and left out: the reward or coupon itself is shown all the same."""
    if not url:
        return
    try:
        await bot.send_photo(chat_id, url)
    except TelegramBadRequest as refused:
        log.warning("picture %s not sent: %s", url, refused.message)
