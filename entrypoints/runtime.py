"""Wiring for a running process: the bot, the API and the scheduler in one event loop.

Settings, logging and the database (`open_services`) live in entrypoints.services, which the
admin commands use without loading aiogram or uvicorn; they are imported here too, for the
callers that run the whole process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from aiogram import Bot, Dispatcher

from bot.broadcast.client import BroadcastClient
from entrypoints.services import (
    CannotStart,
    Services,
    configure_logging,
    ensure_dev_secret,
    freeze_startup_heap,
    open_services,
)

__all__ = [
    "ApiServer",
    "Services",
    "api_server",
    "configure_logging",
    "ensure_dev_secret",
    "freeze_startup_heap",
    "open_services",
    "run_until_stopped",
]

log = logging.getLogger(__name__)

# Waits between attempts to reach the Bot API at start-up, doubling up to the last.
BOT_API_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0)


class ApiPortTaken(CannotStart):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"API_PORT {port} on {host} is taken (another `loyalty run` or `loyalty chat`?): "
            "stop that one, or set API_PORT to a free port"
        )
        self.host = host
        self.port = port


class BotTokenRefused(CannotStart):
    pass


class ApiServer(uvicorn.Server):
    """uvicorn inside a loop shared with the bot: the process, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_api_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything else starts: a taken port is a
    sentence (ApiPortTaken), and "API listening" is logged only once it is true."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise ApiPortTaken(host, port) from None
    sock.setblocking(False)
    return sock


async def connect_bot(bot: Bot, api_url: str) -> None:
    """Ask the Bot API who the bot is, until it answers: a network that is not there yet (or a
    Bot API server that is down) is retried with backoff and a log line; a token the server
    refuses stops the process (BotTokenRefused)."""
    from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError

    for attempt in range(1, 1_000_000):
        try:
            me = await bot.me()
        except TelegramUnauthorizedError:
            raise BotTokenRefused(
                f"BOT_TOKEN was refused by the Bot API at {api_url} (Unauthorized): copy the token again "
                "from @BotFather, or send /revoke there for a new one"
            ) from None
        except (TelegramNetworkError, TelegramServerError, OSError, TimeoutError) as error:
            delay = BOT_API_RETRY_SECONDS[min(attempt, len(BOT_API_RETRY_SECONDS)) - 1]
            log.warning(
                "cannot reach the Bot API at %s (%s): trying again in %.0f s (attempt %d)",
                api_url, type(error).__name__, delay, attempt,
            )
            await asyncio.sleep(delay)
        else:
            log.info("bot @%s connected to %s", me.username, api_url)
            return


async def poll(bot: Bot, dispatcher: Dispatcher, api_url: str) -> None:
    # Once connected, aiogram's polling retries a lost network itself, with backoff and a log line.
    await connect_bot(bot, api_url)
    await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)


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
        sock = bind_api_socket(services.settings.api_host, services.settings.api_port)
        tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="api"))
        log.info("API listening on http://%s:%s", services.settings.api_host, services.settings.api_port)
    jobs = build_scheduler(services.settings, services.uow_factory, services.clock) if scheduler else None
    if jobs is not None:
        jobs.start()
        log.info("scheduler started with %d jobs", len(jobs.get_jobs()))
    if bot is not None and dispatcher is not None:
        from bot.notifier import NotificationSender

        api_url = bot.session.api.base.split("/bot{token}")[0]
        tasks.append(asyncio.create_task(poll(bot, dispatcher, api_url), name="bot"))
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
