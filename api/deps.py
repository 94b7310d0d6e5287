"""Request dependencies: settings, clock, one unit of work per request, and the caller's API key.

Routes declare the `Annotated` aliases below and never build these objects themselves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.apikeys import AuthenticatedKey, Scope
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
        "An API key made with `loyalty apikey create <name> --scope till|marketing|admin`, sent "
        "as `Authorization: Bearer <key>`. Every `/api/v1` route needs one, with a scope that "
        "allows the route (403 otherwise)."
    ),
)

MISSING_KEY = "missing API key: send the header 'Authorization: Bearer <key>'"
MALFORMED_HEADER = "malformed Authorization header: expected 'Bearer <key>'"
# Unknown, revoked and expired keys get the same answer, so a caller learns nothing about which
# keys exist.
INVALID_KEY = "invalid API key"
# Where the middleware leaves the authenticated key, and the unit of work it checked it in, in
# the request's state.
AUTHENTICATED_KEY = "api_key"
REQUEST_UOW = "uow"
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


async def get_uow(request: Request, factory: UowFactoryDep) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request: under /api/v1 the one the API key was checked in (the
    middleware in api/auth.py owns and closes it), elsewhere a new one.

    Leaving it rolls back: only a rule's explicit commit persists anything."""
    checked_in: UnitOfWork | None = request.scope.get("state", {}).get(REQUEST_UOW)
    if checked_in is not None:
        yield checked_in
        return
    async with factory() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


class InsufficientScope(Exception):
    """A working key whose scopes do not allow the route: 403 naming the scopes that would."""

    def __init__(self, key: AuthenticatedKey, allowed: frozenset[Scope]) -> None:
        super().__init__(f"API key {key.name!r} lacks {sorted(allowed)}")
        self.key = key
        self.allowed = allowed

    @property
    def needs(self) -> list[str]:
        return [scope.value for scope in Scope if scope in self.allowed]


def require_scope(key: AuthenticatedKey, allowed: frozenset[Scope]) -> None:
    """403 unless `key` has one of the `allowed` scopes (admin always may)."""
    allowed = allowed | {Scope.ADMIN}
    if not key.allows(allowed):
        raise InsufficientScope(key, allowed)


async def require_api_key(
    request: Request,
    # Not read: the middleware (api/auth.py) checked the header before the body was read. It
    # puts the Bearer scheme into the OpenAPI document of every route that depends on this.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> AuthenticatedKey:
    """The key the request was authenticated with, if its scopes allow this route (403 if not).

    Authentication itself (401, 429) happens in `api.auth.ApiKeyMiddleware`, before FastAPI
    reads and parses the body; this runs after routing, so it knows the route and its scopes
    (api/access.py)."""
    key = request.scope.get("state", {}).get(AUTHENTICATED_KEY)
    if not isinstance(key, AuthenticatedKey):
        # Only a route outside the middleware's prefix can get here: refuse, never open.
        raise unauthorized(MISSING_KEY)
    route_scopes: dict[tuple[int, str], frozenset[Scope]] = request.app.state.route_scopes
    route = request.scope.get("route")
    require_scope(key, route_scopes.get((id(route), request.method), frozenset()))
    return key


ApiKeyDep = Annotated[AuthenticatedKey, Depends(require_api_key)]
