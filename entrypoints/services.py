"""What every process opens, from the admin commands to `loyalty run`: settings, logging, and the
database with what uses it. Nothing here imports the bot or the web server, so an admin command
(`loyalty apikey list`) starts without loading aiogram, uvicorn or FastAPI."""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock, SystemClock
from loyalty.config import Settings
from loyalty.secret_keys import check_secret_key

log = logging.getLogger(__name__)


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class CannotStart(Exception):
    """Why the process cannot start, as one line an operator can act on (no traceback)."""


class DatabaseUnreachable(CannotStart):
    pass


def configure_logging(level: str, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else level,
        format=LOG_FORMAT,
        force=True,
    )
    # Per-request access lines and SQL echo drown out what the product itself says.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler's "Added job ... to job store" and "Running job ..." lines are its bookkeeping;
    # the product logs what its jobs did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def ensure_dev_secret(settings: Settings, env_file: Path = Path(".env")) -> Settings:
    """On a developer's machine with no SECRET_KEY, create one in .env once, so the first run
    works and later runs can still read the phone numbers it encrypted. Production never
    gets here: Settings refuses to load without a real key."""
    has_key = settings.secret_key is not None and settings.secret_key.get_secret_value().strip()
    if has_key or settings.environment == "production":
        return settings
    key = secrets.token_urlsafe(48)
    with env_file.open("a", encoding="utf-8") as handle:
        handle.write(f"\n# Generated on first run for local development; keep it secret.\nSECRET_KEY={key}\n")
    env_file.chmod(0o600)
    log.warning("SECRET_KEY was not set: generated one into %s for local development", env_file)
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def freeze_startup_heap() -> None:
    """Keep what startup built (modules, pydantic models, templates: some 300,000 objects) out
    of the garbage collector's full collections from now on.

    A full collection walks every tracked object, and the startup heap makes each one pause the
    loop for 100-200 ms. For a broadcast at 1,000 msg/s that pause bunches a fifth of a second
    of sends into one burst, which Telegram answers with a 429 and a whole second's stop. Frozen
    objects are still freed when unreferenced; cyclic garbage left at startup is collected
    first."""
    gc.collect()
    gc.freeze()


async def check_reachable(engine: AsyncEngine) -> None:
    """Connect once, so an unreachable database is a sentence (DatabaseUnreachable), not a
    driver's traceback."""
    from sqlalchemy.exc import DBAPIError

    where = engine.url.render_as_string(hide_password=True)
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).parent.is_dir():
        # Found before aiosqlite tries: its failed connection leaves a thread behind that
        # prints a traceback when the process exits.
        raise DatabaseUnreachable(
            f"cannot open the database at DATABASE_URL ({where}): the folder {Path(path).parent} does not "
            "exist. Create it, or correct DATABASE_URL"
        )
    refusals: tuple[type[BaseException], ...] = (OSError, DBAPIError, TimeoutError, *_driver_errors())
    try:
        async with engine.connect():
            pass
    except refusals as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0] or type(error).__name__
        raise DatabaseUnreachable(
            f"cannot open the database at DATABASE_URL ({where}): {reason}. Start the database or correct "
            "DATABASE_URL (sqlite+aiosqlite:///./loyalty.sqlite3 needs no server)"
        ) from None


def _driver_errors() -> tuple[type[Exception], ...]:
    # asyncpg's own refusals (a wrong password, a missing database) reach the caller unwrapped.
    try:
        from asyncpg import PostgresError  # type: ignore[import-untyped]
    except ImportError:
        return ()
    return (PostgresError,)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory
    clock: Clock


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """The database and what uses it, for one process. Refuses (SecretKeyMismatch) when the
    process's keys cannot read what the database holds: nothing is started then."""
    engine = create_engine(settings.database_url)
    try:
        await check_reachable(engine)
        cipher = FieldCipher(settings.require_secret_key(), settings.old_keys())
        if migrate:
            # A revision may encrypt existing rows; it checks the key against the database first.
            await upgrade(engine, cipher=cipher)
        services = Services(settings, engine, UnitOfWorkFactory(create_session_factory(engine), cipher), SystemClock())
        await check_secret_key(services.uow_factory, services.clock)
        yield services
    finally:
        await engine.dispose()
