"""The Mini App's stores: nearest first from the device's location when the member shares it
(loyalty.stores.nearest_stores, the same search as the chat's "near me"), otherwise by city and
name; each with whether it is open now and until when (its own hours and time zone), and a map
link for directions that the page opens with Telegram.WebApp.openLink.

The location is used for this answer only: nothing of it is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ClockDep, UowDep
from api.webapp.auth import MemberCaller
from db.models import Store
from loyalty import geo, stores
from loyalty.errors import InvalidInput

router = APIRouter()

MAX_LISTED = 200  # without a location: a chain's whole list would be no use on a phone either
MAP_URL = "https://www.google.com/maps/search/?"  # one link every phone's maps app opens


class StorePublic(BaseModel):
    id: int
    name: str
    city: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    distance_m: float | None  # from the device, when it gave its location
    open_now: bool
    closes_at: datetime | None  # open now: when it closes, in its own time zone
    opens_at: datetime | None  # closed now: when it opens next
    hours: dict[str, list[list[str]]] | None  # None: no hours published (always open)
    directions_url: str | None  # None: the store is not on the map


class StoresPublic(BaseModel):
    nearest_first: bool  # ordered by distance from the device; else by city and name
    data: list[StorePublic]


def _store(store: Store, now: datetime, distance_m: float | None = None) -> StorePublic:
    on_map = store.latitude is not None and store.longitude is not None
    return StorePublic(
        id=store.id,
        name=store.name,
        city=store.city,
        address=store.address,
        latitude=store.latitude,
        longitude=store.longitude,
        distance_m=round(distance_m, 1) if distance_m is not None else None,
        open_now=geo.is_open(store.opening_hours, store.timezone, now),
        closes_at=geo.closes_at(store.opening_hours, store.timezone, now),
        opens_at=geo.next_opening(store.opening_hours, store.timezone, now),
        hours=store.opening_hours,
        directions_url=MAP_URL + urlencode({"api": 1, "query": f"{store.latitude},{store.longitude}"}) if on_map else None,
    )


@router.get("/stores", summary="The stores, nearest first when the device's location is given")
async def list_stores(
    caller: MemberCaller,
    uow: UowDep,
    clock: ClockDep,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> StoresPublic:
    now = clock.now()
    if (latitude is None) != (longitude is None):
        raise InvalidInput("give both latitude and longitude, or neither", field="latitude")
    if latitude is not None and longitude is not None:
        hits = await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=geo.HALF_CIRCUMFERENCE_M, limit=stores.MAX_NEAREST
        )
        return StoresPublic(nearest_first=True, data=[_store(hit.store, now, hit.distance_m) for hit in hits])
    listed = sorted(
        (store for store in await stores.list_stores(uow) if store.active),
        key=lambda store: (store.city or "", store.name, store.id),
    )
    return StoresPublic(nearest_first=False, data=[_store(store, now) for store in listed[:MAX_LISTED]])
