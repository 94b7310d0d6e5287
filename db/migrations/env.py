"""Alembic environment. Runs on a connection handed in by `db.migrate`, or opens its own
from DATABASE_URL when invoked through the `alembic` command line."""

from __future__ import annotations

import asyncio
import logging.config
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from db.engine import create_engine
from db.models import Base, UtcDateTime
from loyalty.config import Settings

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import the live models; a UTC timestamp is a plain aware DateTime there.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_own_connection() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or Settings().database_url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run against a database")

connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_own_connection())
