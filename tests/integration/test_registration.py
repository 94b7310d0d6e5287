"""Registration rules against a real database: one person, one member, whoever enrols first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from db.models import AuditEvent, Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.errors import (
    AlreadyRegistered,
    ConsentRequired,
    InvalidBirthday,
    InvalidCity,
    PhoneTaken,
)
from loyalty.members import (
    Consent,
    enrol_at_till,
    is_valid_member_number,
    register_from_chat,
    set_birthday,
    set_chat_reachable,
    set_city,
)
from tests.utils.members import TEST_SETTINGS, chat_member, next_phone, till_member


async def member_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Member)) or 0)


async def test_chat_sign_up_creates_a_member_with_a_valid_number(uow_factory, clock) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=1001, locale="zh_CN")
    assert is_valid_member_number(member.member_number)
    assert member.enrolled_via == "chat"
    async with uow_factory() as uow:
        stored = await uow.members.by_telegram_id(1001)
        assert stored is not None and stored.locale == "zh_CN" and stored.points_balance == 0


async def test_no_consent_no_member(uow_factory, clock) -> None:
    async with uow_factory() as uow:
        with pytest.raises(ConsentRequired):
            await register_from_chat(
                uow, clock, TEST_SETTINGS, telegram_id=5, phone_e164=next_phone(), locale="en", consent=None
            )
    assert await member_count(uow_factory) == 0


async def test_phone_is_encrypted_at_rest_and_still_findable(uow_factory, clock, engine) -> None:
    phone = next_phone()
    await chat_member(uow_factory, clock, telegram_id=7, phone=phone)
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT phone_index, phone_encrypted FROM members"))).one()
    assert phone not in row.phone_index and phone not in row.phone_encrypted
    assert phone[3:] not in row.phone_encrypted
    async with uow_factory() as uow:
        found = await uow.members.by_phone(phone)
        assert found is not None and uow.members.phone_of(found) == phone


async def test_till_member_is_linked_when_the_same_phone_signs_up_in_chat(uow_factory, clock) -> None:
    phone = next_phone()
    enrolled = await till_member(uow_factory, clock, phone=phone)
    clock.advance(timedelta(days=3))
    async with uow_factory() as uow:
        registration = await register_from_chat(
            uow, clock, TEST_SETTINGS, telegram_id=99, phone_e164=phone, locale="zh_CN",
            consent=Consent(version="v2", given_at=clock.now()), start_payload="store_12",
        )
    assert registration.linked_existing
    assert registration.member.id == enrolled.id
    assert registration.member.member_number == enrolled.member_number
    assert await member_count(uow_factory) == 1
    async with uow_factory() as uow:
        linked = await uow.members.by_telegram_id(99)
        assert linked is not None and linked.consent_version == "v2" and linked.enrolled_via == "till"


async def test_phone_linked_to_another_chat_is_refused(uow_factory, clock) -> None:
    phone = next_phone()
    await chat_member(uow_factory, clock, telegram_id=1, phone=phone)
    async with uow_factory() as uow:
        with pytest.raises(PhoneTaken):
            await register_from_chat(
                uow, clock, TEST_SETTINGS, telegram_id=2, phone_e164=phone, locale="en",
                consent=Consent(version="v1", given_at=clock.now()),
            )
    async with uow_factory() as uow:
        assert await uow.members.by_telegram_id(2) is None
    assert await member_count(uow_factory) == 1


async def test_a_chat_cannot_register_twice(uow_factory, clock) -> None:
    await chat_member(uow_factory, clock, telegram_id=3)
    with pytest.raises(AlreadyRegistered):
        await chat_member(uow_factory, clock, telegram_id=3)
    assert await member_count(uow_factory) == 1


async def test_till_enrolment_of_a_known_phone_is_refused_and_audited_once(uow_factory, clock) -> None:
    phone = next_phone()
    first = await till_member(uow_factory, clock, phone=phone)
    with pytest.raises(AlreadyRegistered) as refusal:
        await till_member(uow_factory, clock, phone=phone)
    assert refusal.value.member_number == first.member_number
    async with uow_factory() as uow:
        events = (await uow.session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    # One enrolment; the refusal names the member, so it is audited as the lookup it amounts to.
    assert [(event.action, event.member_id) for event in events] == [
        ("member.enrol", first.id), ("member.read", first.id)
    ]


async def test_concurrent_chat_and_till_enrolment_of_one_phone_make_one_member(uow_factory, clock) -> None:
    phone = next_phone()

    async def from_chat(telegram_id: int) -> str:
        async with uow_factory() as uow:
            try:
                await register_from_chat(
                    uow, clock, TEST_SETTINGS, telegram_id=telegram_id, phone_e164=phone, locale="en",
                    consent=Consent(version="v1", given_at=clock.now()),
                )
                return "ok"
            except (AlreadyRegistered, PhoneTaken):
                return "refused"

    async def from_till() -> str:
        async with uow_factory() as uow:
            try:
                await enrol_at_till(uow, clock, TEST_SETTINGS, phone_e164=phone, consent_version="v1", locale="en", actor="t")
                return "ok"
            except AlreadyRegistered:
                return "refused"

    results = await asyncio.gather(*(from_chat(500 + i) for i in range(5)), *(from_till() for _ in range(5)))
    assert await member_count(uow_factory) == 1
    async with uow_factory() as uow:
        member = await uow.members.by_phone(phone)
        assert member is not None
    # Either a till won and one chat linked to it, or a chat won outright; never two chats.
    assert results.count("ok") in (1, 2)
    if results.count("ok") == 2:
        assert member.enrolled_via == "till" and member.telegram_id is not None


async def test_profile_updates_validate_and_write_nothing_when_refused(uow_factory, clock) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=11)
    async with uow_factory() as uow:
        member = await uow.members.by_telegram_id(11)
        assert member is not None
        with pytest.raises(InvalidBirthday):
            await set_birthday(uow, clock, TEST_SETTINGS, member, "2099-01-01")
        with pytest.raises(InvalidCity):
            await set_city(uow, clock, TEST_SETTINGS, member, "🙂")
    async with uow_factory() as uow:
        member = await uow.members.by_telegram_id(11)
        assert member is not None and uow.members.birthday_of(member) is None and member.city is None
        await set_birthday(uow, clock, TEST_SETTINGS, member, "1990-05-17")
        await set_city(uow, clock, TEST_SETTINGS, member, " Shanghai ")
    async with uow_factory() as uow:
        member = await uow.members.by_telegram_id(11)
        assert member is not None and str(uow.members.birthday_of(member)) == "1990-05-17"
        assert member.city == "Shanghai"


async def test_uncommitted_work_is_rolled_back(uow_factory, clock) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=12)
    async with uow_factory() as uow:
        loaded = await uow.members.by_telegram_id(12)
        assert loaded is not None
        loaded.city = "Never saved"
        await uow.flush()
    async with uow_factory() as uow:
        reloaded = await uow.members.by_id(member.id)
        assert reloaded is not None and reloaded.city is None


async def test_blocking_marks_unreachable_and_keeps_data(uow_factory, clock: FixedClock) -> None:
    await chat_member(uow_factory, clock, telegram_id=13)
    async with uow_factory() as uow:
        blocked = await set_chat_reachable(uow, clock, 13, reachable=False)
        assert blocked is not None and blocked.chat_blocked_at == clock.now()
    async with uow_factory() as uow:
        again = await set_chat_reachable(uow, clock, 13, reachable=True)
        assert again is not None and again.chat_blocked_at is None
        assert await set_chat_reachable(uow, clock, 424242, reachable=False) is None
