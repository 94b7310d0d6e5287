"""Sends the notifications the rules wrote (points landed, tier changed) to members' chats.

Runs in the bot's process, draining the `notifications` outbox: a purchase recorded by the API
process, or while the bot was down, still reaches the member. A member who blocked the bot is
marked unreachable and their message skipped; other failures are retried a few times.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter

from bot import keyboards
from bot.coupons_view import coupon_buttons
from bot.render import Texts, region_of, texts_for
from db.uow import UnitOfWorkFactory
from loyalty import geofence
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.members import set_chat_reachable
from loyalty.notifications import message_context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class NotificationSender:
    def __init__(
        self, bot: Bot, uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, *, batch: int = 50
    ) -> None:
        self._bot = bot
        self._settings = settings
        self._uow_factory = uow_factory
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next interval."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Send what is pending; returns how many messages went out."""
        async with self._uow_factory() as uow:
            pending = await uow.notifications.pending(limit=self._batch)
            await uow.release()
        sent = 0
        for notification, member in pending:
            outcome, error = await self._deliver(notification, member)
            async with self._uow_factory() as uow:
                if outcome == "blocked":
                    await set_chat_reachable(uow, self._clock, member.telegram_id or 0, reachable=False)
                    outcome = "skipped"
                status = outcome
                if outcome == "retry":
                    status = "failed" if notification.attempts + 1 >= MAX_ATTEMPTS else "pending"
                await uow.notifications.mark(notification.id, status=status, at=self._clock.now(), error=error)
                await uow.commit()
            sent += outcome == "sent"
        return sent

    async def _deliver(self, notification, member) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
        if member.telegram_id is None:
            return "skipped", "member has no chat"
        if member.chat_blocked_at is not None:
            return "skipped", "member blocked the bot"
        texts = texts_for(member.locale, region_of(member.city))
        async with self._uow_factory() as uow:
            context = await message_context(uow, notification, member, now=self._clock.now(), settings=self._settings)
        if context is None:
            return "skipped", "nothing left to say"
        try:
            await self._bot.send_message(
                member.telegram_id,
                texts(f"notifications/{notification.kind}", **context),
                reply_markup=_markup(notification.kind, context, texts),
            )
        except TelegramForbiddenError as error:
            return "blocked", str(error)
        except TelegramRetryAfter as error:
            await asyncio.sleep(error.retry_after)
            return "retry", str(error)
        except TelegramBadRequest as error:
            log.warning("notification %s to member %s refused: %s", notification.id, member.member_number, error)
            return "failed", str(error)
        except Exception as error:  # noqa: BLE001 - network trouble: try again later
            log.warning("notification %s to member %s failed: %s", notification.id, member.member_number, error)
            return "retry", f"{type(error).__name__}: {error}"
        return "sent", None

    async def run(self, *, interval: float = 1.0) -> None:
        while True:
            try:
                sent = await self.drain_once()
                if sent:
                    log.info("sent %d notifications", sent)
            except Exception:  # noqa: BLE001 - keep draining after a database hiccup
                log.exception("notification drain failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except TimeoutError:
                pass


def _markup(kind: str, context: dict[str, Any], texts: Texts) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    """Buttons that act on what the message is about; otherwise the main menu."""
    if kind == geofence.KIND:
        return coupon_buttons(texts, context["coupons"], store_id=context["store"]["id"])
    return keyboards.main_menu(texts)
