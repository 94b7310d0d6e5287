"""How fresh the nearest-store search's in-memory store map is, on a real database: a store
written in this process is found (or gone) at the next search, whatever wrote it; one written by
another process (another factory, with a cache of its own) once the map is older than the ttl;
and a unit of work sees its own uncommitted store writes, which never reach the map."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert

from db.models import Store
from db.program_cache import ProgramCache
from db.uow import UnitOfWorkFactory
from loyalty import geo
from loyalty.clock import FixedClock
from loyalty.stores import StoreSpec, create_store, find_store, import_stores, nearest_stores
from tests.utils.stores import SHANGHAI, add_stores, located_store

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
LAT, LON = SHANGHAI
METRE = 1 / 111_195  # a metre of latitude, in degrees
TTL = 5.0


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def factory_with(uow_factory: UnitOfWorkFactory, clock: Clock) -> UnitOfWorkFactory:
    """Another process on the same database, as far as caching goes: a cache of its own."""
    return UnitOfWorkFactory(uow_factory.session_factory, uow_factory.cipher, ProgramCache(ttl=TTL, clock=clock))


async def nearest(factory: UnitOfWorkFactory) -> list[str]:
    async with factory() as uow:
        return [hit.store.code for hit in await nearest_stores(uow, LAT, LON, now=NOW, radius_m=5_000, limit=5)]


async def test_this_process_sees_its_own_writes_at_the_next_search(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    here = factory_with(uow_factory, Clock())  # its clock never moves: only invalidation refreshes
    await add_stores(here, [located_store("A", LAT + 300 * METRE, LON, clock),
                            located_store("B", LAT + 600 * METRE, LON, clock)])
    assert await nearest(here) == ["A", "B"]

    async with here() as uow:  # created through the rules
        await create_store(uow, clock, StoreSpec("C", "Corner", latitude=LAT + 100 * METRE, longitude=LON),
                           default_timezone="Asia/Shanghai", actor="test")
    assert await nearest(here) == ["C", "A", "B"]

    async with here() as uow:  # moved out of range by an import
        await import_stores(uow, clock, f"code,name,latitude,longitude\nC,Corner,{LAT + 0.5},{LON}\n",
                            default_timezone="Asia/Shanghai", actor="test")
    assert await nearest(here) == ["A", "B"]

    async with here() as uow:  # closed down by a change to the row
        (await find_store(uow, "A")).active = False
        await uow.commit()
    assert await nearest(here) == ["B"]

    async with here() as uow:  # inserted by a statement, as bulk loads do, not by a flush
        await uow.session.execute(insert(Store), [{
            "code": "D", "name": "Bulk", "city": None, "timezone": "Asia/Shanghai", "active": True,
            "created_at": clock.now(), "address": None, "latitude": LAT, "longitude": LON,
            "geo_cell": geo.cell_of(LAT, LON), "opening_hours": None,
        }])
        await uow.commit()
    assert await nearest(here) == ["D", "B"]


async def test_another_process_writes_are_seen_once_the_map_is_older_than_the_ttl(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    ticks = Clock()
    here, there = factory_with(uow_factory, ticks), factory_with(uow_factory, Clock())
    await add_stores(there, [located_store("A", LAT + 300 * METRE, LON, clock)])
    assert await nearest(here) == ["A"]

    async with there() as uow:
        await create_store(uow, clock, StoreSpec("N", "New", latitude=LAT + 100 * METRE, longitude=LON),
                           default_timezone="Asia/Shanghai", actor="test")
    ticks.now += TTL - 0.01
    assert await nearest(here) == ["A"], "within the ttl, the map this process read is answered from"
    ticks.now += 0.01
    assert await nearest(here) == ["N", "A"]

    async with there() as uow:
        (await find_store(uow, "N")).active = False
        await uow.commit()
    assert await nearest(here) == ["N", "A"]
    ticks.now += TTL
    assert await nearest(here) == ["A"]


async def test_uncommitted_store_writes_are_seen_by_their_unit_of_work_only(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    here = factory_with(uow_factory, Clock())
    await add_stores(here, [located_store("A", LAT + 300 * METRE, LON, clock)])
    assert await nearest(here) == ["A"]
    async with here() as uow:
        await uow.program.add_store(located_store("MAYBE", LAT + 100 * METRE, LON, clock))
        hits = await nearest_stores(uow, LAT, LON, now=NOW, radius_m=5_000, limit=5)
        assert [hit.store.code for hit in hits] == ["MAYBE", "A"]
        await uow.rollback()
        hits = await nearest_stores(uow, LAT, LON, now=NOW, radius_m=5_000, limit=5)
        assert [hit.store.code for hit in hits] == ["A"], "rolled back: searched in the map again"
    assert await nearest(here) == ["A"], "the rolled-back store never reached the map"


async def test_a_map_read_before_a_commit_elsewhere_in_this_process_is_not_kept(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one transaction at a time in a process: nothing reads between a write and its commit")
    here = factory_with(uow_factory, Clock())
    await add_stores(here, [located_store("A", LAT + 300 * METRE, LON, clock)])
    async with here() as writer:
        await writer.program.add_store(located_store("N", LAT + 100 * METRE, LON, clock))  # flushed
        assert await nearest(here) == ["A"], "another unit of work reads the map without N: not committed"
        await writer.commit()
    assert await nearest(here) == ["N", "A"], "the commit ended the map read in between"
