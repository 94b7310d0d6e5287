"""Authentication of `/api/v1` before anything else: the API key, and the rate limits around it.

An ASGI middleware, because FastAPI reads and parses a request's body before any dependency
runs: a route's own key check would let an unauthenticated caller make the server read, decode
and validate whatever it sends (and learn from a 422 what the route expects). Here the key is
checked from the headers alone; the body is never touched for a refused request.

- 401 (missing, malformed, unknown, revoked or expired key), counted per client address and per
  presented key (api/ratelimit.py); beyond the limit, 429 with Retry-After and no database query.
- 429 for a working key over its request limit.
- Otherwise the key, as plain values (`loyalty.apikeys.AuthenticatedKey`), goes into the
  request's state, where `api.deps.require_api_key` checks its scopes against the route, and
  so does the unit of work the key was read in: the route's `UowDep` is that one, so checking
  the key first costs no second transaction (on PostgreSQL the read's transaction goes on into
  the route; on SQLite, whose transactions hold the database's write lock, it ends before the
  body is read).

Failed attempts are audited without a flood of failures becoming a flood of writes: one
`apikey.auth_failed` row per address per window of the failure limit (its first failure), and
one `apikey.blocked` row when an address or a presented key crosses the limit. A key over its
request limit gets one `apikey.rate_limited` row per window.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from api.access import route_scopes
from api.deps import (
    AUTHENTICATED_KEY,
    INVALID_KEY,
    MALFORMED_HEADER,
    MISSING_KEY,
    REQUEST_UOW,
    InsufficientScope,
)
from api.ratelimit import RateLimits, Refusal
from db.engine import on_postgres
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.apikeys import AuthenticatedKey, authenticate, presented_prefix
from loyalty.clock import Clock

log = logging.getLogger(__name__)

UNAUTHORIZED = "unauthorized"
RATE_LIMITED = "rate_limited"


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "code": UNAUTHORIZED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def _too_many(detail: str, refusal: Refusal) -> JSONResponse:
    return JSONResponse(
        {"detail": f"{detail}; retry in {refusal.retry_after} s", "code": RATE_LIMITED},
        status_code=429,
        headers={"Retry-After": str(refusal.retry_after)},
    )


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, limits: RateLimits) -> None:
        self.app = app
        self.prefix = prefix
        self.limits = limits

    def _guarded(self, scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        path: str = scope["path"]
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        factory: UnitOfWorkFactory = request.app.state.uow_factory
        # The request's own unit of work: the key is read in it, and the route goes on in it
        # (`api.deps.get_uow`), so checking the key first costs no second transaction.
        async with factory() as uow:
            answer = await self._check(request, uow)
            if not isinstance(answer, AuthenticatedKey):
                await answer(scope, receive, send)
                return
            if not on_postgres(uow.session):
                # SQLite's transactions hold the database's write lock: end the key's read
                # before the body is read, however slowly the caller sends it.
                await uow.release()
            state = scope.setdefault("state", {})
            state[AUTHENTICATED_KEY], state[REQUEST_UOW] = answer, uow
            await self.app(scope, receive, send)

    async def _check(self, request: Request, uow: UnitOfWork) -> AuthenticatedKey | JSONResponse:
        state = request.app.state
        factory: UnitOfWorkFactory = state.uow_factory
        clock: Clock = state.clock
        address = request.client.host if request.client else "unknown"
        header = request.headers.get("Authorization", "")
        scheme, raw_key = get_authorization_scheme_param(header)
        prefix = presented_prefix(raw_key) if scheme.lower() == "bearer" else None

        blocked = await self.limits.blocked(address, prefix)
        if blocked is not None:
            return await self._blocked(request, factory, clock, address, prefix, blocked)

        if not header.strip():
            return await self._failed(request, factory, clock, address, None, "no API key", MISSING_KEY)
        if scheme.lower() != "bearer" or not raw_key:
            return await self._failed(
                request, factory, clock, address, None, "malformed Authorization header", MALFORMED_HEADER
            )
        outcome = await authenticate(uow, clock, raw_key)
        if outcome.key is None:
            await uow.rollback()  # ends the read: the audit below is a unit of work of its own
            why = f"{outcome.failure} API key" + (f" {prefix}…" if prefix else "")
            return await self._failed(request, factory, clock, address, prefix, why, INVALID_KEY)

        key = outcome.key
        limited = await self.limits.request(key.id)
        if limited is not None:
            await uow.rollback()
            log.info("429 on %s %s: API key %r is over its rate limit", request.method, request.url.path, key.name)
            if limited.first:
                await self._audit(
                    factory, clock, key.actor, "apikey.rate_limited",
                    f"requests over the limit ({self.limits.per_key}); refused for {limited.retry_after} s",
                )
            return _too_many(f"this API key is over its request limit ({self.limits.per_key})", limited)
        return key

    async def _failed(
        self,
        request: Request,
        factory: UnitOfWorkFactory,
        clock: Clock,
        address: str,
        prefix: str | None,
        why: str,
        detail: str,
    ) -> JSONResponse:
        log.info("401 on %s %s from %s: %s", request.method, request.url.path, address, why)
        refusal = await self.limits.failed(address, prefix)
        if refusal is not None:  # another request used up the limit meanwhile
            return await self._blocked(request, factory, clock, address, prefix, refusal)
        if await self.limits.first_failure(address):
            await self._audit(factory, clock, f"address:{address}", "apikey.auth_failed", why)
        return _unauthorized(detail)

    async def _blocked(
        self,
        request: Request,
        factory: UnitOfWorkFactory,
        clock: Clock,
        address: str,
        prefix: str | None,
        refusal: Refusal,
    ) -> JSONResponse:
        subject = f"key {prefix}…" if refusal.limit is self.limits.failures_per_key else address
        log.info("429 on %s %s: %s is blocked after failed authentications", request.method, request.url.path, subject)
        if refusal.first:
            log.warning("blocking %s for %d s after failed authentications", subject, refusal.retry_after)
            await self._audit(
                factory, clock, f"address:{address}", "apikey.blocked",
                f"failed authentications from {subject} over the limit ({refusal.limit}); "
                f"refused for {refusal.retry_after} s",
            )
        return _too_many("too many failed authentications", refusal)

    @staticmethod
    async def _audit(factory: UnitOfWorkFactory, clock: Clock, actor: str, action: str, detail: str) -> None:
        async with factory() as uow:
            uow.audit.record(at=clock.now(), actor=actor[:80], action=action, detail=detail)
            await uow.commit()


async def _insufficient_scope(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InsufficientScope)
    needs = exc.needs
    log.info("403 on %s %s: API key %r needs %s", request.method, request.url.path, exc.key.name, "/".join(needs))
    has = ", ".join(sorted(exc.key.scopes))
    return JSONResponse(
        {
            "detail": f"this API key's scope ({has}) does not allow this: it needs {' or '.join(needs)}",
            "code": "insufficient_scope",
            "required_scopes": needs,
        },
        status_code=403,
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(needs)}"'},
    )


def install_auth(app: FastAPI, *, prefix: str, limits: RateLimits) -> None:
    """Authenticate every request under `prefix` before its body is read, and check each
    route's scopes (call after every router is included)."""
    app.state.route_scopes = route_scopes(app.routes, prefix)
    app.state.rate_limits = limits
    app.add_exception_handler(InsufficientScope, _insufficient_scope)
    app.add_middleware(ApiKeyMiddleware, prefix=prefix, limits=limits)
