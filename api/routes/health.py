"""Liveness, database reachability and the secret key's fit, for load balancers and monitors;
needs no API key.

Three answers, so a busy database is never mistaken for a dead one:
- ok (200): a unit of work got its connection (and on SQLite the write lock every transaction
  of the program takes) and ran a statement within WRITE_WAIT_SECONDS, and the database is
  written with a SECRET_KEY this process has;
- busy (200): it did not (on SQLite a long write transaction holds the write lock, and a
  process's only connection with it; on PostgreSQL every pooled connection is taken), but the
  database answers a read made aside, over a connection of its own that needs no write lock.
  The API keeps serving, more slowly: a load balancer should keep the instance, since every
  instance shares that database;
- unavailable (503): the statement failed, or the read aside failed or took longer than
  READ_TIMEOUT_SECONDS; or the database is now written with a SECRET_KEY this process does not
  have (another process began or finished a key rotation this one was not restarted for).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Response, status

from api.deps import UowFactoryDep
from api.schemas import HealthPublic
from api.schemas.common import BODY_TOO_LARGE
from db.uow import UnitOfWorkFactory
from loyalty.secret_keys import secret_key_status

log = logging.getLogger(__name__)

WRITE_WAIT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0

router = APIRouter(tags=["health"], responses={status.HTTP_413_CONTENT_TOO_LARGE: BODY_TOO_LARGE})

DatabaseState = Literal["ok", "busy", "unreachable"]
KeyState = Literal["ok", "mismatch", "unknown"]


async def database_state(factory: UnitOfWorkFactory) -> tuple[DatabaseState, KeyState]:
    """`SELECT 1` and the keys the database is written with, in a unit of work of its own, as any
    request runs; if that is slow, a read aside tells busy from unreachable (the key is then
    unknown). Any failure is 'unreachable'."""
    ping = _ping_in_flight(factory)
    done, _ = await asyncio.wait({ping}, timeout=WRITE_WAIT_SECONDS)
    if done:
        if (error := ping.exception()) is None:
            return "ok", ping.result()
        log.warning("health check: database unreachable (%s: %s)", type(error).__name__, error)
        return "unreachable", "unknown"
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            await factory.read_aside()
    except Exception as exc:  # noqa: BLE001 - a timeout included
        log.warning("health check: database unreachable (%s: %s)", type(exc).__name__, exc)
        return "unreachable", "unknown"
    log.warning("health check: database busy (no connection or write lock within %.1f s)", WRITE_WAIT_SECONDS)
    return "busy", "unknown"


# The ping each factory has in flight. A ping that waits for the write lock is left to finish,
# not cancelled: on SQLite the driver's thread stays blocked in BEGIN IMMEDIATE either way, and
# cleaning up after a cancelled one would wait for that. The next check waits for the same
# ping instead of queueing another behind it.
_pings: WeakKeyDictionary[UnitOfWorkFactory, asyncio.Task[Literal["ok", "mismatch"]]] = WeakKeyDictionary()


def _ping_in_flight(factory: UnitOfWorkFactory) -> asyncio.Task[Literal["ok", "mismatch"]]:
    ping = _pings.get(factory)
    if ping is None or ping.done():
        ping = asyncio.create_task(_ping(factory), name="health ping")
        ping.add_done_callback(_retrieved)
        _pings[factory] = ping
    return ping


async def _ping(factory: UnitOfWorkFactory) -> Literal["ok", "mismatch"]:
    async with factory() as uow:
        await uow.ping()
        return await secret_key_status(uow)


def _retrieved(ping: asyncio.Task[Literal["ok", "mismatch"]]) -> None:
    # A ping that outlived its check may fail after nobody waits for it; its error was, or will
    # be, reported by a check, so it is only marked as seen here.
    if not ping.cancelled():
        ping.exception()


@router.get(
    "/health",
    summary="Is the API up, is its database answering, busy or unreachable, and does its SECRET_KEY fit?",
    description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    responses={
        status.HTTP_200_OK: {
            "model": HealthPublic,
            "description": "Serving: the database answered (`ok`), or answers reads while a long job holds it (`busy`)",
        },
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": HealthPublic,
            "description": "The database cannot be read (`unavailable` / `unreachable`), or it is now written "
            "with a SECRET_KEY this process does not have (`secret_key`: `mismatch`: restart it with the "
            "current SECRET_KEY and OLD_SECRET_KEYS)",
        },
    },
)
async def health(factory: UowFactoryDep, response: Response) -> HealthPublic:
    database, key = await database_state(factory)
    if database == "unreachable":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", database="unreachable", secret_key="unknown")
    if key == "mismatch":
        log.error("health check: the database is now written with a SECRET_KEY this process does not have")
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", database=database, secret_key="mismatch")
    return HealthPublic(status=database, database=database, secret_key=key)
