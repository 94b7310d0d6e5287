"""What the database holds, to check that a refused request wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Base
from db.uow import UnitOfWorkFactory

AUTH_AUDIT = "apikey."  # the actions of authentication itself: key made, attempt failed, ...


def without_auth_bookkeeping(table: Table) -> Select[Any]:
    """`table`'s rows less what authenticating a request writes (a key's last use, the audit of
    failed attempts)."""
    if table.name == "api_keys":
        return select(*(column for column in table.c if column.name != "last_used_at"))
    if table.name == "audit_events":
        return table.select().where(~table.c.action.startswith(AUTH_AUDIT))
    return table.select()


async def every_row(uow_factory: UnitOfWorkFactory) -> dict[str, list[str]]:
    """Every row of every table, sorted, less the bookkeeping of authentication: what a refused
    request must leave as it was."""
    async with uow_factory() as uow:
        return {
            table.name: sorted(repr(tuple(row)) for row in await uow.session.execute(without_auth_bookkeeping(table)))
            for table in Base.metadata.sorted_tables
        }


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block (each one round trip)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@contextmanager
def writes(engine: AsyncEngine) -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements run on `engine` inside the block, once it ends."""
    written: list[str] = []
    with statements(engine) as seen:
        yield written
    written.extend(s for s in seen if s.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"})
