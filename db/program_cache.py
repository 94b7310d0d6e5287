"""A short-lived, per-process cache of the program's configuration for hot read paths.

Every purchase needs the tier ladder, the active earning rules and its store; they change a few
times a year. The cache is cleared by any flush in this process that writes a tier, rule or
store (whatever code path did it), and entries expire after `ttl` seconds so a change made by
another process is seen within that time. Entries are plain immutable values built from the
rows, never ORM objects: those belong to the session that loaded them, and a rollback there would
expire them under every other unit of work reading the cache (write paths use the uncached
repository methods and change the rows themselves). A session with uncommitted configuration
writes neither reads nor fills the entries (`serves`).

Snapshots (`snapshot`) are the same promise for a whole table kept in memory, such as every store
on the map for the nearest-store search: what differs is that rebuilding one costs a read of the
whole table, so a stale snapshot is only rebuilt when that pays for itself (see `snapshot`).
Besides flushes, insert/update/delete statements executed through a watched session clear the
cache, so does the commit of a session that wrote configuration (another session may have
refilled the cache from the old rows in between), and a session with such uncommitted writes is
never served a snapshot, nor builds one: it must read its own writes, and they must not leak
into the cache if it rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from db.models import EarningRule, Store, Tier

CONFIG_TYPES = (Tier, EarningRule, Store)
CONFIG_TABLES = frozenset(kind.__table__ for kind in CONFIG_TYPES)
MAX_ENTRIES = 10_000
# A snapshot that takes long to build is kept for longer than `ttl`: up to this many times its
# build time (so a busy process spends at most about 2% of its time rebuilding), never longer
# than MAX_SNAPSHOT_TTL.
SNAPSHOT_TTL_PER_BUILD_SECOND = 50
MAX_SNAPSHOT_TTL = 60.0
# session.info key: this session has written configuration that is not committed yet.
PENDING_CONFIG = "program_cache.pending"

T = TypeVar("T")


@dataclass
class _Snapshot:
    value: Any = None
    generation: int = -1  # the cache's generation it was built in; older ones are invalid
    expires: float = 0.0
    size: int | None = None  # rows read by the last build: what a rebuild costs
    demand: int = 0  # lookups since the last build
    building: bool = False


class ProgramCache:
    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._snapshots: dict[Any, _Snapshot] = {}
        self.generation = 0  # moves on with every invalidation

    def serves(self, session: Session) -> bool:
        """Whether `session` may read and fill the entries: not while it has uncommitted
        configuration writes (it must read its own writes, and they must not outlive a rollback)."""
        return self.ttl > 0 and not session.info.get(PENDING_CONFIG)

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
        self.generation += 1

    async def snapshot(
        self,
        key: Any,
        session: Session,
        load: Callable[[], Awaitable[tuple[T, int]]],
        *,
        rows_per_lookup: float,
    ) -> T | None:
        """A cached whole-table value, or None: then the caller reads the database itself.

        `load()` reads the table in `session` and returns the value and the rows it read.

        Freshness: a snapshot is used for `ttl` seconds from the moment its load began, or for
        SNAPSHOT_TTL_PER_BUILD_SECOND times as long as the load took if that is longer (but at
        most MAX_SNAPSHOT_TTL): so an answer never reflects the table as it was longer ago than
        that, and a changed table is read again at most every few seconds however big it is. A
        write in this process ends it at once (see the module docstring).

        Cost: a stale snapshot is rebuilt by the lookup that finds it stale, unless rebuilding
        does not pay. A build costs about as much as `size / rows_per_lookup` lookups through
        the database, so it waits until that many lookups have asked since the last build
        (rent or buy): a busy process rebuilds at once, a quiet one keeps asking the database
        rather than reading the whole table for every lookup. The first build is made at once.

        None also when caching is off (ttl 0), when `session` has uncommitted configuration
        writes, and while another lookup is rebuilding."""
        if not self.serves(session):
            return None
        entry = self._snapshots.setdefault(key, _Snapshot())
        entry.demand += 1
        started = self._clock()
        if entry.generation == self.generation and entry.expires > started:
            return entry.value  # type: ignore[no-any-return]
        if entry.building or (entry.size is not None and entry.demand * rows_per_lookup < entry.size):
            return None
        generation = self.generation
        entry.building = True
        try:
            value, size = await load()
        finally:
            entry.building = False
        entry.size, entry.demand = size, 0
        if generation == self.generation:  # else invalidated while loading: good for this lookup only
            took = self._clock() - started
            entry.value, entry.generation = value, generation
            entry.expires = started + max(self.ttl, min(MAX_SNAPSHOT_TTL, took * SNAPSHOT_TTL_PER_BUILD_SECOND))
        return value

    def watch(self, session: Session) -> None:
        """Clear the cache when `session` flushes a change to the configuration."""

        def pending(writer: Session) -> None:
            writer.info[PENDING_CONFIG] = True
            self.invalidate()

        def before_flush(flushing: Session, _context: Any, _instances: Any) -> None:
            for obj in (*flushing.new, *flushing.dirty, *flushing.deleted):
                if isinstance(obj, CONFIG_TYPES):
                    pending(flushing)
                    return

        def do_orm_execute(state: ORMExecuteState) -> None:
            if state.statement.is_dml and getattr(state.statement, "table", None) in CONFIG_TABLES:
                pending(state.session)

        def after_commit(committed: Session) -> None:
            if committed.info.get(PENDING_CONFIG):
                self.invalidate()

        def after_transaction_end(ended: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is None:
                ended.info.pop(PENDING_CONFIG, None)

        from sqlalchemy import event

        event.listen(session, "before_flush", before_flush)
        event.listen(session, "do_orm_execute", do_orm_execute)
        event.listen(session, "after_commit", after_commit)
        event.listen(session, "after_transaction_end", after_transaction_end)
