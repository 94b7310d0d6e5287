"""Rate limits of the API, counted by the `limits` library over moving windows.

Three limits (settings, in limits' notation such as "1200/minute"):
- requests per API key (`API_RATE_LIMIT`);
- failed authentications per client address (`AUTH_FAILURE_LIMIT`): a scanner trying keys;
- failed authentications per presented key (`AUTH_FAILURE_LIMIT_PER_KEY`): a till retrying a
  revoked or expired key in a loop is stopped by this one before it blocks its whole shop's
  address for the other tills.

A blocked address or key gets 429 with Retry-After and costs no database query. Counts are
kept in this process's memory, or in Redis when REDIS_URL is set, so that several API processes
count together. When Redis cannot be reached, requests go through uncounted (and the error is
logged): a till must not stop selling because the guard's storage is down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from loyalty.config import Settings

log = logging.getLogger(__name__)

NAMESPACE = "loyalty:api"


def storage_for(redis_url: str | None, *, key_prefix: str = NAMESPACE) -> Storage:
    if not redis_url:
        return cast(Storage, storage_from_string("async+memory://"))
    # redis-py is already a dependency (the bot's state); limits' default client is coredis.
    return cast(
        Storage,
        storage_from_string(f"async+{redis_url}", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True),
    )


@dataclass(frozen=True)
class Refusal:
    """Over a limit: wait `retry_after` seconds. `first` is true for the first request refused
    in a window (the moment to audit), false for those refused after it."""

    retry_after: int
    first: bool
    limit: RateLimitItem


def _once_per_window(item: RateLimitItem) -> RateLimitItem:
    return parse(f"1/{item.get_expiry()} seconds")


class RateLimits:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.storage = storage or storage_for(settings.redis_url)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self.per_key: RateLimitItem = parse(settings.api_rate_limit)
        self.failures_per_address: RateLimitItem = parse(settings.auth_failure_limit)
        self.failures_per_key: RateLimitItem = parse(settings.auth_failure_limit_per_key)

    def _failure_limits(self, address: str, key_prefix: str | None) -> list[tuple[RateLimitItem, str, str]]:
        limits = [(self.failures_per_address, "failed-auth", address)]
        if key_prefix:
            limits.append((self.failures_per_key, "failed-auth-key", key_prefix))
        return limits

    @staticmethod
    async def _or_allow(check: Awaitable[bool]) -> bool:
        try:
            return await check
        except StorageError as error:
            log.error("rate limits unavailable, letting the request through: %r", error.storage_error)
            return True

    async def _refusal(self, item: RateLimitItem, kind: str, identifier: str) -> Refusal:
        stats = await self._limiter.get_window_stats(item, kind, identifier)
        # Worth one audit row per window: the first refusal, not the hundred after it.
        first = await self._limiter.hit(_once_per_window(item), f"{kind}-refused", identifier)
        return Refusal(max(1, math.ceil(stats.reset_time - time.time())), first, item)

    async def blocked(self, address: str, key_prefix: str | None) -> Refusal | None:
        """Whether failed authentications block this caller now (before looking its key up)."""
        for item, kind, identifier in self._failure_limits(address, key_prefix):
            if not await self._or_allow(self._limiter.test(item, kind, identifier)):
                return await self._refusal(item, kind, identifier)
        return None

    async def failed(self, address: str, key_prefix: str | None) -> Refusal | None:
        """Count a failed authentication; a refusal only when a concurrent one used up the limit."""
        for item, kind, identifier in self._failure_limits(address, key_prefix):
            if not await self._or_allow(self._limiter.hit(item, kind, identifier)):
                return await self._refusal(item, kind, identifier)
        return None

    async def first_failure(self, address: str) -> bool:
        """Whether this failure is the address's first of a window (the one to audit)."""
        return await self._or_allow(
            self._limiter.hit(_once_per_window(self.failures_per_address), "failed-auth-audit", address)
        )

    async def request(self, key_id: int) -> Refusal | None:
        """Count a request by an authenticated key; the refusal if it is over the key's limit."""
        if await self._or_allow(self._limiter.hit(self.per_key, "key", str(key_id))):
            return None
        return await self._refusal(self.per_key, "key", str(key_id))

    async def reset(self) -> None:
        await self.storage.reset()
