"""What is near a member, against the real database: the stores within the radius, the member's
time zone noted and committed, the nearest store anywhere when none is near, and impossible
coordinates refused with nothing written and no transaction left open."""

from __future__ import annotations

import pytest

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidInput
from loyalty.nearby import what_is_near
from tests.utils.members import chat_member
from tests.utils.stores import LONDON, PARIS, add_stores, located_store


@pytest.fixture
async def member_id(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> int:
    return (await chat_member(uow_factory, clock, telegram_id=7001)).id


async def zone_of(uow_factory: UnitOfWorkFactory, member_id: int) -> str | None:
    async with uow_factory() as uow:
        member = await uow.session.get(Member, member_id)
        assert member is not None
        return member.timezone


async def test_a_member_near_a_store_is_in_its_zone_and_it_is_committed(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, member_id: int
) -> None:
    await add_stores(uow_factory, [located_store("LDN", *LONDON, clock, timezone="Europe/London")])
    before = await zone_of(uow_factory, member_id)
    async with uow_factory() as uow:
        member = await uow.session.get(Member, member_id)
        near = await what_is_near(uow, clock, settings, member, latitude=LONDON[0], longitude=LONDON[1], locale="en")
        assert not uow.session.in_transaction(), "committed before the caller answers"
    assert [hit.store.code for hit in near.hits] == ["LDN"] and near.nearest == []
    assert near.at == clock.now()
    assert before != "Europe/London"
    assert await zone_of(uow_factory, member_id) == "Europe/London"


async def test_far_from_every_store_the_nearest_anywhere_is_shown_and_the_zone_kept(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, member_id: int
) -> None:
    await add_stores(uow_factory, [located_store("PAR", *PARIS, clock, timezone="Europe/Paris")])
    before = await zone_of(uow_factory, member_id)
    async with uow_factory() as uow:
        member = await uow.session.get(Member, member_id)
        near = await what_is_near(uow, clock, settings, member, latitude=LONDON[0], longitude=LONDON[1], locale="en")
    assert near.hits == [] and [hit.store.code for hit in near.nearest] == ["PAR"]
    assert await zone_of(uow_factory, member_id) == before


async def test_a_guest_gets_the_stores_alone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_stores(uow_factory, [located_store("LDN", *LONDON, clock, timezone="Europe/London")])
    async with uow_factory() as uow:
        near = await what_is_near(uow, clock, settings, None, latitude=LONDON[0], longitude=LONDON[1], locale="en")
    assert [hit.store.code for hit in near.hits] == ["LDN"]
    assert (near.coupons_by_store, near.offers) == ({}, [])


async def test_impossible_coordinates_are_refused_leaving_no_transaction_open(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, member_id: int
) -> None:
    before = await zone_of(uow_factory, member_id)
    async with uow_factory() as uow:
        member = await uow.session.get(Member, member_id)
        with pytest.raises(InvalidInput):
            await what_is_near(uow, clock, settings, member, latitude=91.0, longitude=0.0, locale="en")
        assert not uow.session.in_transaction()
    assert await zone_of(uow_factory, member_id) == before
