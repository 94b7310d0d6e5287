"""The merchant's stores: where in-store purchases happen and rewards are used, where they are
on the map, when they are open, and which are nearest to a member.

Why the nearest-store search answers from memory: it should take well under a millisecond (it
runs for every position of a member's live location, and for every "near me"), and through the
async drivers a single statement costs about half a millisecond here before it has read a row
(aiosqlite hops to its thread and back four times per statement). A search that reads the
database, even one lean query for its candidates' coordinates and one for the rows of its hits,
cannot get there: reading only those columns instead of whole rows took it from 2.5 to 2.3 ms
on SQLite and from 1.8 to 1.5 ms on PostgreSQL (benchmarks/nearest_store.py, 100,000 stores).
So each process keeps a StoreMap of every active store on the map, as arrays and tuples (about
300 bytes a store, no ORM objects), and searches it in about 0.3 ms, building its hits' Store
objects included. What that costs, and why it is acceptable:

- Freshness. The map is a snapshot of db/program_cache.py: a store written in this process
  (create, import, any change to a Store row through a session) ends it at once, and a unit of
  work with uncommitted store writes searches the database so that it sees them; a change made
  by another process is seen once the map is older than the program cache's ttl (5 s), or, for
  a map that takes long to read, 50 times as long as reading it took (about 25 s at 100,000
  stores, never more than a minute). Hits are copies from the map, as fresh as it is.
- Rebuilding reads every store, about half a second per 100,000 here. A busy process does it at
  most that often; a quiet one, whose next search would mostly find the map stale anyway,
  searches the database instead until enough searches have asked to pay for a read of the
  whole table (ProgramCache.snapshot), so that no single quiet-hour search pays for it.

The database search remains for those cases and does the same ring search over the geo_cell
index, so both give the same answers (tests run both against a brute-force oracle)."""

from __future__ import annotations

import csv
import io
import json
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy.orm import make_transient_to_detached

from db.models import Store
from db.repositories.program import LocatedStores
from db.uow import IntegrityError, UnitOfWork
from loyalty import geo
from loyalty.clock import Clock
from loyalty.errors import InvalidInput, StoreExists, StoreImportRejected, StoreNotFound
from loyalty.text import check_text

STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NAME_MAX_LENGTH = 120
CITY_MAX_LENGTH = 64
ADDRESS_MAX_LENGTH = 200
MAX_NEAREST = 50
CSV_COLUMNS = ("code", "name", "city", "timezone", "address", "latitude", "longitude", "hours")
MAX_IMPORT_ROWS = 200_000


@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    city: str | None = None
    timezone: str | None = None  # None: the program's
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    opening_hours: Mapping[str, Sequence[Sequence[str]]] | None = None  # None: not published


@cache
def _zones() -> frozenset[str]:
    # The IANA names this system knows; looked up rather than opened, so a name like
    # "../../etc/passwd" or a directory ("America") is simply unknown.
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    if name not in _zones():
        raise InvalidInput(
            f"{name!r} is not an IANA time zone such as Asia/Shanghai", field="timezone"
        )
    return name


def _clean(spec: StoreSpec, default_timezone: str) -> StoreSpec:
    if not STORE_CODE.match(spec.code):
        raise InvalidInput("a store code is 1-32 of A-Z, a-z, 0-9, _ and -", field="code")
    # The same rule as the API's schemas, for the CSV import and the command line. An address
    # is one line too: it is shown as a venue's address in the chat.
    for name in ("name", "city", "timezone", "address"):
        value = getattr(spec, name)
        if value is not None:
            check_text(value, name)
    name = spec.name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"a store name is 1-{NAME_MAX_LENGTH} characters", field="name")
    city = spec.city.strip() if spec.city is not None else None
    if city is not None and (not city or len(city) > CITY_MAX_LENGTH):
        raise InvalidInput(f"a city is 1-{CITY_MAX_LENGTH} characters", field="city")
    address = spec.address.strip() if spec.address is not None else None
    if address is not None and (not address or len(address) > ADDRESS_MAX_LENGTH):
        raise InvalidInput(f"an address is 1-{ADDRESS_MAX_LENGTH} characters", field="address")
    latitude, longitude = spec.latitude, spec.longitude
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise InvalidInput("latitude and longitude come together", field=missing)
    if latitude is not None and longitude is not None:
        latitude, longitude = geo.check_coordinates(latitude, longitude)
    hours = geo.check_hours(spec.opening_hours) if spec.opening_hours is not None else None
    return StoreSpec(
        code=spec.code,
        name=name,
        city=city,
        timezone=check_timezone(spec.timezone or default_timezone),
        address=address,
        latitude=latitude,
        longitude=longitude,
        opening_hours=hours,
    )


