"""Wiring for a running process: settings, logging, the database and the parts that use it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from aiogram import Bot, Dispatcher
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.broadcast.client import BroadcastClient
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock, SystemClock
from loyalty.config import Settings
from loyalty.secret_keys import check_secret_key

log = logging.getLogger(__name__)


def configure_logging(level: str, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        force=True,
    )
    # Per-request access lines and SQL echo drown out what the product itself says.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


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
        cipher = FieldCipher(settings.require_secret_key(), settings.old_keys())
        if migrate:
            # A revision may encrypt existing rows; it checks the key against the database first.
            await upgrade(engine, cipher=cipher)
        services = Services(settings, engine, UnitOfWorkFactory(create_session_factory(engine), cipher), SystemClock())
        await check_secret_key(services.uow_factory, services.clock)
        yield services
    finally:
        await engine.dispose()


class ApiServer(uvicorn.Server):
    """uvicorn inside a loop shared with the bot: the process, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(services: Services) -> ApiServer:
    from api.main import create_app

    app = create_app(services.settings, uow_factory=services.uow_factory, clock=services.clock)
    config = uvicorn.Config(
        app,
        host=services.settings.api_host,
        port=services.settings.api_port,
        log_config=None,
        lifespan="on",
    )
    return ApiServer(config)


async def run_until_stopped(
    *,
    services: Services,
    api: bool,
    bot: Bot | None,
    dispatcher: Dispatcher | None,
    scheduler: bool,
    broadcast_client: BroadcastClient | None = None,
    foreground: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run the chosen parts until SIGINT/SIGTERM (or until `foreground` returns).

    With a bot, its process also drains the outboxes: nudges and receipts one by one, campaigns
    through `broadcast_client` (a Bot API client of its own, which meets flood control by
    slowing down rather than by waiting per chat), and keeps staff's campaign progress messages current."""
    from entrypoints.scheduler import build_scheduler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[object]] = []
    server = api_server(services) if api else None
    if server is not None:
        tasks.append(asyncio.create_task(server.serve(), name="api"))
        log.info("API listening on http://%s:%s", services.settings.api_host, services.settings.api_port)
    jobs = build_scheduler(services.settings, services.uow_factory, services.clock) if scheduler else None
    if jobs is not None:
        jobs.start()
        log.info("scheduler started with %d jobs", len(jobs.get_jobs()))
    if bot is not None and dispatcher is not None:
        from bot.notifier import NotificationSender

        tasks.append(
            asyncio.create_task(
                dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False), name="bot"
            )
        )
        from bot.throttle import Throttle

        settings = services.settings
        # One budget for everything the bot sends unasked: Telegram counts nudges and campaign
        # messages against the same limit.
        budget = Throttle(settings.broadcast_rate, settings.broadcast_per_chat_rate)
        sender = NotificationSender(bot, services.uow_factory, services.clock, settings, throttle=budget)
        tasks.append(asyncio.create_task(sender.run(), name="notifications"))
        if broadcast_client is not None:
            from bot.broadcast import BroadcastEngine
            from bot.campaign_progress import CampaignProgressWatcher

            engine = BroadcastEngine(broadcast_client, services.uow_factory, services.clock, settings, throttle=budget)
            progress = CampaignProgressWatcher(bot, services.uow_factory, services.clock, services.settings)
            tasks.append(asyncio.create_task(engine.run(), name="campaigns"))
            tasks.append(asyncio.create_task(progress.run(), name="campaign progress"))
    if foreground is not None:
        tasks.append(asyncio.create_task(_then_set(foreground, stop), name="foreground"))
    freeze_startup_heap()
    watcher = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([watcher, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not watcher and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        log.info("shutting down")
        if server is not None:
            server.should_exit = True
        if dispatcher is not None:
            with contextlib.suppress(RuntimeError):  # raised when polling never started
                await dispatcher.stop_polling()
        if jobs is not None:
            jobs.shutdown(wait=False)
        watcher.cancel()
        for task in tasks:
            if task.get_name() in OUTBOX_TASKS:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if bot is not None:
            await bot.session.close()
        if broadcast_client is not None:
            await broadcast_client.close()


# Loops that run until cancelled (the others stop on their own when asked).
OUTBOX_TASKS = ("notifications", "campaigns", "campaign progress")


async def _then_set(foreground: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    try:
        await foreground()
    finally:
        stop.set()
