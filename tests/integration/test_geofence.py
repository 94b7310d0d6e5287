"""Live-location pushes with an injected clock: once per member, store and local day, a daily
cap, quiet hours in the member's own zone at their exact edges, and racing positions giving one
push."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db.models import Member, Notification, Store
from db.uow import UnitOfWorkFactory
from loyalty import geofence
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidInput
from loyalty.quiet_hours import is_quiet
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import TEST_SETTINGS, chat_member
from tests.utils.stores import LONDON, SHANGHAI, add_stores, located_store

SETTINGS = TEST_SETTINGS.model_copy(update={"geofence_radius_m": 150, "geofence_daily_cap": 2})
SHANGHAI_ZONE = ZoneInfo("Asia/Shanghai")


def at_shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI_ZONE).astimezone(timezone.utc)


async def member_with_coupon(uow_factory: UnitOfWorkFactory, clock: FixedClock, telegram_id: int = 501) -> Member:
    member = await chat_member(uow_factory, clock, telegram_id=telegram_id)
    template = await make_template(uow_factory, clock, code=f"GEO{telegram_id}", kind="percent_off", value=20)
    await give_coupon(uow_factory, clock, member, template)
    return member


async def check(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, store: Store,
                settings: Settings = SETTINGS) -> str:
    assert store.latitude is not None and store.longitude is not None
    async with uow_factory() as uow:
        result = await geofence.check_position(
            uow, clock, settings, member_id=member.id, latitude=store.latitude + 0.0005, longitude=store.longitude
        )
    return result.outcome


async def owed(uow_factory: UnitOfWorkFactory, member: Member) -> list[str]:
    async with uow_factory() as uow:
        statement = select(Notification.dedupe_key).where(
            Notification.member_id == member.id, Notification.kind == geofence.KIND
        ).order_by(Notification.id)
        return [key or "" for key in await uow.session.scalars(statement)]


@pytest.mark.parametrize(
    ("local", "quiet"),
    [(time(21, 59, 59), False), (time(22, 0), True), (time(3, 0), True), (time(7, 59, 59), True), (time(8, 0), False)],
)
def test_quiet_hours_include_their_start_and_exclude_their_end(local: time, quiet: bool) -> None:
    moment = datetime.combine(datetime(2026, 11, 24).date(), local, tzinfo=SHANGHAI_ZONE)
    assert is_quiet(moment, SHANGHAI_ZONE, time(22, 0), time(8, 0)) is quiet
    assert is_quiet(moment, SHANGHAI_ZONE, time(9, 0), time(9, 0)) is False, "equal ends: never quiet"


async def test_one_push_per_store_per_local_day_then_again_the_next_day(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    clock.set(at_shanghai(24, 9))
    [store] = await add_stores(uow_factory, [located_store("G1", *SHANGHAI, clock)])
    member = await member_with_coupon(uow_factory, clock)

    assert await check(uow_factory, clock, member, store) == "pushed"
    clock.set(at_shanghai(24, 23, 59, 59) - timedelta(hours=2))  # 21:59:59, still the same day
    assert await check(uow_factory, clock, member, store) == "already_today"
    clock.set(at_shanghai(25, 8))  # the next local day, quiet hours just over
    assert await check(uow_factory, clock, member, store) == "pushed"
    assert await owed(uow_factory, member) == [
        f"geofence:{member.id}:{store.id}:2026-11-24", f"geofence:{member.id}:{store.id}:2026-11-25"
    ]


async def test_quiet_hours_follow_the_zone_of_the_store_the_member_stands_at(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    # 23:00 in Shanghai is 15:00 in London: a member walking past a London store gets the push.
    clock.set(at_shanghai(24, 23))
    shanghai, london = await add_stores(uow_factory, [
        located_store("SH", *SHANGHAI, clock),
        located_store("LDN", *LONDON, clock, timezone="Europe/London"),
    ])
    member = await member_with_coupon(uow_factory, clock)
    assert await check(uow_factory, clock, member, shanghai) == "quiet_hours"
    assert await check(uow_factory, clock, member, london) == "pushed"
    async with uow_factory() as uow:
        seen = await uow.members.by_id(member.id)
        assert seen is not None and seen.timezone == "Europe/London"
    assert await owed(uow_factory, member) == [f"geofence:{member.id}:{london.id}:2026-11-24"]


async def test_the_daily_cap_counts_every_store(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    clock.set(at_shanghai(24, 10))
    stores = await add_stores(uow_factory, [
        located_store(f"C{i}", SHANGHAI[0] + i * 0.01, SHANGHAI[1], clock) for i in range(3)
    ])
    member = await member_with_coupon(uow_factory, clock)
    outcomes = [await check(uow_factory, clock, member, store) for store in stores]
    assert outcomes == ["pushed", "pushed", "daily_cap"]
    no_cap = SETTINGS.model_copy(update={"geofence_daily_cap": 0})
    other = await member_with_coupon(uow_factory, clock, telegram_id=502)
    assert await check(uow_factory, clock, other, stores[0], no_cap) == "daily_cap", "a cap of 0 turns pushes off"


async def test_no_push_without_a_coupon_valid_there_or_without_a_store_in_reach(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    clock.set(at_shanghai(24, 10))
    [store] = await add_stores(uow_factory, [located_store("N1", *SHANGHAI, clock)])
    plain = await chat_member(uow_factory, clock, telegram_id=503)
    assert await check(uow_factory, clock, plain, store) == "no_coupon"
    member = await member_with_coupon(uow_factory, clock, telegram_id=504)
    async with uow_factory() as uow:
        far = await geofence.check_position(
            uow, clock, SETTINGS, member_id=member.id, latitude=SHANGHAI[0] + 0.01, longitude=SHANGHAI[1]
        )
    assert far.outcome == "no_store"
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            await geofence.check_position(uow, clock, SETTINGS, member_id=member.id, latitude=91.0, longitude=0.0)
    assert await owed(uow_factory, member) == []


async def test_racing_positions_owe_one_push(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    clock.set(at_shanghai(24, 12))
    [store] = await add_stores(uow_factory, [located_store("R1", *SHANGHAI, clock)])
    member = await member_with_coupon(uow_factory, clock)
    outcomes = await asyncio.gather(*(check(uow_factory, clock, member, store) for _ in range(6)))
    assert sorted(outcomes) == ["already_today"] * 5 + ["pushed"]
    assert len(await owed(uow_factory, member)) == 1