def _place(store: Store, clean: StoreSpec) -> None:
    """Copy a cleaned spec's descriptive fields onto a store, with its grid cell."""
    store.name = clean.name
    store.city = clean.city
    store.timezone = clean.timezone or store.timezone
    store.address = clean.address
    store.latitude = clean.latitude
    store.longitude = clean.longitude
    store.geo_cell = (
        geo.cell_of(clean.latitude, clean.longitude)
        if clean.latitude is not None and clean.longitude is not None
        else None
    )
    store.opening_hours = dict(clean.opening_hours) if clean.opening_hours is not None else None  # type: ignore[arg-type]


async def create_store(
    uow: UnitOfWork, clock: Clock, spec: StoreSpec, *, default_timezone: str, actor: str, active: bool = True
) -> Store:
    clean = _clean(spec, default_timezone)
    if await uow.program.store_by_code(clean.code) is not None:
        raise StoreExists(f"a store with code {clean.code!r} exists")
    now = clock.now()
    store = Store(code=clean.code, active=active, created_at=now)
    _place(store, clean)
    try:
        await uow.program.add_store(store)
        uow.audit.record(at=now, actor=actor, action="store.create", detail=clean.code)
        await uow.commit()
    except IntegrityError as exc:  # created concurrently with the same code
        await uow.rollback()
        raise StoreExists(f"a store with code {clean.code!r} exists") from exc
    return store


async def update_store(
    uow: UnitOfWork, clock: Clock, spec: StoreSpec, *, active: bool, default_timezone: str, actor: str
) -> Store:
    """Replace every descriptive field of the store with `spec.code` (fields left None are
    cleared; a None timezone is the program's) and set whether it is active. The code is the
    store's name in purchases, imports and API paths, so it never changes."""
    store = await find_store(uow, spec.code)
    clean = _clean(spec, default_timezone)
    _place(store, clean)
    store.active = active
    uow.audit.record(at=clock.now(), actor=actor, action="store.update", detail=clean.code)
    await uow.commit()
    return store


async def find_store(uow: UnitOfWork, code: str) -> Store:
    store = await uow.program.store_by_code(code)
    if store is None:
        raise StoreNotFound(f"no store {code!r}")
    return store


async def list_stores(uow: UnitOfWork) -> Sequence[Store]:
    return await uow.program.stores()


async def find_store_by_id(uow: UnitOfWork, store_id: int) -> Store:
    """An active store by id (what a chat button carries); StoreNotFound otherwise."""
    store = await uow.program.store(store_id)
    if store is None or not store.active:
        raise StoreNotFound(f"no store {store_id}")
    return store


# --- nearest stores ------------------------------------------------------------------------------

FIRST_REACH_M = 1_000.0  # the first ring searched; each next ring reaches REACH_GROWTH times farther
REACH_GROWTH = 3.0
# Rebuilding the store map reads every store on it; a search through the database costs about as
# much as reading this many (about 5 µs a store against 2 ms a search, benchmarks/nearest_store.py).
STORES_PER_DATABASE_SEARCH = 400

# (id, latitude, longitude, timezone, opening hours, ...): a store as the search sees it.
Candidate = tuple[Any, ...]


@dataclass(frozen=True)
class NearbyStore:
    store: Store
    distance_m: float


