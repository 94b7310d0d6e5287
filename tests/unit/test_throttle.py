"""The broadcast throttle on virtual time (tests/utils/virtual_time.py): the ramp after an idle
spell, one chat's own interval, a 429's pause. The throttle reads its time from the running
loop, so these times are exact, however busy the machine is."""

from __future__ import annotations

import asyncio
import math

import pytest

from bot.throttle import Throttle
from tests.utils.virtual_time import on_virtual_time

EPSILON = 1e-9  # float rounding of the loop's time, nothing more


async def send_times(throttle: Throttle, chats: range) -> list[float]:
    loop = asyncio.get_running_loop()
    times = []
    for chat in chats:
        await throttle.acquire(chat)
        times.append(loop.time())
    return times


@on_virtual_time
async def test_the_rate_rises_over_the_ramp_then_holds_the_limit() -> None:
    rate, ramp = 200.0, 0.5
    throttle = Throttle(rate, None, ramp_seconds=ramp)
    times = await send_times(throttle, range(150))
    start = times[0]
    on_ramp = int(rate * ramp / 2)  # 50 sends while the rate rises from 0 to 200 a second
    for n in range(on_ramp):
        assert times[n] - start >= math.sqrt(2 * n * ramp / rate) - EPSILON, f"send {n} left early"
    assert times[on_ramp - 1] - start >= 0.48, "the ramp takes its half second"
    after = times[-1] - times[on_ramp]
    # The last 100 at 200 a second, less what the bucket's burst of 5 lets go at once.
    assert 0.47 <= after <= 0.485, after


@on_virtual_time
async def test_after_an_idle_spell_the_ramp_starts_again_but_not_between_close_sends() -> None:
    throttle = Throttle(200.0, None, ramp_seconds=0.5, idle_seconds=0.2)
    await send_times(throttle, range(60))  # through the ramp
    busy = await send_times(throttle, range(100, 110))
    assert busy[-1] - busy[0] <= 9 / 200 + EPSILON, "a send right after the last is on the full rate"
    await asyncio.sleep(0.3)  # idle longer than idle_seconds
    again = await send_times(throttle, range(200, 210))
    assert again[-1] - again[0] >= math.sqrt(2 * 9 * 0.5 / 200) - EPSILON, "idle: the ramp again"


@on_virtual_time
async def test_one_chat_waits_its_own_interval_while_others_go() -> None:
    throttle = Throttle(None, 5.0)  # one message per 0.2 s per chat, no global limit
    loop = asyncio.get_running_loop()
    await throttle.acquire(1)
    first = loop.time()
    other = asyncio.create_task(throttle.acquire(2))
    second_to_one = asyncio.create_task(throttle.acquire(1))
    await other
    assert loop.time() == first, "another chat does not wait"
    await second_to_one
    assert loop.time() - first == pytest.approx(0.2, abs=EPSILON)


@on_virtual_time
async def test_a_pause_stops_every_send_for_its_seconds() -> None:
    throttle = Throttle(None, None)
    loop = asyncio.get_running_loop()
    throttle.pause(0.3)
    assert throttle.paused_for == pytest.approx(0.3, abs=EPSILON)
    started = loop.time()
    await asyncio.gather(throttle.acquire(1), throttle.acquire(2))
    assert loop.time() - started == pytest.approx(0.3, abs=EPSILON)
    assert throttle.paused_for == 0.0


@on_virtual_time
async def test_a_send_cancelled_while_waiting_frees_its_chat() -> None:
    throttle = Throttle(30.0, 1.0, ramp_seconds=0.0)
    throttle.pause(0.2)
    waiting = asyncio.create_task(throttle.acquire(7))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await throttle.acquire(7)
    # Only the pause's remaining 0.15 s, not the chat held forever or a second's interval.
    assert loop.time() - started == pytest.approx(0.15, abs=EPSILON)


@on_virtual_time
async def test_chats_whose_wait_is_over_are_forgotten() -> None:
    # Memory follows the rate, not the audience: a chat is remembered only while it must wait.
    throttle = Throttle(None, 20.0)  # 0.05 s between two messages into one chat
    await send_times(throttle, range(200))
    assert throttle.chats_remembered == 200
    await asyncio.sleep(1.1)  # past every chat's interval and the sweep's period
    await throttle.acquire(999)
    assert throttle.chats_remembered == 1
