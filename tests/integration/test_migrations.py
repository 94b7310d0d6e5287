"""The migrations are the schema: they build exactly what the models describe, and unwind."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher, hash_api_key
from db.engine import create_engine, create_session_factory
from db.migrate import current_revision, downgrade, head_revision, upgrade
from db.models import Base
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import ALL_SCOPES, authenticate
from loyalty.clock import FixedClock


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


async def test_keys_made_before_scopes_keep_every_scope(tmp_path: Path) -> None:
    """Migration 0009: a key that exists before it goes on working as it did (every scope),
    marked so `loyalty apikey list` can say so."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'before_scopes.sqlite3'}")
    raw = "lk_" + "k" * 43
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO api_keys (name, key_hash, prefix, created_at) "
                    "VALUES ('old-till', :hash, 'lk_kkkkkkk', '2026-01-01 00:00:00.000000')"
                ),
                {"hash": hash_api_key(raw)},
            )
        await upgrade(engine)
        factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher("x" * 40))
        async with factory() as uow:
            outcome = await authenticate(uow, FixedClock(datetime(2026, 12, 6, tzinfo=timezone.utc)), raw)
        assert outcome.key is not None
        assert outcome.key.scopes == ALL_SCOPES and outcome.key.unscoped
    finally:
        await engine.dispose()
