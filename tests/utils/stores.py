"""Stores on the map for tests, written straight through the repository (fast, no audit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from db.models import Store
from db.uow import UnitOfWorkFactory
from loyalty import geo
from loyalty.clock import Clock

SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)
LONDON = (51.5074, -0.1278)
PARIS = (48.8566, 2.3522)


def located_store(
    code: str,
    latitude: float | None,
    longitude: float | None,
    clock: Clock,
    *,
    name: str | None = None,
    address: str | None = None,
    timezone: str = "Asia/Shanghai",
    hours: Mapping[str, Sequence[Sequence[str]]] | None = None,
    active: bool = True,
) -> Store:
    located = latitude is not None and longitude is not None
    return Store(
        code=code,
        name=name or f"Store {code}",
        city=None,
        timezone=timezone,
        active=active,
        created_at=clock.now(),
        address=address,
        latitude=latitude,
        longitude=longitude,
        geo_cell=geo.cell_of(latitude, longitude) if located else None,  # type: ignore[arg-type]
        opening_hours=dict(hours) if hours is not None else None,
    )


async def add_stores(uow_factory: UnitOfWorkFactory, stores: Sequence[Store]) -> list[Store]:
    async with uow_factory() as uow:
        await uow.program.add_stores(stores)
        await uow.commit()
    return list(stores)
