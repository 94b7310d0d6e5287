"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def on_postgres(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL (where a repository may use what SQLite lacks:
    SKIP LOCKED, arrays, ANALYZE)."""
    bind = session.bind
    return bind is not None and bind.dialect.name == "postgresql"


def dialect_insert(session: AsyncSession, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into a mapped class's table in the session's dialect, for the ON CONFLICT
    clauses both PostgreSQL and SQLite have. Table columns, not the class's: rows go in as plain
    dicts in batches, without the ORM's bulk machinery."""
    table = model.__table__
    assert isinstance(table, Table), f"{model.__name__} maps no single table"
    return (postgresql.insert if on_postgres(session) else sqlite.insert)(table)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # A database error's message carries the statement's parameters (phone indexes, birthdays,
    # names) unless told not to, and such messages end up in logs.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # SQLite runs one write transaction at a time. Within a process, one connection makes
        # transactions queue fairly on the pool (FIFO, no sleeping); across processes sharing
        # the file, busy_timeout makes them wait for each other instead of failing.
        kwargs.setdefault("connect_args", {"timeout": 30})
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 120)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred SQLite transaction that has read cannot become a writer once another writer has
    # committed: it fails at once with "database is locked" instead of waiting. Taking the write
    # lock at BEGIN makes writers queue on busy_timeout, so concurrent purchases serialise.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not emit its own BEGIN: `_sqlite_begin_immediate` does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the bot writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL stays consistent after a crash and skips an fsync per commit; only the
    # last transactions before a power loss can be lost.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextlib.asynccontextmanager
async def reading_aside(url: str) -> AsyncIterator[AsyncSession]:
    """A session over a connection of its own, outside the program's pool, that reads one
    consistent snapshot and never takes the write lock: for a long read (a campaign's audience,
    streamed) while the program's own connection writes in short transactions, which a purchase
    can get in between. SQLite (WAL): a deferred transaction, `query_only`; PostgreSQL: a READ
    ONLY, REPEATABLE READ transaction."""
    if is_sqlite(url):
        engine = create_async_engine(url, poolclass=NullPool)
        event.listen(engine.sync_engine, "connect", _sqlite_reader_pragmas)
        event.listen(engine.sync_engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    else:
        engine = create_async_engine(url, poolclass=NullPool).execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    try:
        async with AsyncSession(engine) as session:
            yield session
    finally:
        await engine.dispose()


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the "begin" listener emits a deferred BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def read_aside(url: str) -> None:
    """Read the database's schema over a connection of its own, outside the program's pool and
    without the write lock: raises if the database cannot be read.

    What `/health` asks when the program's own connections are slow to come: on SQLite a long
    write transaction holds the only connection and the write lock, but in WAL mode a reader
    is never blocked by it, so this tells a busy database from a dead one. The SQLite file is
    opened read-only (`mode=ro`), so a missing file is an error, not a new empty database."""
    parts = make_url(url)
    if parts.get_backend_name() == "sqlite":
        parts = parts.set(database=f"file:{parts.database}", query={**parts.query, "mode": "ro", "uri": "true"})
        statement = text("SELECT count(*) FROM sqlite_master")
    else:
        statement = text("SELECT 1")
    engine = create_async_engine(parts, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(statement)
    finally:
        await engine.dispose()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
