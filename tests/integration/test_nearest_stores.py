"""Nearest-store search through the grid index equals a brute-force oracle, searched in the
process's store map and through the database alike; open-now filtering; the CSV import is all
or nothing."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Store
from db.program_cache import ProgramCache
from db.uow import UnitOfWorkFactory
from loyalty import geo
from loyalty.clock import FixedClock
from loyalty.errors import InvalidInput, StoreImportRejected
from loyalty.stores import import_stores, nearest_stores
from tests.utils.stores import SHANGHAI, add_stores, located_store

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)  # Monday 12:00 in Shanghai


def oracle(stores: list[Store], lat: float, lon: float, radius_m: float, limit: int) -> list[tuple[str, float]]:
    hits = [
        (geo.distance_m(lat, lon, s.latitude, s.longitude), s.id, s.code)
        for s in stores
        if s.active and s.latitude is not None and s.longitude is not None
    ]
    return [(code, d) for d, _, code in sorted(h for h in hits if h[0] <= radius_m)[:limit]]


def fields(store: Store) -> tuple[object, ...]:
    """Everything a found store is shown with."""
    return (store.id, store.code, store.name, store.city, store.timezone, store.active, store.created_at,
            store.address, store.latitude, store.longitude, store.geo_cell, store.opening_hours)


@pytest.fixture(params=["store map", "database"])
def searching(request: pytest.FixtureRequest, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """Units of work that search the process's store map (the default), or the database: a
    program cache with no ttl keeps no map."""
    if request.param == "store map":
        return uow_factory
    return UnitOfWorkFactory(uow_factory.session_factory, uow_factory.cipher, ProgramCache(ttl=0))


async def test_nearest_equals_a_brute_force_scan_everywhere_on_the_map(
    uow_factory: UnitOfWorkFactory, searching: UnitOfWorkFactory, clock: FixedClock
) -> None:
    rng = random.Random(20261124)
    centres = [SHANGHAI, (0.0, 179.99), (0.0, -179.99), (89.95, 0.0), (-89.9, 120.0), (51.5, -0.1)]
    stores = []
    for n in range(600):
        lat, lon = rng.choice(centres)
        lat = max(-90.0, min(90.0, lat + rng.gauss(0, 0.05)))
        lon = (lon + rng.gauss(0, 0.08) + 540) % 360 - 180
        stores.append(located_store(f"R{n}", lat, lon, clock, active=rng.random() > 0.1))
    stores.append(located_store("NOWHERE", None, None, clock))  # no coordinates: never found
    await add_stores(uow_factory, stores)
    by_code = {store.code: store for store in stores}
    queries = [(rng.choice(centres)[0] + rng.gauss(0, 0.05), rng.choice(centres)[1] + rng.gauss(0, 0.05)) for _ in range(60)]
    queries += [(0.0, 180.0), (0.0, -180.0), (90.0, 45.0), (-90.0, 0.0), (10.0, 60.0)]
    found = 0
    async with searching() as uow:
        for lat, lon in queries:
            lat = max(-90.0, min(90.0, lat))
            lon = (lon + 540) % 360 - 180
            for radius, limit in ((3_000, 5), (20_000, 12), (geo.HALF_CIRCUMFERENCE_M, 1)):
                got = await nearest_stores(uow, lat, lon, now=NOW, radius_m=radius, limit=limit)
                want = oracle(stores, lat, lon, radius, limit)
                assert [n.store.code for n in got] == [code for code, _ in want], (lat, lon, radius)
                assert [n.distance_m for n in got] == pytest.approx([d for _, d in want])
                assert [fields(n.store) for n in got] == [fields(by_code[code]) for code, _ in want]
                found += bool(got)
    assert found > len(queries), "most searches find something: the test tests the search"


async def test_open_now_uses_each_stores_hours_and_time_zone(
    uow_factory: UnitOfWorkFactory, searching: UnitOfWorkFactory, clock: FixedClock
) -> None:
    lat, lon = SHANGHAI
    await add_stores(uow_factory, [
        located_store("NEAR-CLOSED", lat + 0.001, lon, clock, hours={"tue": [["08:00", "22:00"]]}),
        located_store("LONDON-HOURS", lat + 0.002, lon, clock, timezone="Europe/London", hours={"mon": [["08:00", "22:00"]]}),
        located_store("NIGHT", lat + 0.003, lon, clock, hours={"sun": [["20:00", "12:01"]]}),
        located_store("FAR-OPEN", lat + 0.03, lon, clock, hours={"mon": [["11:00", "13:00"]]}),
    ])
    async with searching() as uow:
        every = await nearest_stores(uow, lat, lon, now=NOW, radius_m=5_000, limit=5)
        assert [n.store.code for n in every] == ["NEAR-CLOSED", "LONDON-HOURS", "NIGHT", "FAR-OPEN"]
        assert every[2].store.opening_hours == {"sun": [["20:00", "12:01"]]}
        open_now = await nearest_stores(uow, lat, lon, now=NOW, radius_m=5_000, limit=5, open_only=True)
        # 04:00 UTC Monday: 12:00 in Shanghai (NIGHT runs Sunday 20:00 to Monday 12:01), 04:00 in London
        assert [n.store.code for n in open_now] == ["NIGHT", "FAR-OPEN"]
        assert open_now[1].distance_m == pytest.approx(0.03 * 111_195, rel=0.01)
        later = await nearest_stores(uow, lat, lon, now=NOW.replace(minute=1), radius_m=5_000, limit=5, open_only=True)
        assert [n.store.code for n in later] == ["FAR-OPEN"], "12:01 is NIGHT's closing time"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"latitude": 91.0}, "latitude"), ({"longitude": float("nan")}, "longitude"),
    ({"radius_m": 0}, "radius_m"), ({"limit": 0}, "limit"),
])
async def test_bad_search_input_names_the_field(uow_factory: UnitOfWorkFactory, kwargs: dict[str, float], field: str) -> None:
    args = {"latitude": 0.0, "longitude": 0.0, "radius_m": 1000.0, "limit": 3} | kwargs
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput) as error:
            await nearest_stores(uow, args.pop("latitude"), args.pop("longitude"), now=NOW, **args)  # type: ignore[arg-type]
    assert error.value.details["field"] == field


GOOD_CSV = (
    "code,name,city,timezone,address,latitude,longitude,hours\n"
    'S1,People\'s Square,Shanghai,Asia/Shanghai,1 Nanjing Rd,31.2335,121.4755,"{""mon"": [[""08:00"", ""22:00""]]}"\n'
    "S2,Bund,Shanghai,,2 Zhongshan Rd,31.2400,121.4900,\n"
    "S3,No map yet,Beijing,,,,,\n"
)


async def count(uow_factory: UnitOfWorkFactory) -> tuple[int, int]:
    async with uow_factory() as uow:
        stores = await uow.session.scalar(select(func.count()).select_from(Store))
        audits = await uow.session.scalar(select(func.count()).where(AuditEvent.action == "store.import"))
        return int(stores or 0), int(audits or 0)


async def test_csv_import_upserts_by_code(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async with uow_factory() as uow:
        report = await import_stores(uow, clock, GOOD_CSV, default_timezone="Asia/Shanghai", actor="cli")
    assert (report.created, report.updated) == (3, 0)
    again = GOOD_CSV.replace("Bund,", "The Bund,").replace("S3,No map yet,Beijing,,,,,", "S4,New,Beijing,,,39.9,116.4,")
    seen: list[int] = []
    async with uow_factory() as uow:
        report = await import_stores(uow, clock, again, default_timezone="Asia/Shanghai", actor="cli", progress=seen.append)
    assert (report.created, report.updated, sum(seen)) == (1, 2, 3)
    async with uow_factory() as uow:
        bund = await uow.program.store_by_code("S2")
        s4 = await uow.program.store_by_code("S4")
    assert bund is not None and bund.name == "The Bund" and bund.geo_cell == geo.cell_of(31.24, 121.49)
    assert s4 is not None and s4.geo_cell == geo.cell_of(39.9, 116.4)
    assert await count(uow_factory) == (4, 2)


async def test_one_bad_row_imports_nothing_and_every_bad_row_is_reported(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    bad = GOOD_CSV + (
        "S5,Lost,,,,95,10,\n"
        'S6,Bad hours,,,,1,1,"{""mon"": [[""9"", ""5""]]}"\n'
        "S1,Twice,,,,,,\n"
        "S7,,,Mars/Olympus,,,,\n"
        "S8,Half,,,,10,,\n"
    )
    async with uow_factory() as uow:
        with pytest.raises(StoreImportRejected) as error:
            await import_stores(uow, clock, bad, default_timezone="Asia/Shanghai", actor="cli")
    assert [(e.row, e.field) for e in error.value.details["errors"]] == [  # type: ignore[union-attr]
        (5, "latitude"), (6, "hours"), (7, "code"), (8, "name"), (9, "longitude"),
    ]
    assert await count(uow_factory) == (0, 0)
