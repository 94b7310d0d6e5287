"""Liveness and database reachability for load balancers and monitors; needs no API key."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response, status

from api.deps import UowFactoryDep
from api.schemas import HealthPublic
from api.schemas.common import BODY_TOO_LARGE
from db.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_SECONDS = 3.0

router = APIRouter(tags=["health"], responses={status.HTTP_413_CONTENT_TOO_LARGE: BODY_TOO_LARGE})


async def database_reachable(factory: UnitOfWorkFactory) -> bool:
    """Run `SELECT 1` in a unit of work of its own; any failure or a slow answer is 'no'."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            async with factory() as uow:
                await uow.ping()
    except Exception as exc:  # noqa: BLE001 - a probe reports failure, whatever its kind
        log.warning("health check: database unreachable (%s: %s)", type(exc).__name__, exc)
        return False
    return True


@router.get(
    "/health",
    summary="Is the API up and can it reach its database?",
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": HealthPublic,
            "description": "The database cannot be reached",
        }
    },
)
async def health(factory: UowFactoryDep, response: Response) -> HealthPublic:
    if await database_reachable(factory):
        return HealthPublic(status="ok", database="ok")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="unavailable", database="unreachable")
