"""Factories for members in a known state."""

from __future__ import annotations

import itertools

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.members import Consent, enrol_at_till, register_from_chat

_phones = itertools.count(13800000000)
TEST_SETTINGS = Settings(_env_file=None, environment="test", secret_key="x" * 40)  # type: ignore[call-arg]


def next_phone() -> str:
    """A distinct, valid mainland-China mobile number in E.164."""
    return f"+86{next(_phones)}"


async def chat_member(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    telegram_id: int,
    phone: str | None = None,
    locale: str = "en",
) -> Member:
    async with uow_factory() as uow:
        registration = await register_from_chat(
            uow,
            clock,
            TEST_SETTINGS,
            telegram_id=telegram_id,
            phone_e164=phone or next_phone(),
            locale=locale,
            consent=Consent(version="test", given_at=clock.now()),
        )
        return registration.member


async def till_member(
    uow_factory: UnitOfWorkFactory, clock: Clock, *, phone: str | None = None
) -> Member:
    async with uow_factory() as uow:
        return await enrol_at_till(
            uow, clock, TEST_SETTINGS, phone_e164=phone or next_phone(), consent_version="test", locale="en", actor="test"
        )
