"""What the database holds, to check that a refused request wrote nothing."""

from __future__ import annotations

from db.models import Base
from db.uow import UnitOfWorkFactory


async def every_row(uow_factory: UnitOfWorkFactory) -> dict[str, list[str]]:
    """Every row of every table, sorted: what a refused request must leave as it was."""
    async with uow_factory() as uow:
        return {
            table.name: sorted(repr(tuple(row)) for row in await uow.session.execute(table.select()))
            for table in Base.metadata.sorted_tables
        }
