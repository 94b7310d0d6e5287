"""Database errors reach the logs (the bot's and the API's error handlers log them whole); the
values of the failed statement, birthdays and phone indexes among them, must not."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from tests.utils.members import till_member

BIRTHDAY = date(1990, 5, 17)


async def test_a_database_error_names_the_statement_but_never_its_values(
    engine: AsyncEngine, uow_factory: UnitOfWorkFactory, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    member = await till_member(uow_factory, clock)
    row = {
        column: getattr(member, column)
        for column in ("locale", "enrolled_via", "consent_version", "consented_at", "tier_id", "tier_since",
                       "created_at", "updated_at", "phone_encrypted", "phone_index")
    }
    # The same phone again: the unique index refuses it.
    duplicate = {**row, "member_number": "1234567897", "birthday": BIRTHDAY, "city": "Hangzhou", "points_balance": 0}
    with pytest.raises(IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(insert(Member), duplicate)
    logging.getLogger("tests").exception("as the error handlers log it", exc_info=caught.value)
    hidden = ["1990-05-17", "Hangzhou", member.phone_encrypted, "1234567897"]
    if engine.dialect.name == "sqlite":
        # PostgreSQL's own message names the duplicated key ("Key (phone_index)=(…) already
        # exists"): a keyed HMAC, which tells nothing without SECRET_KEY. No parameter is shown.
        hidden.append(member.phone_index)
    for text in (str(caught.value), caplog.text):
        assert "INSERT INTO members" in text and "SQL parameters hidden" in text
        for value in hidden:
            assert value not in text, f"{value} reached the log"