class StoreMap:
    """Every active store on the map, in memory: the grid cells in ascending order, in an array
    where a search finds its cell ranges by bisection (the database's geo_cell index, here),
    and per store its coordinates and the fields it is shown with, as arrays and tuples. Values
    that many stores share (a city, a time zone, opening hours, an import's creation time) are
    kept once. Never changed once built: a changed store means a new map."""

    __slots__ = ("_cells", "_hours", "_ids", "_latitudes", "_longitudes", "_rows", "_schedules", "_shown", "_zones")

    def __init__(self, stores: LocatedStores) -> None:
        order = sorted(range(len(stores.ids)), key=stores.cells.__getitem__)
        self._cells = array("q", map(stores.cells.__getitem__, order))
        self._rows = array("q", order)  # the store (its index in the columns) of each sorted cell
        self._ids = array("q", stores.ids)
        self._latitudes = array("d", stores.latitudes)
        self._longitudes = array("d", stores.longitudes)
        shared: dict[Any, Any] = {}

        def once(values: Sequence[Any]) -> tuple[Any, ...]:
            return tuple(map(shared.setdefault, values, values))

        self._zones: tuple[str, ...] = once(stores.timezones)
        self._hours: tuple[str | None, ...] = once(stores.hours)
        # Each distinct hours text parsed once; "null" is the JSON of hours not published.
        self._schedules: dict[str | None, geo.OpeningHours | None] = {
            text: None if text is None or text == "null" else json.loads(text) for text in set(self._hours)
        }
        self._shown = (tuple(stores.codes), tuple(stores.names), once(stores.cities), tuple(stores.addresses),
                       once(stores.created), array("q", stores.cells))

    def __len__(self) -> int:
        return len(self._ids)

    async def candidates(self, ranges: Sequence[tuple[int, int]]) -> list[Candidate]:
        """The stores in these inclusive cell ranges, each with its index in the columns last."""
        found = []
        cells, rows, ids, latitudes, longitudes = self._cells, self._rows, self._ids, self._latitudes, self._longitudes
        zones, hours, schedules = self._zones, self._hours, self._schedules
        for low, high in ranges:
            start = bisect_left(cells, low)
            for row in rows[start : bisect_right(cells, high, start)]:
                found.append((ids[row], latitudes[row], longitudes[row], zones[row], schedules[hours[row]], row))
        return found

    def store(self, row: int) -> Store:
        """A store of the map as a detached Store made for this hit alone (the map itself holds
        plain columns, never ORM objects, like every cache of db/program_cache.py): read it,
        never change it."""
        codes, names, cities, addresses, created, cells = self._shown
        hours = self._hours[row]
        store = Store(
            id=self._ids[row], code=codes[row], name=names[row], city=cities[row], timezone=self._zones[row],
            active=True, created_at=created[row], address=addresses[row], latitude=self._latitudes[row],
            longitude=self._longitudes[row], geo_cell=cells[row],
            opening_hours=None if self._schedules[hours] is None else json.loads(hours),  # type: ignore[arg-type]
        )
        make_transient_to_detached(store)
        return store


async def nearest_stores(
    uow: UnitOfWork,
    latitude: float,
    longitude: float,
    *,
    now: datetime,
    radius_m: float,
    limit: int,
    open_only: bool = False,
) -> list[NearbyStore]:
    """Up to `limit` active stores with coordinates within `radius_m` of the point, nearest first
    (ties by id); with `open_only`, only those open at `now` by their own hours and time zone.

    Searched in this process's StoreMap when it has a fresh one (at most the program cache's
    ttl old, and never older than this process's own committed store changes), else through
    the database; see the module docstring for why. Either way the same search: the grid is
    read ring by ring, and the stores within `reach` of the point are all in the cells of the
    reach's bounding box, so once `limit` of them are found (or the reach covers the radius)
    the answer is final. Distances are exact great-circle distances."""
    latitude, longitude = geo.check_coordinates(latitude, longitude)
    if not 0 < radius_m <= geo.HALF_CIRCUMFERENCE_M * 2:
        raise InvalidInput("the radius is a positive number of metres", field="radius_m")
    if not 1 <= limit <= MAX_NEAREST:
        raise InvalidInput(f"the limit is 1-{MAX_NEAREST}", field="limit")
    radius_m = min(radius_m, geo.HALF_CIRCUMFERENCE_M)
    store_map = await uow.program.store_map(StoreMap, rows_per_lookup=STORES_PER_DATABASE_SEARCH)
    if store_map is not None:
        hits = await _search(store_map.candidates, latitude, longitude, now, radius_m, limit, open_only)
        return [NearbyStore(store_map.store(candidate[5]), distance) for distance, _, candidate in hits]
    hits = await _search(uow.program.located_store_candidates, latitude, longitude, now, radius_m, limit, open_only)
    found = {store.id: store for store in await uow.program.stores_by_ids([store_id for _, store_id, _ in hits])}
    return [NearbyStore(found[store_id], distance) for distance, store_id, _ in hits if store_id in found]


async def _search(
    candidates_in: Callable[[list[tuple[int, int]]], Awaitable[Sequence[Candidate]]],
    latitude: float,
    longitude: float,
    now: datetime,
    radius_m: float,
    limit: int,
    open_only: bool,
) -> list[tuple[float, int, Candidate]]:
    """(distance, id, candidate) of the answer, nearest first, ties by id."""
    seen: set[int] = set()
    found: list[tuple[float, int, Candidate]] = []
    reach = min(FIRST_REACH_M, radius_m)
    while True:
        for candidate in await candidates_in(geo.cell_ranges(latitude, longitude, reach)):
            store_id = candidate[0]
            if store_id in seen:
                continue
            seen.add(store_id)
            distance = geo.distance_m(latitude, longitude, candidate[1], candidate[2])
            if distance <= radius_m and (not open_only or geo.is_open(candidate[4], candidate[3], now)):
                found.append((distance, store_id, candidate))
        settled = sorted((hit for hit in found if hit[0] <= reach), key=lambda hit: (hit[0], hit[1]))
        if len(settled) >= limit or reach >= radius_m:
            return settled[:limit]
        reach = min(reach * REACH_GROWTH, radius_m)


