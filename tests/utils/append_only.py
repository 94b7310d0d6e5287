"""Lifting the database's append-only guard (db/append_only.py) inside one transaction, for
tests only: emptying the tables between tests, or simulating a hand edit that got past it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from db import append_only


@asynccontextmanager
async def guard_lifted(connection: AsyncConnection) -> AsyncIterator[None]:
    """Drop the triggers, run the block, create them again: all in the connection's current
    transaction, so no other connection ever sees the tables unguarded (DDL is transactional on
    SQLite and PostgreSQL, and holds the tables' locks until the end of it). If the block
    raises, the transaction rolls back and the triggers with it."""
    dialect = connection.dialect.name
    for statement in append_only.drop_triggers(dialect):
        await connection.exec_driver_sql(statement)
    yield
    for statement in append_only.create_triggers(dialect):
        await connection.exec_driver_sql(statement)
