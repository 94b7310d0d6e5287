"""Telegram's limits as configuration, and the token buckets that enforce the flood limits.

Telegram documents "about 30 messages per second" in total and "about one message per second"
into a single chat, tolerating short bursts; beyond that it answers 429 with ``retry_after``.
A token bucket models exactly that: ``rate`` tokens per second refill a bucket of ``burst``
tokens, every accepted send takes one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

Clock = Callable[[], float]
"""A monotonic clock in seconds; ``time.monotonic`` unless a test injects a fake one."""


@dataclass(frozen=True)
class SandboxLimits:
    """Every limit the sandbox enforces; ``None`` disables that limit.

    Rate limits apply to the sending methods only (sendMessage, sendPhoto, sendDocument, sendLocation,
    sendVenue). Edits, deletions, chat actions and callback answers are not rate limited:
    Telegram throttles those separately and far more loosely, and the project only needs the
    broadcast limits to be exact.
    """

    global_rate: float | None = 30.0
    """Accepted sends per second across all chats."""
    global_burst: int = 30
    """How many sends may go out at once before the global rate applies."""
    per_chat_rate: float | None = 1.0
    """Accepted sends per second into one chat."""
    per_chat_burst: int = 3
    """Telegram tolerates a short burst into one private chat (a reply plus a keyboard...)."""
    max_text_length: int | None = 4096
    """Characters of message text after entity parsing."""
    max_caption_length: int | None = 1024
    """Characters of a media caption after entity parsing."""
    max_callback_data_bytes: int | None = 64
    """UTF-8 bytes of an inline button's callback_data."""
    max_callback_answer_length: int | None = 200
    """Characters of answerCallbackQuery text."""
    max_photo_bytes: int | None = 10 * 1024 * 1024
    """Size of an uploaded photo."""
    max_document_bytes: int | None = 50 * 1024 * 1024
    """Size of a file a bot uploads (Telegram's limit for bots, 50 MB)."""

    @classmethod
    def without_rate_limits(cls) -> SandboxLimits:
        """Telegram's content limits but no flood control (for tests that send in bursts)."""
        return cls(global_rate=None, per_chat_rate=None)

    def with_rates(
        self,
        *,
        global_rate: float | None,
        per_chat_rate: float | None,
        global_burst: int | None = None,
        per_chat_burst: int | None = None,
    ) -> SandboxLimits:
        """A copy with other rates (e.g. 1,000 msg/s for the paid-broadcast benchmark)."""
        return replace(
            self,
            global_rate=global_rate,
            per_chat_rate=per_chat_rate,
            global_burst=self.global_burst if global_burst is None else global_burst,
            per_chat_burst=self.per_chat_burst if per_chat_burst is None else per_chat_burst,
        )


class TokenBucket:
    """``burst`` tokens refilled at ``rate`` per second, read lazily from ``clock``."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated_at = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated_at = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def wait_time(self) -> float:
        """Seconds until one token is available; 0.0 if one is available now."""
        self._refill()
        # Tolerate float rounding: advancing a clock by exactly 1/rate must yield a token.
        if self._tokens >= 1.0 - 1e-9:
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        """Consume one token; call only after ``wait_time()`` returned 0."""
        self._refill()
        self._tokens = max(0.0, self._tokens - 1.0)


def retry_after_seconds(wait: float) -> int:
    """Telegram reports whole seconds, never 0: ``ceil(wait)`` and at least 1."""
    return max(1, math.ceil(wait - 1e-9))


class RateLimiter:
    """The global bucket plus one bucket per chat, built from a :class:`SandboxLimits`."""

    def __init__(self, limits: SandboxLimits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._global = (
            TokenBucket(limits.global_rate, limits.global_burst, clock)
            if limits.global_rate is not None
            else None
        )
        self._per_chat: dict[int, TokenBucket] = {}

    def _chat_bucket(self, chat_id: int) -> TokenBucket | None:
        if self.limits.per_chat_rate is None:
            return None
        bucket = self._per_chat.get(chat_id)
        if bucket is None:
            bucket = TokenBucket(self.limits.per_chat_rate, self.limits.per_chat_burst, self._clock)
            self._per_chat[chat_id] = bucket
        return bucket

    def acquire(self, chat_id: int) -> float:
        """Take a send slot for ``chat_id``: 0.0 if accepted, else seconds to wait.

        Both buckets are checked before either is consumed, so a send refused by the per-chat
        limit does not eat into the global budget (and vice versa).
        """
        chat_bucket = self._chat_bucket(chat_id)
        wait = 0.0
        if self._global is not None:
            wait = max(wait, self._global.wait_time())
        if chat_bucket is not None:
            wait = max(wait, chat_bucket.wait_time())
        if wait > 0.0:
            return wait
        if self._global is not None:
            self._global.take()
        if chat_bucket is not None:
            chat_bucket.take()
        return 0.0
