"""SECRET_KEY and the database: a process with another key refuses to start instead of
splitting members; keys rotate with every member findable at every moment."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from db.crypto import FieldCipher, key_fingerprint
from db.engine import create_session_factory
from db.models import Member, SecretKeyFingerprint
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import AlreadyRegistered
from loyalty.members import enrol_at_till
from loyalty.secret_keys import (
    SecretKeyMismatch,
    check_secret_key,
    rotate_secret_key,
)
from tests.conftest import TEST_SECRET
from tests.utils.api import bearer, new_api_key, running_api
from tests.utils.members import TEST_SETTINGS, next_phone, till_member

OTHER_SECRET = "another-secret-key-of-fifty-random-chars-Qx7Vb2Lk9Tz"
NEW_SECRET = "the-new-secret-key-after-rotation-9fK2mQ7xW4pL8sD1"
PHONE = "+8613800138000"


def factory_with(engine: AsyncEngine, secret: str, *old: str) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_session_factory(engine), FieldCipher(secret, old))


def settings_with(settings: Settings, secret: str, old: str | None = None) -> Settings:
    return settings.model_copy(update={"secret_key": Settings(secret_key=secret).secret_key,
                                       "old_secret_keys": Settings(secret_key=secret, old_secret_keys=old).old_secret_keys})


async def recorded(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.scalars(select(SecretKeyFingerprint.fingerprint))).all())


async def members_with_phone(uow_factory: UnitOfWorkFactory, phone: str) -> int:
    async with uow_factory() as uow:
        members = (await uow.session.scalars(select(Member))).all()
        return sum(1 for member in members if uow.members.phone_of(member) == phone)


# --- defect: another key splits members ----------------------------------------------------------


async def test_the_api_with_another_key_refuses_to_start(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    """Before: the API started, found no one by phone, enrolled the same phone again, answered
    500 on the member list and said it was healthy."""
    await check_secret_key(uow_factory, clock)
    await till_member(uow_factory, clock, phone=PHONE)
    key = await new_api_key(uow_factory, clock)

    other = create_app(settings_with(settings, OTHER_SECRET), clock=clock)
    with pytest.raises(SecretKeyMismatch, match=r"^SECRET_KEY is not the key this database was written with"):
        async with other.router.lifespan_context(other):
            # Only reached when it started: show what it would have done.
            async with running_api(create_app(other.state.settings, uow_factory=other.state.uow_factory)) as api:
                lookup = await api.client.get("/api/v1/members", params={"phone": PHONE}, headers=bearer(key))
                enrol = await api.client.post("/api/v1/members", json={"phone": PHONE, "consent": True},
                                              headers=bearer(key))
                listing = await api.client.get("/api/v1/members", params={"page": 1}, headers=bearer(key))
                health = await api.client.get("/health")
            pytest.fail(f"started: lookup {lookup.json()}, enrol {enrol.status_code}, list {listing.status_code}, "
                        f"health {health.status_code}")
    assert not hasattr(other.state, "uow_factory")
    assert await members_with_phone(uow_factory, PHONE) == 1
    assert await recorded(engine) == {key_fingerprint(TEST_SECRET)}


async def test_the_first_process_records_its_key_and_a_second_key_is_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    assert await recorded(engine) == set()
    await check_secret_key(uow_factory, clock)
    assert await recorded(engine) == {key_fingerprint(TEST_SECRET)}
    await check_secret_key(uow_factory, clock)  # the same key again: fine, nothing new
    with pytest.raises(SecretKeyMismatch, match="SECRET_KEY"):
        await check_secret_key(factory_with(engine, OTHER_SECRET), clock)
    assert await recorded(engine) == {key_fingerprint(TEST_SECRET)}
    # The fingerprint is neither the key nor any of the keys derived from it.
    [stored] = await recorded(engine)
    assert TEST_SECRET not in stored and stored != FieldCipher(TEST_SECRET).blind_index("")


async def test_two_processes_opening_an_empty_database_with_two_keys_agree_on_one(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    factories = [factory_with(engine, TEST_SECRET), factory_with(engine, OTHER_SECRET)] * 4
    results = await asyncio.gather(*(check_secret_key(f, clock) for f in factories), return_exceptions=True)
    winners = {f.cipher.fingerprint for f, r in zip(factories, results, strict=True) if r is None}
    assert len(winners) == 1 and await recorded(engine) == winners
    assert all(isinstance(r, SecretKeyMismatch) for r in results if r is not None)


async def test_a_database_from_before_fingerprints_is_checked_against_its_data(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    await till_member(uow_factory, clock, phone=PHONE)  # written before any key was recorded
    with pytest.raises(SecretKeyMismatch):
        await check_secret_key(factory_with(engine, OTHER_SECRET), clock)
    assert await recorded(engine) == set()
    await check_secret_key(uow_factory, clock)
    assert await recorded(engine) == {key_fingerprint(TEST_SECRET)}


async def test_health_reports_a_key_the_database_no_longer_matches(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    await check_secret_key(uow_factory, clock)
    async with running_api(create_app(settings, uow_factory=uow_factory, clock=clock)) as api:
        healthy = await api.client.get("/health")
        assert healthy.status_code == 200 and healthy.json()["secret_key"] == "ok"
        # Another process starts a rotation to a key this one does not have.
        await check_secret_key(factory_with(engine, NEW_SECRET, TEST_SECRET), clock)
        mismatch = await api.client.get("/health")
        assert mismatch.status_code == 503
        assert mismatch.json() == {"status": "unavailable", "database": "ok", "secret_key": "mismatch"}


# --- rotation ------------------------------------------------------------------------------------


async def test_rotation_moves_every_value_to_the_new_key_and_retires_the_old(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    await check_secret_key(uow_factory, clock)
    phones = [next_phone() for _ in range(7)]
    for phone in phones:
        await till_member(uow_factory, clock, phone=phone)
    rotating = factory_with(engine, NEW_SECRET, TEST_SECRET)
    batches = []
    report = await rotate_secret_key(rotating, clock, batch_size=3, progress=batches.append)
    assert (report.seen, report.rewritten) == (7, 7)
    assert [batch.seen for batch in batches] == [3, 3, 1]
    assert await recorded(engine) == {key_fingerprint(NEW_SECRET)}

    new_only = factory_with(engine, NEW_SECRET)
    await check_secret_key(new_only, clock)  # the old key can leave the environment now
    async with new_only() as uow:
        for phone in phones:
            member = await uow.members.by_phone(phone)
            assert member is not None and uow.members.phone_of(member) == phone
            assert member.phone_index == new_only.cipher.blind_index(phone)
    with pytest.raises(SecretKeyMismatch):
        await check_secret_key(uow_factory, clock)  # the old key alone no longer reads it
    again = await rotate_secret_key(new_only, clock)
    assert (again.seen, again.rewritten) == (7, 0)


async def test_rotation_never_overwrites_a_value_written_meanwhile(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    await check_secret_key(uow_factory, clock)
    member = await till_member(uow_factory, clock, phone=PHONE)
    rotating = factory_with(engine, NEW_SECRET, TEST_SECRET)
    changed = "+8613900139000"
    # Read the old value as rotation does, then let the program change the phone, then rewrite.
    from db.encrypted_columns import ENCRYPTED_COLUMNS
    from loyalty.secret_keys import _rewrite

    column = next(entry for entry in ENCRYPTED_COLUMNS if entry.index is not None)
    async with rotating() as uow:
        [value] = await uow.secret_keys.batch(column, after_id=0, limit=10)
    async with rotating() as uow:
        stored = await uow.lock_member(member.id)
        uow.members.set_phone(stored, changed)
        await uow.commit()
    async with rotating() as uow:
        rewrite = _rewrite(uow.cipher, column, value.id, value.token)
        assert rewrite is not None
        await uow.secret_keys.rewrite(column, [rewrite])
        await uow.commit()
    async with rotating() as uow:
        found = await uow.members.by_phone(changed)
        assert found is not None and uow.members.phone_of(found) == changed
        assert await uow.members.by_phone(PHONE) is None


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(under_new_key=st.lists(st.booleans(), min_size=1, max_size=8))
async def test_a_half_rotated_database_finds_everyone_and_enrols_no_one_twice(
    engine: AsyncEngine, clock: FixedClock, under_new_key: list[bool]
) -> None:
    """Whichever members a rotation has reached, a process with the new key and the old one
    finds each of them by phone and refuses to enrol their phone again."""
    old, both = factory_with(engine, TEST_SECRET), factory_with(engine, NEW_SECRET, TEST_SECRET)
    phones = [next_phone() for _ in under_new_key]
    for phone, new in zip(phones, under_new_key, strict=True):
        await till_member(both if new else old, clock, phone=phone)
    async with both() as uow:
        for phone in phones:
            found = await uow.members.by_phone(phone)
            assert found is not None and uow.members.phone_of(found) == phone
    for phone in phones:
        async with both() as uow:
            with pytest.raises(AlreadyRegistered):
                await enrol_at_till(uow, clock, TEST_SETTINGS, phone_e164=phone, consent_version="t",
                                    locale="en", actor="test")
    for phone in phones:
        assert await members_with_phone(both, phone) == 1


async def test_enrolments_and_lookups_racing_a_rotation_never_split_a_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    await check_secret_key(uow_factory, clock)
    phones = [next_phone() for _ in range(60)]
    for phone in phones:
        await till_member(uow_factory, clock, phone=phone)
    rotating = factory_with(engine, NEW_SECRET, TEST_SECRET)
    await check_secret_key(rotating, clock)
    fresh = [next_phone() for _ in range(10)]

    async def enrol(phone: str) -> str:
        async with rotating() as uow:
            try:
                await enrol_at_till(uow, clock, TEST_SETTINGS, phone_e164=phone, consent_version="t",
                                    locale="en", actor="race")
            except AlreadyRegistered:
                return "refused"
            return "enrolled"

    async def lookup(phone: str) -> bool:
        async with rotating() as uow:
            return await uow.members.by_phone(phone) is not None

    rotation = asyncio.create_task(rotate_secret_key(rotating, clock, batch_size=7))
    outcomes = await asyncio.gather(
        *(enrol(phone) for phone in phones[::3]), *(enrol(phone) for phone in fresh * 2),
        *(lookup(phone) for phone in phones),
    )
    await rotation
    enrolled, found = outcomes[: len(phones[::3]) + 2 * len(fresh)], outcomes[len(phones[::3]) + 2 * len(fresh):]
    assert enrolled[: len(phones[::3])] == ["refused"] * len(phones[::3]), "an existing phone enrolled again"
    assert sorted(enrolled[len(phones[::3]):]) == ["enrolled"] * len(fresh) + ["refused"] * len(fresh)
    assert all(found), "a member went missing during the rotation"
    async with rotating() as uow:
        members = (await uow.session.scalars(select(Member))).all()
        stored = sorted(uow.members.phone_of(member) or "" for member in members)
    assert stored == sorted(phones + fresh)
    assert await recorded(engine) == {key_fingerprint(NEW_SECRET)}


async def test_rotation_moves_birthdays_to_the_new_key_too(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, engine: AsyncEngine
) -> None:
    """Every column in the registry rotates: a birthday, encrypted without a blind index, reads
    with the new key alone once the rotation is done."""
    await check_secret_key(uow_factory, clock)
    born = date(1990, 5, 17)
    member = await till_member(uow_factory, clock, phone=next_phone())
    async with uow_factory() as uow:
        stored = await uow.lock_member(member.id)
        uow.members.set_birthday(stored, born)
        await uow.commit()

    report = await rotate_secret_key(factory_with(engine, NEW_SECRET, TEST_SECRET), clock)
    assert (report.seen, report.rewritten) == (2, 2)  # the phone and the birthday

    new_only = factory_with(engine, NEW_SECRET)
    async with new_only() as uow:
        rotated = await uow.members.by_number(member.member_number)
        assert rotated is not None and uow.members.birthday_of(rotated) == born
    async with uow_factory() as uow:  # the old key alone reads it no more
        stale = await uow.members.by_number(member.member_number)
        assert stale is not None
        with pytest.raises(ValueError, match="cannot be decrypted"):
            uow.members.birthday_of(stale)
