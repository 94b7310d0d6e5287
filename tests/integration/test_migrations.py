"""The migrations are the schema: they build exactly what the models describe, and unwind."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher, hash_api_key
from db.engine import create_engine, create_session_factory
from db.migrate import current_revision, downgrade, head_revision, upgrade
from db.models import Base
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import ALL_SCOPES, authenticate
from loyalty.clock import FixedClock
from tests.conftest import START, TEST_SECRET, _admin


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == [], f"the models changed without a migration: {differences}"


async def test_migrations_unwind_and_rebuild(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.sqlite3'}")
    try:
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        await downgrade(engine, "base")
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
        assert differences == []
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_database(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database with no schema at all, on the backend the tests run on."""
    if not database_url.startswith("postgresql"):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield engine
        await engine.dispose()
        return
    scratch = f"loyalty_migration_{secrets.token_hex(4)}"
    await _admin(database_url, f'CREATE DATABASE "{scratch}"')
    engine = create_engine(make_url(database_url).set(database=scratch).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(database_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


async def test_0011_encrypts_the_birthdays_it_finds_and_refuses_without_the_key(empty_database: AsyncEngine) -> None:
    engine = empty_database
    cipher = FieldCipher(TEST_SECRET)
    await upgrade(engine, "0007")
    async with engine.begin() as connection:
        tier = await connection.scalar(text("SELECT id FROM tiers WHERE rank = 0"))
        for n, born in enumerate([date(1990, 5, 17), None], start=1):
            await connection.execute(
                text(
                    "INSERT INTO members (id, member_number, telegram_id, birthday, locale, enrolled_via, "
                    "consent_version, consented_at, points_balance, tier_id, tier_since, created_at, updated_at) "
                    "VALUES (:id, :number, :chat, :born, 'en', 'chat', 'v1', :at, 0, :tier, :at, :at, :at)"
                ),
                {"id": n, "number": f"100000000{n}", "chat": 5000 + n, "born": born, "tier": tier, "at": START},
            )
        await connection.execute(
            text(
                "INSERT INTO ledger_entries (member_id, at, kind, points, balance_after, actor) "
                "VALUES (1, :at, 'redeem', -10, 0, 'chat:5001')"
            ),
            {"at": START},
        )
        for scope, response in [("apikey:1", '{"member_number": "1000000001", "points_earned": 5}'),
                                ("bonus:2", '{"points": 0}'), ("apikey:1:campaigns", '{"id": 7}')]:
            await connection.execute(
                text(
                    "INSERT INTO idempotency_records (scope, key, request_hash, status_code, response, created_at) "
                    "VALUES (:scope, :scope, 'h', 201, :response, :at)"
                ),
                {"scope": scope, "response": response, "at": START},
            )
        # Rows that point to members with ON DELETE actions: rebuilding `members` must keep them.
        await connection.execute(text("INSERT INTO member_tags VALUES (1, 'vip', :at)"), {"at": START})
        await connection.execute(
            text("INSERT INTO audit_events (at, actor, action, member_id) VALUES (:at, 'cli', 'member.enrol', 1)"),
            {"at": START},
        )

    with pytest.raises(RuntimeError, match="must encrypt 1 birthdays and has no SECRET_KEY"):
        await upgrade(engine)
    assert await current_revision(engine) == "0007", "a refused migration leaves the schema as it was"

    await upgrade(engine, cipher=cipher)
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT id, birthday_month, birthday_day, birthday_encrypted FROM members ORDER BY id")
            )
        ).all()
        actors = list(await connection.scalars(text("SELECT actor FROM ledger_entries")))
    assert [(row[0], row[1], row[2], row[3] is None) for row in stored] == [(1, 5, 17, False), (2, None, None, True)]
    assert cipher.decrypt(stored[0][3]) == "1990-05-17"
    assert actors == ["chat"], "no Telegram id left in the ledger's actors"
    async with engine.connect() as connection:
        linked = (await connection.execute(text("SELECT scope, member_id FROM idempotency_records ORDER BY id"))).all()
    assert [tuple(row) for row in linked] == [("apikey:1", 1), ("bonus:2", 2), ("apikey:1:campaigns", None)]
    async with engine.connect() as connection:
        assert list(await connection.scalars(text("SELECT tag FROM member_tags WHERE member_id = 1"))) == ["vip"]
        assert list(await connection.scalars(text("SELECT member_id FROM audit_events"))) == [1]

    await downgrade(engine, "0007", cipher=cipher)
    async with engine.connect() as connection:
        birthdays = list(await connection.scalars(text("SELECT birthday FROM members ORDER BY id")))
    assert [str(born) if born else None for born in birthdays] == ["1990-05-17", None]


async def test_keys_made_before_scopes_keep_every_scope(empty_database: AsyncEngine) -> None:
    """Migration 0009: a key that exists before it goes on working as it did (every scope),
    marked so `loyalty apikey list` can say so."""
    engine = empty_database
    raw = "lk_" + "k" * 43
    await upgrade(engine, "0007")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO api_keys (name, key_hash, prefix, created_at) "
                "VALUES ('old-till', :hash, 'lk_kkkkkkk', :at)"
            ),
            {"hash": hash_api_key(raw), "at": START},
        )
    await upgrade(engine)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher("x" * 40))
    async with factory() as uow:
        outcome = await authenticate(uow, FixedClock(datetime(2026, 12, 6, tzinfo=timezone.utc)), raw)
    assert outcome.key is not None
    assert outcome.key.scopes == ALL_SCOPES and outcome.key.unscoped


