"""The merchant's stores: where in-store purchases happen and rewards are used, where they are
on the map, when they are open, and which are nearest to a member."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from db.models import Store
from db.uow import IntegrityError, UnitOfWork
from loyalty import geo
from loyalty.clock import Clock
from loyalty.errors import InvalidInput, StoreExists, StoreImportRejected, StoreNotFound

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
    uow: UnitOfWork, clock: Clock, spec: StoreSpec, *, default_timezone: str, actor: str
) -> Store:
    clean = _clean(spec, default_timezone)
    if await uow.program.store_by_code(clean.code) is not None:
        raise StoreExists(f"a store with code {clean.code!r} exists")
    now = clock.now()
    store = Store(code=clean.code, active=True, created_at=now)
    _place(store, clean)
    try:
        await uow.program.add_store(store)
        uow.audit.record(at=now, actor=actor, action="store.create", detail=clean.code)
        await uow.commit()
    except IntegrityError as exc:  # created concurrently with the same code
        await uow.rollback()
        raise StoreExists(f"a store with code {clean.code!r} exists") from exc
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


@dataclass(frozen=True)
class NearbyStore:
    store: Store
    distance_m: float


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

    The grid index is read ring by ring: the stores within `reach` of the point are all in the
    cells of the reach's bounding box, so once `limit` of them are found (or the reach covers the
    radius) the answer is final. Distances are exact great-circle distances."""
    latitude, longitude = geo.check_coordinates(latitude, longitude)
    if not 0 < radius_m <= geo.HALF_CIRCUMFERENCE_M * 2:
        raise InvalidInput("the radius is a positive number of metres", field="radius_m")
    if not 1 <= limit <= MAX_NEAREST:
        raise InvalidInput(f"the limit is 1-{MAX_NEAREST}", field="limit")
    radius_m = min(radius_m, geo.HALF_CIRCUMFERENCE_M)
    seen: set[int] = set()
    found: list[NearbyStore] = []
    reach = min(FIRST_REACH_M, radius_m)
    while True:
        for store in await uow.program.located_stores_in_cells(geo.cell_ranges(latitude, longitude, reach)):
            if store.id in seen:
                continue
            seen.add(store.id)
            if open_only and not geo.is_open(store.opening_hours, store.timezone, now):
                continue
            assert store.latitude is not None and store.longitude is not None
            distance = geo.distance_m(latitude, longitude, store.latitude, store.longitude)
            if distance <= radius_m:
                found.append(NearbyStore(store, distance))
        settled = sorted((n for n in found if n.distance_m <= reach), key=lambda n: (n.distance_m, n.store.id))
        if len(settled) >= limit or reach >= radius_m:
            return settled[:limit]
        reach = min(reach * REACH_GROWTH, radius_m)


# --- bulk import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # the CSV line as a spreadsheet numbers it: the header is row 1
    field: str
    message: str


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
        return json.loads(value)
    except ValueError:
        raise InvalidInput('hours are JSON: {"mon": [["08:00", "22:00"]]}', field="hours") from None


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
            errors.append(RowError(number, "row", f"at most {MAX_IMPORT_ROWS} stores per import"))
            break
        if None in row:  # more cells than columns
            errors.append(RowError(number, "row", f"more cells than the {len(header)} columns"))
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
            where = str(exc.details.get("field", "row"))
            where = "hours" if where.startswith("opening_hours") else where
            errors.append(RowError(number, where, str(exc)))
            continue
        if spec.code in first_row:
            errors.append(RowError(number, "code", f"{spec.code!r} is already on row {first_row[spec.code]}"))
            continue
        first_row[spec.code] = number
        specs.append(spec)
    if not specs and not errors:
        errors.append(RowError(2, "row", "the file has no stores"))
    if errors:
        raise StoreImportRejected(f"{len(errors)} bad rows; nothing was imported", errors=errors)
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