# --- bulk import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # the CSV line as a spreadsheet numbers it: the header is row 1
    field: str
    message: str
    reason: str = ""  # for a whole-row problem: "too_many", "cells", "empty", "duplicate"


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    codes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated


def _cell(row: Mapping[str, str | None], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _number(row: Mapping[str, str | None], column: str) -> float | None:
    value = _cell(row, column)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a number", field=column) from None


def _hours(row: Mapping[str, str | None]) -> object | None:
    value = _cell(row, "hours")
    if value is None:
        return None
    try:
        hours: object = json.loads(value)
    except ValueError:
        raise InvalidInput('hours are JSON: {"mon": [["08:00", "22:00"]]}', field="hours") from None
    return hours


def parse_store_csv(text: str, *, default_timezone: str) -> list[StoreSpec]:
    """The cleaned stores of a CSV (columns CSV_COLUMNS, header first; only code and name are
    required), or StoreImportRejected listing every bad row."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [column for column in header if column not in CSV_COLUMNS]
    missing = [column for column in ("code", "name") if column not in header]
    if unknown or missing:
        problem = f"unknown columns {unknown}" if unknown else f"missing columns {missing}"
        raise StoreImportRejected(
            f"{problem}; the columns are {','.join(CSV_COLUMNS)}",
            errors=[RowError(1, "header", f"{problem}; the columns are {','.join(CSV_COLUMNS)}")],
        )
    specs: list[StoreSpec] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_IMPORT_ROWS:
            errors.append(RowError(number, "row", f"at most {MAX_IMPORT_ROWS} stores per import", "too_many"))
            break
        if None in row:  # more cells than columns
            errors.append(RowError(number, "row", f"more cells than the {len(header)} columns", "cells"))
            continue
        try:
            spec = _clean(
                StoreSpec(
                    code=_cell(row, "code") or "",
                    name=_cell(row, "name") or "",
                    city=_cell(row, "city"),
                    timezone=_cell(row, "timezone"),
                    address=_cell(row, "address"),
                    latitude=_number(row, "latitude"),
                    longitude=_number(row, "longitude"),
                    opening_hours=_hours(row),  # type: ignore[arg-type]
                ),
                default_timezone,
            )
        except InvalidInput as exc:
            where = exc.field or "row"
            where = "hours" if where.startswith("opening_hours") else where
            errors.append(RowError(number, where, str(exc)))
            continue
        if spec.code in first_row:
            errors.append(RowError(number, "code", f"{spec.code!r} is already on row {first_row[spec.code]}", "duplicate"))
            continue
        first_row[spec.code] = number
        specs.append(spec)
    if not specs and not errors:
        errors.append(RowError(2, "row", "the file has no stores", "empty"))
    if errors:
        raise StoreImportRejected(f"{len(errors)} bad row{'' if len(errors) == 1 else 's'}; nothing was imported", errors=errors)
    return specs


async def import_stores(
    uow: UnitOfWork,
    clock: Clock,
    text: str,
    *,
    default_timezone: str,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update (by code) every store of a CSV in one transaction: all rows or none.
    Updating a store keeps its id, active flag and creation time; empty cells clear fields
    (a blank timezone is the program's). `progress(n)` is told of every n rows done."""
    specs = parse_store_csv(text, default_timezone=default_timezone)
    existing = await uow.program.stores_by_codes([spec.code for spec in specs])
    now = clock.now()
    created = updated = 0
    for start in range(0, len(specs), 1000):
        batch = specs[start : start + 1000]
        new = []
        for spec in batch:
            store = existing.get(spec.code)
            if store is None:
                store = Store(code=spec.code, active=True, created_at=now)
                new.append(store)
            _place(store, spec)
        await uow.program.add_stores(new)
        created += len(new)
        updated += len(batch) - len(new)
        if progress is not None:
            progress(len(batch))
    uow.audit.record(
        at=now, actor=actor, action="store.import", detail=f"{created} created, {updated} updated"
    )
    await uow.commit()
    return ImportReport(created=created, updated=updated, codes=[spec.code for spec in specs])
