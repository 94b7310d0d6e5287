"""The merchant's stores: where in-store purchases happen and rewards are used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from db.models import Store
from db.uow import IntegrityError, UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidInput, StoreExists, StoreNotFound

STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NAME_MAX_LENGTH = 120
CITY_MAX_LENGTH = 64




@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    city: str | None = None
    timezone: str | None = None  # None: the program's


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
    return StoreSpec(
        code=spec.code,
        name=name,
        city=city,
        timezone=check_timezone(spec.timezone or default_timezone),
    )


async def create_store(
    uow: UnitOfWork, clock: Clock, spec: StoreSpec, *, default_timezone: str, actor: str
) -> Store:
    clean = _clean(spec, default_timezone)
    if await uow.program.store_by_code(clean.code) is not None:
        raise StoreExists(f"a store with code {clean.code!r} exists")
    now = clock.now()
    store = Store(
        code=clean.code,
        name=clean.name,
        city=clean.city,
        timezone=clean.timezone,
        active=True,
        created_at=now,
    )
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
