"""How fast the bot's own sends may go: Telegram's global budget, one chat's budget, and a
pause when Telegram says "too many requests" anyway.

One Throttle per bot process is shared by everything that sends unasked: campaigns and
nudges (replies to a member's own message are not throttled here; the ordered-delivery
middleware waits out their rare 429). Telegram counts every message of the bot against one
budget, so two senders each keeping 30 msg/s would together be refused half the time.

The global budget is a leaky bucket (aiolimiter) with a small burst: Telegram counts with a
bucket of its own, and a sender that never bursts above a few messages leaves the rest of
Telegram's allowance for the jitter between our send and its receipt, so the limit is met
without a single 429. A chat gets at most `per_chat_rate` messages a second: the time each
chat may be written to next is remembered for as long as it matters (a second or so), so
memory follows the rate, not the audience. A member in two campaigns that send at once waits
here, not in Telegram's 429.

A 429 means something else used the budget too (replies, a second process): the whole
bucket stops for `retry_after`, as Telegram asks, and every worker waits it out before its
next send.

After an idle spell the rate starts low and rises to the limit over RAMP_SECONDS. Sends
leave evenly, but the first ones each open a connection, and connections are ready when they
are ready: at 1,000 msg/s the first few dozen sends reached Telegram in one bunch, beyond
its burst, and a 429 there stops the whole broadcast for a second. Rising linearly, the ramp
costs half of RAMP_SECONDS once per broadcast.
"""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

# The burst the sender allows itself: a tenth of a second of sends, within 1..5. Telegram's
# own bucket (the sandbox's: 30) is deeper; what it holds beyond ours absorbs the jitter
# between our send and its receipt, which at 1,000 msg/s leaves 25 ms.
MAX_BURST = 5
PRUNE_EVERY = 1.0  # seconds between sweeps of chats whose wait is over
RAMP_SECONDS = 0.5  # from idle to the full rate
IDLE_SECONDS = 5.0  # no send for this long: connections may have closed, ramp again


def burst_for(rate: float) -> int:
    return max(1, min(MAX_BURST, math.floor(rate / 10)))


class Throttle:
    """`await throttle.acquire(chat_id)` before each send; `pause(seconds)` after a 429.

    rate / per_chat_rate None: that limit is off."""

    def __init__(
        self,
        rate: float | None,
        per_chat_rate: float | None,
        *,
        ramp_seconds: float = RAMP_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.rate = rate
        self.per_chat_rate = per_chat_rate
        self._limiter = (
            AsyncLimiter(burst_for(rate), burst_for(rate) / rate) if rate is not None else None
        )
        self._chat_interval = 1.0 / per_chat_rate if per_chat_rate is not None else 0.0
        # chat id -> loop time before which it must not be written to again
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0
        self._pruned_at = 0.0
        self._ramp_seconds = ramp_seconds
        self._idle_seconds = idle_seconds
        self._ramp_from = -math.inf  # loop time the current ramp began
        self._ramp_sends = 0  # sends counted since then
        self._last_send = -math.inf

    @property
    def paused_for(self) -> float:
        """Seconds the bucket stays paused after a 429 (0.0: not paused)."""
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    def pause(self, seconds: float) -> None:
        """Stop every send for `seconds` (Telegram's retry_after)."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message may go to `chat_id` now, and count it."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            wait = max(self._paused_until, self._chat_next.get(chat_id, 0.0)) - now
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            # Hold the chat while waiting for the global budget, so a second send to it (another
            # campaign) cannot slip in between; its own interval starts when this one goes.
            self._chat_next[chat_id] = math.inf
            if self._limiter is not None:
                try:
                    await self._ramp()
                    await self._limiter.acquire()
                except BaseException:
                    self._chat_next.pop(chat_id, None)  # cancelled: the chat is free again
                    raise
            now = loop.time()
            self._chat_next[chat_id] = now + self._chat_interval
            if now >= self._paused_until:
                break
            # A 429 paused everything while this send waited for its turn: wait it out too.
        self._prune(now)

    async def _ramp(self) -> None:
        """Wait for this send's turn on the ramp: with the rate rising linearly from 0 to
        `rate` over the ramp's T seconds, the n-th send is due sqrt(2 n T / rate) in."""
        assert self.rate is not None
        now = asyncio.get_running_loop().time()
        if now - self._last_send > self._idle_seconds:
            self._ramp_from, self._ramp_sends = now, 0
        self._last_send = now
        n = self._ramp_sends
        self._ramp_sends += 1
        if n >= self.rate * self._ramp_seconds / 2:  # the ramp is over
            return
        wait = self._ramp_from + math.sqrt(2 * n * self._ramp_seconds / self.rate) - now
        if wait > 0:
            await asyncio.sleep(wait)

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        for chat_id in [chat for chat, until in self._chat_next.items() if until <= now]:
            del self._chat_next[chat_id]

    @property
    def chats_remembered(self) -> int:
        return len(self._chat_next)
