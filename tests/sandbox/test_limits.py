"""Flood limits: Telegram's 429 with retry_after, driven by an injectable clock."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import BufferedInputFile

from sandbox import SandboxLimits, SandboxServer, TokenBucket
from sandbox.limits import RateLimiter, retry_after_seconds
from tests.sandbox.conftest import FakeClock, png_bytes


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        assert bucket.wait_time() == 0.0
        bucket.take()
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.advance(0.25)
    assert bucket.wait_time() == pytest.approx(0.25)
    clock.advance(0.25)
    assert bucket.wait_time() == 0.0
    clock.advance(100)
    assert bucket.tokens == pytest.approx(3.0)  # never more than the burst


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.2) == 2
    assert retry_after_seconds(29.5) == 30


def test_refused_sends_do_not_consume_the_other_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(SandboxLimits(global_rate=1.0, global_burst=2, per_chat_burst=1), clock)
    assert limiter.acquire(1) == 0.0
    assert limiter.acquire(1) > 0  # per-chat refusal must not spend the global token...
    assert limiter.acquire(2) == 0.0  # ...which chat 2 still gets
    assert limiter.acquire(3) > 0


async def test_per_chat_limit_answers_429_then_recovers(
    sandbox: SandboxServer, bot: Bot, fake_clock: FakeClock
) -> None:
    ann = sandbox.add_user("Ann")
    bob = sandbox.add_user("Bob")
    for i in range(3):  # the default burst into one chat
        await bot.send_message(ann.id, f"burst {i}")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(ann.id, "one too many")
    assert error.value.retry_after == 1
    assert error.value.message.endswith("Original description: Too Many Requests: retry after 1")
    # The wire format is Telegram's, byte for byte in its fields.
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.base_url}/bot{sandbox.token}/sendMessage"
        async with http.post(url, json={"chat_id": ann.id, "text": "raw"}) as resp:
            assert resp.status == 429
            assert await resp.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
    assert sandbox.stats.rate_limited == 2
    assert sandbox.stats.rate_limited_by_chat[ann.id] == 2
    # Another chat is unaffected, and edits are not rate limited.
    await bot.send_message(bob.id, "hi Bob")
    first = sandbox.messages(ann)[0]
    await bot.edit_message_text(text="edited", chat_id=ann.id, message_id=first.message_id)

    fake_clock.advance(error.value.retry_after)
    await bot.send_message(ann.id, "after waiting")
    assert [m.text for m in sandbox.messages(ann)][-1] == "after waiting"
    # The refused message was never stored.
    assert "one too many" not in [m.text for m in sandbox.messages(ann)]
    assert sandbox.stats.total_sends == 5


async def test_global_limit_across_chats(
    sandbox: SandboxServer, bot: Bot, fake_clock: FakeClock
) -> None:
    sandbox.set_limits(SandboxLimits(global_rate=30.0, global_burst=30, per_chat_rate=None))
    users = [sandbox.add_user(f"Member {i}") for i in range(31)]
    for user in users[:30]:
        await bot.send_message(user.id, "news")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_photo(users[30].id, BufferedInputFile(png_bytes(2, 2), "p.png"))
    assert error.value.retry_after >= 1
    fake_clock.advance(1 / 30)  # one token's worth
    await bot.send_message(users[30].id, "news")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_location(users[0].id, latitude=1, longitude=2)
    assert sandbox.stats.rate_limited == 2
    assert sandbox.stats.max_sends_in_window(1.0) == 31  # the fake clock barely moved


async def test_disabled_limits_allow_a_burst_of_200(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    user = sandbox.add_user("Ann")
    results = await asyncio.gather(*(bot.send_message(user.id, f"#{i}") for i in range(200)))
    assert len({m.message_id for m in results}) == 200
    assert sandbox.stats.rate_limited == 0
    assert len(sandbox.messages(user)) == 200
    assert sandbox.stats.calls["sendMessage"] == 200


async def test_sustained_rate_is_measured_on_the_sandbox_clock(
    sandbox: SandboxServer, bot: Bot, fake_clock: FakeClock
) -> None:
    sandbox.set_limits(SandboxLimits(global_rate=30.0, global_burst=1, per_chat_rate=None))
    users = [sandbox.add_user(f"M{i}") for i in range(10)]
    refused = 0
    sent = 0
    while sent < 10:
        try:
            await bot.send_message(users[sent].id, "promo")
            sent += 1
        except TelegramRetryAfter:
            refused += 1
            fake_clock.advance(1 / 30)
    assert refused == 9
    assert sandbox.stats.sustained_rate() == pytest.approx(30.0)
    assert sandbox.stats.max_sends_in_window(1.0) == 10
