"""Sends the messages the rules wrote (points landed, a tier changed, nudges the sweeps owe) to
members' chats.

Runs in the bot's process, draining the `notifications` outbox: a purchase recorded by the API
process, or while the bot was down, still reaches the member. Several bot processes may drain
at once: each row is claimed with a conditional UPDATE (pending -> sending) before anything is
done with it, so only one of them ever sends it.

For each claimed row, loyalty.nudges.delivery decides: send, hold back (back to pending with
`deliver_after`: quiet hours, the weekly cap) or drop (skipped: muted, stale, unreachable).
Then a birthday's or win-back's gift coupon is issued and committed, the text is built (nothing
left to say: skipped), and the message goes. A member who blocked the bot (403) is marked
unreachable and skipped until they write again; flood control (429) waits and retries; other
failures are retried a few times, then failed.

A row left in `sending` for more than ten minutes belongs to a sender that crashed (a claim
lasts one Telegram call). Whether Telegram delivered it is unknown, and the row is marked
failed, not sent again: at most once. A duplicate costs more than a loss here: a second
"+128 points" reads like points counted twice, a second nudge is the spam the weekly cap exists
to prevent, and both are rare (a crash inside one HTTP call). What was lost is still in /points,
/coupons and the gift coupon already issued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import keyboards
from bot.coupons_view import coupon_buttons
from bot.feedback_view import score_keyboard
from bot.qr import qr_png
from bot.render import Texts, region_of, texts_for
from bot.rewards_view import RewardsPage
from bot.throttle import Throttle
from db.models import Member, Notification, NotificationKind, NotificationStatus
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty import geofence
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.members import set_chat_reachable
from loyalty.notifications import message_context
from loyalty.nudges.delivery import decide, prepare

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ABANDONED_AFTER = timedelta(minutes=10)
CRASHED = "unknown outcome after a crash"

Outcome = Literal["sent", "skipped", "failed", "retry", "blocked"]


@dataclass(frozen=True)
class Claimed:
    """A row this sender claimed, with what it needs to send it."""

    notification: Notification
    member: Member
    claimed_at: datetime
    context: dict[str, Any]


class NotificationSender:
    def __init__(
        self,
        bot: Bot,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        settings: Settings,
        *,
        batch: int = 50,
        throttle: Throttle | None = None,
    ) -> None:
        """`throttle`: the bot's send budget, shared with the campaign sender (None: none)."""
        self._bot = bot
        self._settings = settings
        self._uow_factory = uow_factory
        self._clock = clock
        self._batch = batch
        self._throttle = throttle
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next interval."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Send what is due; returns how many messages went out."""
        now = self._clock.now()
        async with self._uow_factory() as uow:
            abandoned = await uow.notifications.fail_abandoned(
                claimed_before=now - ABANDONED_AFTER, error=CRASHED
            )
            due = await uow.notifications.due(now=now, limit=self._batch)
            await uow.commit()
        if abandoned:
            log.warning("%d notifications left sending by a crashed sender marked failed", abandoned)
        sent = 0
        for notification_id in due:
            sent += await self._handle(notification_id) == "sent"
        return sent

    async def _handle(self, notification_id: int) -> Outcome | None:
        """Claim one row and see it through; None when another sender had it or it was held."""
        now = self._clock.now()
        try:
            claimed = await self._claim_and_prepare(notification_id, now)
        except Exception as failure:  # a database hiccup or a bad row: nothing went
            log.exception("preparing notification %s failed", notification_id)
            await self._retry_or_fail(notification_id, now, f"{type(failure).__name__}: {failure}")
            return "retry"
        if not isinstance(claimed, Claimed):
            return claimed
        outcome, error = await self._deliver(claimed)
        async with self._uow_factory() as uow:
            if outcome == "blocked":
                chat = claimed.member.telegram_id or 0
                await set_chat_reachable(uow, self._clock, chat, reachable=False)
                outcome = "skipped"
            if outcome == "retry":
                await self._retry_or_fail_in(uow, claimed.notification, claimed.claimed_at, error)
            else:
                await uow.notifications.finish(
                    notification_id, claimed_at=claimed.claimed_at, status=outcome, at=self._clock.now(),
                    error=error,
                )
            await uow.commit()
        return outcome

    async def _claim_and_prepare(self, notification_id: int, now: datetime) -> Claimed | Outcome | None:
        """The claimed row ready to send, or what became of it instead (None: not ours, or held)."""
        async with self._uow_factory() as uow:
            notification = await uow.notifications.claim(notification_id, now=now)
            if notification is None:
                return None
            await uow.commit()  # the claim is visible to every other sender before anything else
            # Held until this transaction ends: another sender deciding for the same member then
            # counts this row (sending) towards the weekly cap.
            member = await uow.lock_member(notification.member_id)
            decision = await decide(uow, notification, member, now=now, settings=self._settings)
            if decision.action == "defer":
                assert decision.until is not None
                await uow.notifications.hold(
                    notification_id, claimed_at=now, until=decision.until, error=decision.reason
                )
                await uow.commit()
                log.info("notification %s held until %s: %s", notification_id, decision.until, decision.reason)
                return None
            if decision.action == "drop":
                return await self._skip(uow, notification_id, now, decision.reason)
            context = await self._context(uow, notification, member, now)
            if context is None:
                return await self._skip(uow, notification_id, now, "nothing left to say")
            await uow.release()  # no database lock is held across the Telegram call
        return Claimed(notification, member, now, context)

    async def _context(
        self, uow: UnitOfWork, notification: Notification, member: Member, now: datetime
    ) -> dict[str, Any] | None:
        """The text's variables, after what must exist first: a message with nothing left to say
        issues no gift; one whose gift was issued (or found) names it."""
        settings = self._settings
        context = await message_context(uow, notification, member, now=now, settings=settings)
        if context is not None and await prepare(uow, notification, member, now=now, settings=settings):
            context = await message_context(uow, notification, member, now=now, settings=settings)
        return context

    async def _skip(self, uow: UnitOfWork, notification_id: int, now: datetime, reason: str | None) -> Outcome:
        await uow.notifications.finish(
            notification_id, claimed_at=now, status=NotificationStatus.SKIPPED, at=now, error=reason
        )
        await uow.commit()
        return "skipped"

    async def _retry_or_fail(self, notification_id: int, claimed_at: datetime, error: str) -> None:
        async with self._uow_factory() as uow:
            notification = await uow.notifications.get(notification_id)
            if notification is not None and notification.status == NotificationStatus.SENDING:
                await self._retry_or_fail_in(uow, notification, claimed_at, error)
                await uow.commit()

    async def _retry_or_fail_in(
        self, uow: UnitOfWork, notification: Notification, claimed_at: datetime, error: str | None
    ) -> None:
        """Back to the outbox for another try, or failed after MAX_ATTEMPTS."""
        if notification.attempts + 1 >= MAX_ATTEMPTS:
            await uow.notifications.finish(
                notification.id, claimed_at=claimed_at, status=NotificationStatus.FAILED, at=self._clock.now(),
                error=error,
            )
        else:
            await uow.notifications.hold(
                notification.id, claimed_at=claimed_at, until=None, error=error, attempted=True
            )

    async def _deliver(self, claimed: Claimed) -> tuple[Outcome, str | None]:
        notification, member = claimed.notification, claimed.member
        assert member.telegram_id is not None  # decide() drops messages to members without a chat
        texts = texts_for(member.locale, region_of(member.city))
        if self._throttle is not None:
            await self._throttle.acquire(member.telegram_id)
        try:
            text = texts(f"notifications/{notification.kind}", **claimed.context)
            markup = _markup(notification.kind, claimed.context, texts)
            if notification.kind == NotificationKind.CARD:
                picture = BufferedInputFile(qr_png(member.member_number), filename=f"card-{member.member_number}.png")
                await self._bot.send_photo(member.telegram_id, picture, caption=text, reply_markup=markup)
            else:
                await self._bot.send_message(member.telegram_id, text, reply_markup=markup)
        except TelegramForbiddenError as error:
            return "blocked", str(error)
        except TelegramRetryAfter as error:
            if self._throttle is not None:
                self._throttle.pause(error.retry_after)
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
            except Exception:  # keep draining after a database hiccup
                log.exception("notification drain failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)


# The gift coupon a greeting or an offer brings, by kind: its message gets a "show code" button.
GIFTS: dict[str, str] = {
    NotificationKind.BIRTHDAY: "gift", NotificationKind.ANNIVERSARY: "gift", NotificationKind.WIN_BACK: "offer"
}


def _markup(kind: str, context: dict[str, Any], texts: Texts) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    """Buttons that act on what the message is about; otherwise the main menu."""
    if kind == geofence.KIND:
        return coupon_buttons(texts, context["coupons"], store_id=context["store"]["id"])
    if kind == NotificationKind.POINTS_EXPIRING:
        builder = InlineKeyboardBuilder()
        builder.button(text=texts("notifications/buttons/use_points"), callback_data=RewardsPage(page=1))
        return builder.as_markup()
    if kind == NotificationKind.FEEDBACK_ASKED:
        return score_keyboard(int(context["survey_id"]))
    if kind in (NotificationKind.COUPON_EXPIRING, NotificationKind.COUPON_ISSUED):
        return coupon_buttons(texts, [context["coupon"]])
    gift = context.get(GIFTS[kind]) if kind in GIFTS else None
    if gift is not None:
        return coupon_buttons(texts, [gift])
    return keyboards.main_menu(texts)
