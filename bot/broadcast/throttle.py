"""How fast a broadcast may go: Telegram's global budget, one chat's budget, and a pause when
Telegram says "too many requests" anyway.

The global budget is a leaky bucket (aiolimiter) with a small burst: Telegram counts with a
bucket of its own, and a sender that never bursts above a few messages leaves the rest of
Telegram's allowance for the jitter between our send and its receipt, so the limit is met
without a single 429. A chat gets at most `per_chat_rate` messages a second: the time each
chat may be written to next is remembered for as long as it matters (a second or so), so
memory follows the rate, not the audience. A member in two campaigns that send at once waits
here, not in Telegram's 429.

A 429 means another sender in the same bot (replies, nudges, a second process) used the
budget too: the whole bucket stops for `retry_after`, as Telegram asks, and every worker
waits it out before its next send.
"""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

# The burst the sender allows itself, at most: a tenth of a second of sends, within 1..10.
# Telegram's own bucket (and the sandbox's, 30) is far deeper, which absorbs network jitter.
MAX_BURST = 10
PRUNE_EVERY = 1.0  # seconds between sweeps of chats whose wait is over


def burst_for(rate: float) -> int:
    return max(1, min(MAX_BURST, math.floor(rate / 10)))


class Throttle:
    """`await throttle.acquire(chat_id)` before each send; `pause(seconds)` after a 429.

    rate / per_chat_rate None: that limit is off."""

    def __init__(self, rate: float | None, per_chat_rate: float | None) -> None:
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

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        for chat_id in [chat for chat, until in self._chat_next.items() if until <= now]:
            del self._chat_next[chat_id]

    @property
    def chats_remembered(self) -> int:
        return len(self._chat_next)
