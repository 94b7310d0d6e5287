"""Bring a database to the newest schema with the Alembic revisions in db/migrations."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.crypto import FieldCipher
from db.engine import create_engine

# Package data of `db`, so an installed wheel migrates as a checkout does; Alembic reads them
# as plain files, which they are in an unpacked wheel.
MIGRATIONS = Path(str(files("db") / "migrations"))
log = logging.getLogger(__name__)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


@contextlib.asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction to change the schema in.

    SQLite alters most things by rebuilding the table (Alembic's batch mode): a new table, the
    rows copied, the old one dropped. With foreign keys on, dropping the old `members` would
    first delete its rows, cascading to every row that points to them. So, as SQLite's own
    procedure for schema changes says: foreign keys off outside the transaction, and checked
    before it commits."""
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            async with connection.begin():
                yield connection
                if sqlite and (broken := (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()):
                    raise RuntimeError(f"the migration left rows pointing to nothing: {broken[:5]}")
        finally:
            if sqlite:
                await _pragma(connection, "PRAGMA foreign_keys=ON")


async def _pragma(connection: AsyncConnection, statement: str) -> None:
    # On the driver's connection: through SQLAlchemy it would begin a transaction first, inside
    # which SQLite ignores this pragma.
    raw = await connection.get_raw_connection()
    await raw.driver_connection.execute(statement)  # type: ignore[union-attr]


async def upgrade(engine: AsyncEngine, revision: str = "head", *, cipher: FieldCipher | None = None) -> None:
    """`cipher`: the program's field encryption, for revisions that encrypt existing rows
    (0011: birthdays). Without it such a revision refuses to run on a database that has them."""
    before = await current_revision(engine)
    await _run(engine, cipher, lambda config: command.upgrade(config, revision))
    after = await current_revision(engine)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    else:
        log.info("database schema is current (%s)", after)


async def downgrade(engine: AsyncEngine, revision: str, *, cipher: FieldCipher | None = None) -> None:
    await _run(engine, cipher, lambda config: command.downgrade(config, revision))


async def _run(engine: AsyncEngine, cipher: FieldCipher | None, step: Callable[[Config], None]) -> None:
    """An Alembic command on the engine's own connection, with the cipher for revisions that
    encrypt existing rows."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes["cipher"] = cipher
        step(config)

    async with _migrating(engine) as connection:
        await connection.run_sync(run)


async def upgrade_database(url: str, *, cipher: FieldCipher | None = None) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, cipher=cipher)
    finally:
        await engine.dispose()
