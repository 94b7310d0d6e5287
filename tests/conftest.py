"""Shared fixtures: a real database per run (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), migrated once, emptied before every test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory, is_sqlite
from db.migrate import upgrade
from db.models import Base
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
START = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    )

    async def prepare() -> None:
        engine = create_engine(url)
        if not is_sqlite(url):
            # Start from an empty schema so a previous run's leftovers cannot hide a bad migration.
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(prepare())
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        bot_token=None,
        bot_api_url="http://127.0.0.1:9",
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    yield engine
    await engine.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_session_factory(engine), FieldCipher(TEST_SECRET))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)
