"""What the database holds, to check that a refused request wrote nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table, select

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