@pytest.mark.parametrize("known_by", ["a stored phone", "a recorded fingerprint"])
async def test_0011_encrypts_no_birthday_with_a_key_the_database_was_not_written_with(
    empty_database: AsyncEngine, known_by: str
) -> None:
    engine = empty_database
    right, wrong = FieldCipher(TEST_SECRET), FieldCipher("another-key-the-data-was-never-written-with-42")
    await upgrade(engine, "0010")
    async with engine.begin() as connection:
        tier = await connection.scalar(text("SELECT id FROM tiers WHERE rank = 0"))
        await connection.execute(
            text(
                "INSERT INTO members (id, member_number, telegram_id, phone_index, phone_encrypted, birthday, "
                "locale, enrolled_via, consent_version, consented_at, points_balance, tier_id, tier_since, "
                "created_at, updated_at) VALUES (1, '1000000001', 5001, :index, :phone, :born, 'en', 'chat', "
                "'v1', :at, 0, :tier, :at, :at, :at)"
            ),
            {"index": right.blind_index("+8613800138000"), "phone": right.encrypt("+8613800138000"),
             "born": date(1990, 5, 17), "tier": tier, "at": START},
        )
        if known_by == "a recorded fingerprint":
            await connection.execute(
                text("INSERT INTO secret_key_fingerprints (fingerprint, recorded_at) VALUES (:print, :at)"),
                {"print": right.fingerprint, "at": START},
            )

    with pytest.raises(RuntimeError, match="SECRET_KEY is not the key this database was written with"):
        await upgrade(engine, cipher=wrong)
    assert await current_revision(engine) == "0010", "a refused migration leaves the schema as it was"

    await upgrade(engine, cipher=right)
    async with engine.connect() as connection:
        token = await connection.scalar(text("SELECT birthday_encrypted FROM members"))
    assert right.decrypt(token) == "1990-05-17"


async def test_0013_adds_the_first_name_and_keeps_erased_rows_without_it(empty_database: AsyncEngine) -> None:
    """Existing members get no name until they write; an erased row may hold none, on the way
    up; on the way down the names go (a copy of Telegram's, taken again when members write)."""
    engine = empty_database
    cipher = FieldCipher(TEST_SECRET)
    await upgrade(engine, "0012", cipher=cipher)
    async with engine.begin() as connection:
        tier = await connection.scalar(text("SELECT id FROM tiers WHERE rank = 0"))
        await connection.execute(
            text(
                "INSERT INTO members (id, member_number, telegram_id, locale, enrolled_via, consent_version, "
                "consented_at, points_balance, tier_id, tier_since, created_at, updated_at) "
                "VALUES (1, '1000000001', 5001, 'en', 'chat', 'v1', :at, 0, :tier, :at, :at, :at)"
            ),
            {"tier": tier, "at": START},
        )
        await connection.execute(text("INSERT INTO member_tags VALUES (1, 'vip', :at)"), {"at": START})

    await upgrade(engine, "0013", cipher=cipher)
    async with engine.begin() as connection:
        assert await connection.scalar(text("SELECT first_name_encrypted FROM members WHERE id = 1")) is None
        assert list(await connection.scalars(text("SELECT tag FROM member_tags WHERE member_id = 1"))) == ["vip"]
        await connection.execute(
            text("UPDATE members SET first_name_encrypted = :name WHERE id = 1"), {"name": cipher.encrypt("Alex")}
        )
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        async with engine.begin() as connection:  # erased, with telegram_id cleared but the name left
            await connection.execute(text("UPDATE members SET telegram_id = NULL, erased_at = :at WHERE id = 1"),
                                     {"at": START})
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE members SET telegram_id = NULL, first_name_encrypted = NULL, erased_at = :at WHERE id = 1"),
            {"at": START},
        )

    await downgrade(engine, "0012", cipher=cipher)
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("members")])
    assert "first_name_encrypted" not in columns and "erased_at" in columns


async def test_0014_takes_past_tier_moves_from_the_notifications(empty_database: AsyncEngine) -> None:
    engine = empty_database
    await upgrade(engine, "0013")
    later = START + timedelta(days=40)
    async with engine.begin() as connection:
        tier = await connection.scalar(text("SELECT id FROM tiers WHERE rank = 0"))
        await connection.execute(
            text(
                "INSERT INTO members (id, member_number, locale, enrolled_via, consent_version, consented_at, "
                "points_balance, tier_id, tier_since, created_at, updated_at) "
                "VALUES (1, '1000000001', 'en', 'till', 'v1', :at, 0, :tier, :at, :at, :at)"
            ),
            {"tier": tier, "at": START},
        )
        for kind, payload, moment in [
            ("tier_upgraded", '{"old": "member", "new": "gold", "coupon_ids": []}', START),
            ("points_earned", '{"points": 5}', START),
            ("tier_downgraded", '{"old": "gold", "new": "silver"}', later),
            ("tier_upgraded", '{"old": "silver", "new": "retired-tier"}', later),  # rank unknown: left out
        ]:
            await connection.execute(
                text(
                    "INSERT INTO notifications (member_id, kind, payload, status, attempts, created_at) "
                    "VALUES (1, :kind, :payload, 'sent', 1, :at)"
                ),
                {"kind": kind, "payload": payload, "at": moment},
            )
    await upgrade(engine)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT member_id, from_rank, to_rank FROM tier_changes ORDER BY id"))).all()
        ranks = dict((await connection.execute(text("SELECT code, rank FROM tiers"))).all())
    assert [tuple(row) for row in rows] == [(1, 0, ranks["gold"]), (1, ranks["gold"], ranks["silver"])]
