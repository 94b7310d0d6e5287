"""Shared fixtures: a real database per run (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), migrated once, emptied before every test."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade_database
from db.models import Base
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.append_only import guard_lifted

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
START = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        asyncio.run(upgrade_database(url))
        yield url
        return
    # A database of its own per test run, so runs in parallel (or a previous run's leftovers)
    # never share tables, and a bad migration cannot hide behind an old schema.
    scratch = f"loyalty_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{scratch}"'))
    url = make_url(server_url).set(database=scratch).render_as_string(hide_password=False)
    try:
        asyncio.run(upgrade_database(url))
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))


async def _admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        bot_token=None,
        bot_api_url="http://127.0.0.1:9",
        # Tests call routes many times from one address, often with bad keys on purpose; the
        # rate limits are tested with their own numbers (tests/integration/test_api_rate_limits.py).
        api_rate_limit="1000000/minute",
        auth_failure_limit="1000000/minute",
        auth_failure_limit_per_key="1000000/minute",
    )


@pytest.fixture(scope="session")
def seed_rows(database_url: str) -> dict[str, list[dict[str, object]]]:
    """What the migrations seeded (default tiers, base earning rule), restored for every test."""

    async def read() -> dict[str, list[dict[str, object]]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return {
                    table.name: [dict(row._mapping) for row in await connection.execute(table.select())]
                    for table in Base.metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    return {name: rows for name, rows in asyncio.run(read()).items() if rows}


@pytest.fixture
async def engine(database_url: str, seed_rows: dict[str, list[dict[str, object]]]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await reset_tables(engine, seed_rows)
    yield engine
    await engine.dispose()


async def reset_tables(engine: AsyncEngine, seed_rows: dict[str, list[dict[str, object]]]) -> None:
    """Empty every table and put back what the migrations seeded (also between the examples of
    a property test that writes a whole population)."""
    async with engine.begin() as connection:
        # The ledger and the audit trail refuse DELETE (db/append_only.py): the guard is lifted
        # for this reset and put back before it commits, so no other connection sees it lifted.
        async with guard_lifted(connection):
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            if table.name in seed_rows:
                await connection.execute(table.insert(), seed_rows[table.name])
                if connection.dialect.name == "postgresql":
                    # Rows went in with their ids; the id sequence must move past them.
                    await connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), MAX(id)) FROM {table.name}")
                    )


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_session_factory(engine), FieldCipher(TEST_SECRET))


@pytest.fixture
async def one_connection(engine: AsyncEngine, database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work sharing a single connection, as every process does on SQLite (after the
    `engine` fixture has emptied the tables)."""
    single = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        yield UnitOfWorkFactory(create_session_factory(single), FieldCipher(TEST_SECRET))
    finally:
        await single.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)
