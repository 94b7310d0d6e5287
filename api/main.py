"""The merchant REST API: tills, shops and back offices talk to the loyalty program here.

Build it with `create_app(settings)`; serve it with
`uvicorn --factory api.main:app_from_env` (settings from the environment and `.env`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import metadata
from typing import NoReturn

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url

from api.auth import install_auth
from api.console import CSV_UPLOAD_PATHS, install_console
from api.errors import install_error_handlers
from api.ratelimit import RateLimits
from api.request_limits import RequestBodyLimit
from api.response_headers import SecurityHeaders
from api.routes import API_V1_PREFIX, api_v1, health
from api.webapp import install_webapp
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock, SystemClock
from loyalty.config import Settings, explain
from loyalty.secret_keys import SecretKeyMismatch, check_secret_key

log = logging.getLogger(__name__)

DESCRIPTION = """\
The merchant side of the loyalty program that lives in a Telegram chat.

Tills, online shops and back offices look members up and enrol them here; members themselves
use the bot. Every route under `/api/v1` needs an API key sent as `Authorization: Bearer <key>`
(create one with `loyalty apikey create <name> --scope till`); what a key does is audited under
its name. A key's scopes (`till`, `marketing`, `admin`) decide which routes it may call: any
other answers 403. Requests per key and failed authentications per address are limited: beyond
the limit the answer is 429 with `Retry-After`.

Personal data is minimised: answers carry a masked phone number, never the number itself.
Errors are JSON: `{"detail": "...", "code": "..."}`, or for invalid input a list of
`{"loc", "msg", "type"}` naming the field, as in FastAPI's own validation errors (a body that is
not JSON, or not UTF-8, is such a 422 with `type` `json_invalid`). Texts hold no control
characters (`control_character`; line breaks only in messages and descriptions). A request body
is at most 1 MiB, a CSV import 8 MiB (the program's settings): a larger one is a 413 before it is
read. Answers are never to be cached (`Cache-Control: no-store`).
"""

OPENAPI_TAGS = [
    {"name": "members", "description": "Look members up and enrol them at the till."},
    {"name": "purchases", "description": "Purchases and refunds from tills and the online shop: they credit and take back points. Writes are idempotent."},
    {"name": "points", "description": "A member's balance, what expires when, tier progress, and audited manual adjustments."},
    {"name": "rewards", "description": "The reward catalogue, and the till confirming a reward a member redeemed in the chat."},
    {"name": "coupons", "description": "Coupon templates, issuing coupons to members, and the till looking up and redeeming a coupon code."},
    {"name": "tiers", "description": "Tiers with their qualification thresholds (spend or visits over the rolling window) and benefits."},
    {"name": "earning rules", "description": "What earns points: the base rate, time-boxed promotions, and bonuses for actions."},
    {"name": "stores", "description": "The merchant's stores, which purchases and redemptions name."},
    {
        "name": "campaigns",
        "description": "Broadcasts to segments of members (tier, city, near a store, RFM, tags, ...) "
        "at Telegram's limit: preview, create, pause, resume, cancel, follow the progress, and the "
        "report comparing the targeted members with a random hold-out group.",
    },
    {"name": "health", "description": "Liveness and database reachability; no API key needed."},
]


def _version() -> str:
    try:
        return metadata.version("telegram-loyalty")
    except metadata.PackageNotFoundError:  # running from a checkout that was not installed
        return "0+unknown"


def create_app(
    settings: Settings,
    *,
    uow_factory: UnitOfWorkFactory | None = None,
    clock: Clock | None = None,
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """The API app. Without `uow_factory`, its lifespan opens (and finally disposes of) an
    engine for `settings.database_url`; with one, the caller owns the database. Rate limits are
    counted in memory, or in Redis with REDIS_URL, unless `rate_limits` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if uow_factory is not None:
            log.info("API started on a database provided by the caller")
            yield
            log.info("API stopped")
            return
        cipher = FieldCipher(settings.require_secret_key(), settings.old_keys())  # refuse to start without a key
        engine = create_engine(settings.database_url)
        factory = UnitOfWorkFactory(create_session_factory(engine), cipher)
        try:
            await check_secret_key(factory, app.state.clock)  # or refuse a key the data was not written with
        except BaseException:
            await engine.dispose()
            raise
        app.state.uow_factory = factory
        log.info(
            "API started on %s",
            make_url(settings.database_url).render_as_string(hide_password=True),
        )
        try:
            yield
        finally:
            del app.state.uow_factory
            await engine.dispose()
            log.info("API stopped; database connections closed")

    # /docs and /redoc serve Swagger UI and ReDoc from the package's own copy, not a CDN: the
    # merchant's console may run where there is no internet, and no third party sees who reads it.
    app = FastAPIOffline(
        title=f"{settings.program_name} merchant API",
        description=DESCRIPTION,
        version=_version(),
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    if uow_factory is not None:
        app.state.uow_factory = uow_factory
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_v1)
    install_console(app)  # /console: the web pages, outside the OpenAPI document
    install_webapp(app)  # /app/: the Telegram Mini App, outside it too
    # Middlewares: the last added runs first. Every answer gets the security headers (the 401,
    # 413 and 429 of the layers below included); a body too large is refused before anything
    # reads it; the key is checked from the headers before the route reads the body.
    install_auth(app, prefix=API_V1_PREFIX, limits=rate_limits or RateLimits(settings))
    app.add_middleware(
        RequestBodyLimit,
        json_limit=settings.max_json_body_bytes,
        csv_limit=settings.max_csv_body_bytes,
        csv_upload_paths=CSV_UPLOAD_PATHS,
    )
    app.add_middleware(SecurityHeaders)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory`: settings from the environment and `.env`.

    A configuration error, or a SECRET_KEY the database was not written with, stops it with one
    line on stderr and exit status 2, before uvicorn serves anything."""
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        _refuse(*explain(error))
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _check_secret_key_now(settings)
    except SecretKeyMismatch as error:
        _refuse(str(error))
    return create_app(settings)


def _refuse(*lines: str) -> NoReturn:
    for line in lines:
        print(f"configuration error: {line}", file=sys.stderr)
    raise SystemExit(2)


def _check_secret_key_now(settings: Settings) -> None:
    """Check the key before serving. uvicorn calls the factory inside its running event loop, and
    a failing lifespan would print a traceback, so the check runs in a loop of its own."""

    async def check() -> None:
        engine = create_engine(settings.database_url)
        try:
            cipher = FieldCipher(settings.require_secret_key(), settings.old_keys())
            await check_secret_key(UnitOfWorkFactory(create_session_factory(engine), cipher), SystemClock())
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(asyncio.run, check()).result()
