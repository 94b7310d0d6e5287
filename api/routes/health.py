"""Liveness, database reachability and the secret key's fit for load balancers and monitors;
needs no API key."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Response, status

from api.deps import UowFactoryDep
from api.schemas import HealthPublic
from api.schemas.common import BODY_TOO_LARGE
from db.uow import UnitOfWorkFactory
from loyalty.secret_keys import secret_key_status

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_SECONDS = 3.0

router = APIRouter(tags=["health"], responses={status.HTTP_413_CONTENT_TOO_LARGE: BODY_TOO_LARGE})


async def database_check(factory: UnitOfWorkFactory) -> Literal["ok", "mismatch"] | None:
    """Run `SELECT 1` and read which keys the database is written with, in a unit of work of its
    own; None when that fails or is slow, else whether this process's SECRET_KEY still fits
    (another process may have begun or finished a key rotation since this one started)."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            async with factory() as uow:
                await uow.ping()
                return await secret_key_status(uow)
    except Exception as exc:  # noqa: BLE001 - a probe reports failure, whatever its kind
        log.warning("health check: database unreachable (%s: %s)", type(exc).__name__, exc)
        return None


@router.get(
    "/health",
    summary="Is the API up, can it reach its database, and does its SECRET_KEY fit the data?",
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": HealthPublic,
            "description": "The database cannot be reached, or it is now written with a SECRET_KEY "
            "this process does not have (restart it with the current SECRET_KEY and OLD_SECRET_KEYS)",
        }
    },
)
async def health(factory: UowFactoryDep, response: Response) -> HealthPublic:
    key = await database_check(factory)
    if key is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", database="unreachable", secret_key="unknown")
    if key == "mismatch":
        log.error("health check: the database is now written with a SECRET_KEY this process does not have")
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", database="ok", secret_key="mismatch")
    return HealthPublic(status="ok", database="ok", secret_key="ok")
