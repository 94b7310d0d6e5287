"""Errors at the chat's edge: a domain refusal becomes a message, a bug becomes an apology.

Either way the update's unit of work is left without a commit, so nothing half-done is kept."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.render import Texts
from loyalty.errors import LoyaltyError

log = logging.getLogger(__name__)


async def domain_error(event: ErrorEvent, texts: Texts | None = None, **_: Any) -> None:
    error = event.exception
    assert isinstance(error, LoyaltyError)
    # The code only: a refusal's message may quote what the member typed (a phone, a date).
    log.info("refused %s", error.code)
    key = f"errors/{error.code}"
    await _tell(event, texts, key if texts and key in texts.keys() else "errors/internal")


async def unexpected_error(event: ErrorEvent, texts: Texts | None = None, **_: Any) -> None:
    log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
    await _tell(event, texts, "errors/internal")


async def _tell(event: ErrorEvent, texts: Texts | None, key: str) -> None:
    if texts is None:
        return
    update = event.update
    try:
        if update.message is not None:
            await update.message.answer(texts(key, button=texts("buttons/share_phone")))
        elif update.callback_query is not None:
            await update.callback_query.answer(texts(key, button=texts("buttons/share_phone")), show_alert=True)
    except TelegramAPIError:
        log.warning("could not tell chat about the failure of update %s", update.update_id)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="errors")
    router.errors.register(domain_error, ExceptionTypeFilter(LoyaltyError))
    router.errors.register(unexpected_error)
    return router
