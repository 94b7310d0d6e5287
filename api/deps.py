"""Request dependencies: settings, clock, one unit of work per request, and the caller's API key.

Routes declare the `Annotated` aliases below and never build these objects themselves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from db.models import ApiKey
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.apikeys import authenticate
from loyalty.clock import Clock
from loyalty.config import Settings

log = logging.getLogger(__name__)

# auto_error=False: the scheme still appears in the OpenAPI document, but the 401s (and their
# wording) are ours, so a caller can tell a missing header from a key that does not work.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="lk_...",
    description=(
        "An API key made with `loyalty apikey create <name>`, sent as "
        "`Authorization: Bearer <key>`. Every `/api/v1` route needs one."
    ),
)

MISSING_KEY = "missing API key: send the header 'Authorization: Bearer <key>'"
MALFORMED_HEADER = "malformed Authorization header: expected 'Bearer <key>'"
# Unknown and revoked keys get the same answer, so a caller learns nothing about which keys exist.
INVALID_KEY = "invalid API key"
# What an Idempotency-Key header may hold: a caller's order id, a UUID, "refund:123".
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_uow_factory(request: Request) -> UnitOfWorkFactory:
    factory: UnitOfWorkFactory | None = getattr(request.app.state, "uow_factory", None)
    if factory is None:
        raise RuntimeError("no database: the app was served without running its lifespan")
    return factory


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
UowFactoryDep = Annotated[UnitOfWorkFactory, Depends(get_uow_factory)]


async def get_uow(factory: UowFactoryDep) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request (FastAPI caches it, so the auth check shares it).

    Leaving it rolls back: only a rule's explicit commit persists anything."""
    async with factory() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_api_key(
    request: Request,
    uow: UowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> ApiKey:
    """The active API key the request carries, or a 401 that says what is wrong with it."""
    if credentials is None:
        malformed = bool(request.headers.get("Authorization", "").strip())
        log.info(
            "401 on %s %s: %s",
            request.method,
            request.url.path,
            "malformed Authorization header" if malformed else "no API key",
        )
        raise _unauthorized(MALFORMED_HEADER if malformed else MISSING_KEY)
    key = await authenticate(uow, credentials.credentials)
    if key is None:
        log.info("401 on %s %s: unknown or revoked API key", request.method, request.url.path)
        raise _unauthorized(INVALID_KEY)
    return key


ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]
