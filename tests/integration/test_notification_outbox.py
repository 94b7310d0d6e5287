"""The outbox's claims without Telegram: a row left `sending` by a crashed sender is failed after
ten minutes and never sent again, a sender whose claim was ended meanwhile cannot overwrite the
row, and a row that cannot even be prepared is retried a few times, then failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot

from bot.app import build_bot
from bot.notifier import CRASHED, MAX_ATTEMPTS, NotificationSender
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.members import chat_member, till_member
from tests.utils.nudges import owe, stored


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    # Nothing here reaches Telegram: a bot pointing nowhere proves it.
    bot = build_bot("1:unused", "http://127.0.0.1:9")
    yield bot
    await bot.session.close()


async def claimed(uow_factory: UnitOfWorkFactory, notification_id: int, clock: FixedClock) -> None:
    async with uow_factory() as uow:
        assert await uow.notifications.claim(notification_id, now=clock.now()) is not None
        await uow.commit()


async def test_a_row_left_sending_by_a_crash_is_failed_after_ten_minutes_not_sent_again(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, bot: Bot
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=901)
    crashed = await owe(uow_factory, clock, member, "birthday", year=2025)
    recent = await owe(uow_factory, clock, member, "birthday", year=2026)
    await claimed(uow_factory, crashed.id, clock)
    clock.advance(timedelta(minutes=1))
    await claimed(uow_factory, recent.id, clock)
    sender = NotificationSender(bot, uow_factory, clock, settings)

    clock.advance(timedelta(minutes=8, seconds=59))  # 9:59 since the first claim
    assert await sender.drain_once() == 0
    assert (await stored(uow_factory, crashed.id)).status == "sending", "ten minutes is not yet over"
    clock.advance(timedelta(seconds=2))
    assert await sender.drain_once() == 0
    failed = await stored(uow_factory, crashed.id)
    assert (failed.status, failed.last_error, failed.sent_at) == ("failed", CRASHED, None)
    assert (await stored(uow_factory, recent.id)).status == "sending"

    # The crashed sender wakes up after all: its claim is over, it cannot mark the row sent.
    async with uow_factory() as uow:
        assert not await uow.notifications.finish(
            crashed.id, claimed_at=clock.now() - timedelta(minutes=10, seconds=1), status="sent", at=clock.now()
        )
        await uow.commit()
    assert (await stored(uow_factory, crashed.id)).status == "failed"


async def test_a_claimed_row_is_not_claimed_again_and_a_held_one_not_before_its_time(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    row = await owe(uow_factory, clock, member, "anniversary", years=1)
    async with uow_factory() as uow:
        first = await uow.notifications.claim(row.id, now=clock.now())
        assert first is not None and first.status == "sending"
        assert await uow.notifications.claim(row.id, now=clock.now()) is None
        later = clock.now() + timedelta(hours=1)
        assert await uow.notifications.hold(row.id, claimed_at=clock.now(), until=later, error="quiet hours")
        assert await uow.notifications.due(now=clock.now(), limit=10) == []
        assert await uow.notifications.claim(row.id, now=clock.now()) is None
        assert await uow.notifications.due(now=later, limit=10) == [row.id]
        await uow.commit()


async def test_a_row_that_cannot_be_prepared_is_retried_then_failed(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, bot: Bot
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=902)
    broken = await owe(uow_factory, clock, member, "points_expiring")
    async with uow_factory() as uow:
        row = await uow.notifications.get(broken.id)
        assert row is not None
        row.payload = {"points": 5}  # no expiry: the text cannot be written
        await uow.commit()
    sender = NotificationSender(bot, uow_factory, clock, settings)
    for attempt in range(1, MAX_ATTEMPTS):
        assert await sender.drain_once() == 0
        retried = await stored(uow_factory, broken.id)
        assert (retried.status, retried.attempts, retried.last_error) == ("pending", attempt, "KeyError: 'expires_at'")
    assert await sender.drain_once() == 0
    assert (await stored(uow_factory, broken.id)).status == "failed"
