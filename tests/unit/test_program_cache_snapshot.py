"""The rules of a whole-table snapshot in the program cache (db/program_cache.py): when it is
served, when it is rebuilt, when the caller is sent to the database instead, and how long a
snapshot lives. The table read is stood in for by a counter: what is under test is the cache."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session

from db.program_cache import MAX_SNAPSHOT_TTL, ProgramCache

KEY = ("table",)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Table:
    """A table of `size` rows whose every read is counted; a read can take time on `clock`."""

    def __init__(self, clock: Clock, size: int, read_seconds: float = 0.0) -> None:
        self.clock, self.size, self.read_seconds, self.reads = clock, size, read_seconds, 0

    async def load(self) -> tuple[str, int]:
        self.reads += 1
        self.clock.now += self.read_seconds
        return f"snapshot {self.reads}", self.size


def ask(cache: ProgramCache, table: Table, session: Session | None = None, per_lookup: float = 100) -> str | None:
    return asyncio.run(cache.snapshot(KEY, session or Session(), table.load, rows_per_lookup=per_lookup))


def test_built_at_once_then_served_until_the_ttl_from_when_its_read_began() -> None:
    clock = Clock()
    cache, table = ProgramCache(ttl=5, clock=clock), Table(clock, size=10)
    assert ask(cache, table) == "snapshot 1"
    clock.now += 4.99
    assert ask(cache, table) == "snapshot 1"
    clock.now += 0.01
    assert ask(cache, table) == "snapshot 2", "a busy process rebuilds as soon as it is stale"
    assert table.reads == 2


def test_an_invalidation_ends_it_at_once() -> None:
    clock = Clock()
    cache, table = ProgramCache(ttl=5, clock=clock), Table(clock, size=10)
    ask(cache, table)
    cache.invalidate()
    assert ask(cache, table) == "snapshot 2"


def test_a_quiet_process_asks_the_database_until_a_rebuild_pays_for_itself() -> None:
    clock = Clock()
    # 1,000 rows cost as much as 10 lookups through the database at 100 rows a lookup.
    cache, table = ProgramCache(ttl=5, clock=clock), Table(clock, size=1000)
    assert ask(cache, table) == "snapshot 1", "the first build is made at once"
    assert ask(cache, table) == "snapshot 1"  # 1 lookup since the build
    clock.now += 60
    answers = [ask(cache, table) for _ in range(8)]  # lookups 2-9 since the build
    assert answers == [None] * 8 and table.reads == 1
    assert ask(cache, table) == "snapshot 2", "the 10th lookup since the last build rebuilds"
    assert ask(cache, table) == "snapshot 2"


def test_one_that_took_long_to_read_lives_longer_but_never_more_than_the_cap() -> None:
    clock = Clock()
    cache, table = ProgramCache(ttl=5, clock=clock), Table(clock, size=10, read_seconds=0.4)
    started = clock.now
    ask(cache, table)  # read in 0.4 s: kept for 50 x 0.4 = 20 s from when the read began
    clock.now = started + 19.9
    assert ask(cache, table) == "snapshot 1"
    clock.now = started + 20.0
    assert ask(cache, table) == "snapshot 2"
    cache, table = ProgramCache(ttl=5, clock=clock), Table(clock, size=10, read_seconds=10.0)
    started = clock.now
    ask(cache, table)  # 50 x 10 s would be 500 s
    clock.now = started + MAX_SNAPSHOT_TTL - 0.1
    assert ask(cache, table) == "snapshot 1"
    clock.now = started + MAX_SNAPSHOT_TTL
    assert ask(cache, table) == "snapshot 2"


def test_a_snapshot_read_while_the_cache_was_invalidated_serves_only_its_own_lookup() -> None:
    clock = Clock()
    cache = ProgramCache(ttl=5, clock=clock)

    class ChangedWhileRead(Table):
        async def load(self) -> tuple[str, int]:
            value = await super().load()
            if self.reads == 1:
                cache.invalidate()  # a write committed in this process meanwhile
            return value

    table = ChangedWhileRead(clock, size=10)
    assert ask(cache, table) == "snapshot 1"
    assert ask(cache, table) == "snapshot 2", "the first read may predate the write: not kept"
    assert ask(cache, table) == "snapshot 2"


def test_only_one_lookup_rebuilds_at_a_time() -> None:
    clock = Clock()
    cache = ProgramCache(ttl=5, clock=clock)
    session = Session()

    async def both() -> list[str | None]:
        release = asyncio.Event()

        async def slow_load() -> tuple[str, int]:
            await release.wait()
            return "built", 10

        first = asyncio.create_task(cache.snapshot(KEY, session, slow_load, rows_per_lookup=100))
        await asyncio.sleep(0)
        second = await cache.snapshot(KEY, session, slow_load, rows_per_lookup=100)
        release.set()
        return [await first, second]

    assert asyncio.run(both()) == ["built", None], "the second goes to the database meanwhile"


def test_no_snapshots_without_a_ttl() -> None:
    clock = Clock()
    cache, table = ProgramCache(ttl=0, clock=clock), Table(clock, size=10)
    assert [ask(cache, table), ask(cache, table)] == [None, None] and table.reads == 0
