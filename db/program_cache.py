"""A short-lived, per-process cache of the program's configuration for hot read paths.

Every purchase needs the tier ladder, the active earning rules and its store; they change a few
times a year. The cache is cleared by any flush in this process that writes a tier, rule or
store (whatever code path did it), and entries expire after `ttl` seconds so a change made by
another process is seen within that time. Cached objects are detached copies: read them, never
change them (write paths use the uncached repository methods).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from db.models import EarningRule, Store, Tier

CONFIG_TYPES = (Tier, EarningRule, Store)
MAX_ENTRIES = 10_000


class ProgramCache:
    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl, value)

    def invalidate(self) -> None:
        self._entries.clear()

    def watch(self, session: Session) -> None:
        """Clear the cache when `session` flushes a change to the configuration."""

        def before_flush(flushing: Session, _context: Any, _instances: Any) -> None:
            for obj in (*flushing.new, *flushing.dirty, *flushing.deleted):
                if isinstance(obj, CONFIG_TYPES):
                    self.invalidate()
                    return

        from sqlalchemy import event

        event.listen(session, "before_flush", before_flush)
