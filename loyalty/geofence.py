"""Live-location pushes: a member sharing a live location who comes within the geofence of an
open store where one of their coupons is valid today gets one message about it.

Pushes are rationed: once per member per store per local day (a dedupe key on the outbox row,
so two updates racing, or two bot processes, still give one), at most
`GEOFENCE_DAILY_CAP` a day in all, and never in quiet hours. A push that is not sent for
quiet hours is dropped, not deferred: an offer for where you were at midnight is noise by
morning.

The member's time zone is the zone of the store they are standing next to; it is remembered on
the member, so later nudges keep their quiet hours too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal

from db.models import Member, Notification, NotificationKind, NotificationStatus
from db.uow import UnitOfWork
from loyalty import coupons, members, stores
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput
from loyalty.quiet_hours import is_quiet, member_zone

log = logging.getLogger(__name__)

KIND = NotificationKind.COUPON_NEARBY
MAX_STORES = 5

Outcome = Literal["pushed", "no_store", "no_coupon", "quiet_hours", "already_today", "daily_cap"]


@dataclass(frozen=True)
class GeofenceCheck:
    outcome: Outcome
    notification: Notification | None = None


async def check_position(
    uow: UnitOfWork, clock: Clock, settings: Settings, *, member_id: int, latitude: float, longitude: float
) -> GeofenceCheck:
    """Whether this position of a live location earns the member a push; writes it to the
    outbox and commits if so. InvalidInput for impossible coordinates, nothing written."""
    now = clock.now()
    try:
        near = await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=settings.geofence_radius_m, limit=MAX_STORES, open_only=True
        )
    except InvalidInput:
        await uow.rollback()
        raise
    if not near:
        return GeofenceCheck("no_store")
    # One push at a time per member: the daily count and the dedupe check below must not race.
    member = await uow.lock_member(member_id)
    members.note_time_zone(member, near[0].store.timezone, now)
    zone = member_zone(member, settings)
    owned = await coupons.usable_coupons(uow, member, now=now, zone=zone)
    target = next(((hit, usable) for hit in near if (usable := coupons.usable_at(owned, hit.store, now))), None)
    if target is None:
        await uow.commit()
        return GeofenceCheck("no_coupon")
    hit, usable = target
    outcome = await _rationed(uow, settings, member, now=now, store_id=hit.store.id)
    if outcome is not None:
        await uow.commit()
        return GeofenceCheck(outcome)
    today = now.astimezone(zone).date()
    notification = Notification(
        member_id=member.id,
        kind=KIND,
        dedupe_key=f"geofence:{member.id}:{hit.store.id}:{today.isoformat()}",
        payload={
            "store_id": hit.store.id,
            "distance_m": round(hit.distance_m),
            "coupon_ids": [own.coupon.id for own in usable],
        },
        status=NotificationStatus.PENDING,
        created_at=now,
    )
    if not await uow.notifications.add_once(notification):
        await uow.commit()
        return GeofenceCheck("already_today")
    await uow.commit()
    log.info("member %s is %d m from store %s with %d coupons: push owed",
             member.member_number, hit.distance_m, hit.store.code, len(usable))
    return GeofenceCheck("pushed", notification)


async def _rationed(
    uow: UnitOfWork, settings: Settings, member: Member, *, now: datetime, store_id: int
) -> Outcome | None:
    zone = member_zone(member, settings)
    if is_quiet(now, zone, settings.quiet_hours_start, settings.quiet_hours_end):
        return "quiet_hours"
    today = now.astimezone(zone).date()
    if await uow.notifications.exists(f"geofence:{member.id}:{store_id}:{today.isoformat()}"):
        return "already_today"
    midnight = datetime.combine(today, time(0), tzinfo=zone)
    if await uow.notifications.count_since(member.id, KIND, since=midnight) >= settings.geofence_daily_cap:
        return "daily_cap"
    return None
