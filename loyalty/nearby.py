"""What is near a member: the nearest open stores within the configured radius, nearest first,
each with the member's coupons that store takes today, and the offers every member gets now;
with none open nearby, the nearest store anywhere. Guests get the stores alone.

A member within the radius of a store is in its time zone now: it is noted, so their quiet
hours follow them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from db.models import Member
from db.uow import UnitOfWork
from loyalty import coupons, earning, geo, members, stores
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput
from loyalty.quiet_hours import member_zone

NEARBY_LIMIT = 5
LAST_MOMENT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Nearby:
    at: datetime  # the moment it was looked at: stores' opening hours are read at it
    hits: list[stores.NearbyStore]  # open stores within the radius, nearest first
    nearest: list[stores.NearbyStore]  # without hits: the nearest store anywhere, if any
    coupons_by_store: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # described for the message
    offers: list[dict[str, object]] = field(default_factory=list)  # running promotions (members only)


async def what_is_near(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    member: Member | None,
    *,
    latitude: float,
    longitude: float,
    locale: str,
) -> Nearby:
    """What is near (latitude, longitude) for this member (None: a guest), coupons described in
    `locale`, noting the member's time zone. Commits, so the caller's answer holds no transaction; impossible coordinates
    (only a forged update carries them) raise InvalidInput, having written nothing."""
    now = clock.now()
    try:
        hits = await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=settings.nearby_radius_m, limit=NEARBY_LIMIT, open_only=True
        )
        nearest = [] if hits else await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=geo.HALF_CIRCUMFERENCE_M, limit=1
        )
    except InvalidInput:
        await uow.rollback()
        raise
    if member is not None and hits:
        members.note_time_zone(member, hits[0].store.timezone, now)
    by_store = await _coupons_by_store(uow, member, hits or nearest, now=now, settings=settings, locale=locale)
    offers = await _offers(uow, now=now, settings=settings) if member is not None else []
    await uow.commit()
    return Nearby(now, hits, nearest, by_store, offers)


async def _coupons_by_store(
    uow: UnitOfWork, member: Member | None, hits: list[stores.NearbyStore], *, now: datetime, settings: Settings,
    locale: str,
) -> dict[int, list[dict[str, Any]]]:
    """The member's coupons each store would accept today, described for the message."""
    if member is None or not hits:
        return {}
    owned = await coupons.usable_coupons(uow, member, now=now, zone=member_zone(member, settings))
    by_store: dict[int, list[dict[str, Any]]] = {}
    for hit in hits:
        by_store[hit.store.id] = await coupons.describe(uow, coupons.usable_at(owned, hit.store, now), locale)
    return by_store


async def _offers(uow: UnitOfWork, *, now: datetime, settings: Settings) -> list[dict[str, object]]:
    """What every member gets right now: the running points promotions, with their last day."""
    rules = await earning.active_rules(uow, at=now)
    return [
        {
            "name": rule.name,
            "until": (rule.ends_at - LAST_MOMENT).astimezone(settings.zone).date() if rule.ends_at else None,
        }
        for rule in rules.promotions
    ]
