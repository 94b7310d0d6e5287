"""The sandbox HTTP server (Bot API routes + a small control API) and its Python control API.

Usage::

    async with SandboxServer() as sandbox:
        session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url))
        bot = Bot(sandbox.token, session=session)
        ann = sandbox.add_user("Ann")
        conv = sandbox.conversation(ann)
        replies = await conv.say("/start")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from sandbox.conversation import Conversation
from sandbox.errors import ApiError, SandboxError
from sandbox.limits import Clock, SandboxLimits
from sandbox.members import MemberActions
from sandbox.methods import METHODS, MethodContext
from sandbox.params import Params
from sandbox.state import (
    BotIdentity,
    CallbackAnswer,
    SandboxMessage,
    SandboxState,
    SandboxStats,
    SandboxUser,
)

logger = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
"""The shape of a bot token: the bot's numeric id, a colon, a base64url secret."""

UserRef = SandboxUser | int

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _uid(user: UserRef) -> int:
    return user.id if isinstance(user, SandboxUser) else int(user)


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code, dumps=_dumps)


async def _read_params(request: web.Request) -> Params:
    """Query string plus body, whichever encoding the client chose."""
    raw: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError.bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise ApiError.bad_request("can't parse JSON object")
            raw.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key in form:
                raw[key] = form[key]
    return Params(raw)


class SandboxServer:
    """A local Telegram Bot API for one bot, plus the members it talks to.

    Everything runs on the caller's event loop. ``clock`` drives flood control and send
    timestamps (inject a fake one to test limits without sleeping); ``wall_clock`` gives the
    unix ``date`` of messages.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bot: BotIdentity | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        reply_quiet_period: float = 0.2,
    ) -> None:
        self.state = SandboxState(bot or BotIdentity(), wall_clock)
        self._ctx = MethodContext(self.state, limits or SandboxLimits(), clock)
        self._members = MemberActions(self.state)
        self.host = host
        self.port = port
        self.reply_quiet_period = reply_quiet_period
        """Default quiet period of conversations: a burst of replies ends after this silence."""
        self._runner: web.AppRunner | None = None
        self._in_flight = 0
        self._handling = 0
        self.app = self._build_app()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        self._ctx.closing = False
        runner = web.AppRunner(
            self.app,
            access_log=None,  # a benchmark sends thousands of requests
            shutdown_timeout=2.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is None:
            return
        # Release long polls first so the server does not wait for them to time out.
        self._ctx.closing = True
        self.state.updates.signal.notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What goes into ``TelegramAPIServer.from_base(...)``."""
        if self._runner is None:
            raise RuntimeError("sandbox not started; use `async with SandboxServer()`")
        return f"http://{self.host}:{self.port}"

    @property
    def bot(self) -> BotIdentity:
        return self.state.bot

    @property
    def token(self) -> str:
        """A well-formed token for this bot (any well-formed token is accepted)."""
        return self.state.bot.token

    # --- limits and stats --------------------------------------------------------------

    @property
    def limits(self) -> SandboxLimits:
        return self._ctx.limits

    def set_limits(self, limits: SandboxLimits) -> None:
        """Replace all limits at runtime; flood-control buckets start full again."""
        self._ctx.set_limits(limits)

    @property
    def stats(self) -> SandboxStats:
        return self.state.stats

    # --- members -----------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        phone_number: str | None = None,
        user_id: int | None = None,
        started: bool = True,
    ) -> SandboxUser:
        """A new member. ``started=False`` models someone who never opened the bot: sends
        to them fail with 403 "bot can't initiate conversation with a user" until they act."""
        return self.state.add_user(
            first_name,
            language_code=language_code,
            username=username,
            last_name=last_name,
            phone_number=phone_number,
            user_id=user_id,
            started=started,
        )

    def user(self, user_id: int) -> SandboxUser:
        return self.state.chat(user_id).user

    @property
    def users(self) -> list[SandboxUser]:
        return list(self.state.users.values())

    async def send_text(
        self, user: UserRef, text: str, *, reply_to_message_id: int | None = None
    ) -> SandboxMessage:
        return self._members.send_text(_uid(user), text, reply_to_message_id=reply_to_message_id)

    async def send_contact(
        self,
        user: UserRef,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        without_user_id: bool = False,
    ) -> SandboxMessage:
        """Share a contact: by default the member's own (``user_id`` = the sender, as a
        request_contact button sends it; it also becomes ``user.phone_number``);
        ``contact_user_id=N`` shares another Telegram user's contact;
        ``without_user_id=True`` a contact that has no Telegram account."""
        member_id = _uid(user)
        if without_user_id:
            return self._members.send_contact(
                member_id,
                phone_number,
                contact_user_id=None,
                first_name=first_name,
                last_name=last_name,
            )
        if contact_user_id is None:
            return self._members.send_contact(
                member_id, phone_number, first_name=first_name, last_name=last_name
            )
        return self._members.send_contact(
            member_id,
            phone_number,
            contact_user_id=contact_user_id,
            first_name=first_name,
            last_name=last_name,
        )

    async def send_location(
        self,
        user: UserRef,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        horizontal_accuracy: float | None = None,
    ) -> SandboxMessage:
        return self._members.send_location(
            _uid(user),
            latitude,
            longitude,
            live_period=live_period,
            horizontal_accuracy=horizontal_accuracy,
        )

    async def update_live_location(
        self,
        user: UserRef,
        message_id: int,
        latitude: float,
        longitude: float,
        *,
        heading: int | None = None,
    ) -> SandboxMessage:
        return self._members.update_live_location(
            _uid(user), message_id, latitude, longitude, heading=heading
        )

    async def send_sticker(self, user: UserRef, *, emoji: str = "👍") -> SandboxMessage:
        return self._members.send_sticker(_uid(user), emoji=emoji)

    async def press_button(self, user: UserRef, message_id: int, callback_data: str | None) -> str:
        """Enqueue a callback_query with any data (forging allowed); returns the query id."""
        return self._members.press_button(_uid(user), message_id, callback_data)

    async def block(self, user: UserRef) -> dict[str, Any] | None:
        return self._members.block(_uid(user))

    async def unblock(self, user: UserRef) -> dict[str, Any] | None:
        return self._members.unblock(_uid(user))

    # --- reading what the bot did ------------------------------------------------------

    def messages(self, chat_id: UserRef, *, include_deleted: bool = False) -> list[SandboxMessage]:
        """The bot's messages in a chat, oldest first."""
        return self.state.chat(_uid(chat_id)).bot_messages(include_deleted=include_deleted)

    def history(self, chat_id: UserRef) -> list[SandboxMessage]:
        """Every message in the chat, the member's and the bot's, deleted ones included."""
        return list(self.state.chat(_uid(chat_id)).history)

    def message(self, chat_id: UserRef, message_id: int) -> SandboxMessage:
        chat = self.state.chat(_uid(chat_id))
        try:
            return chat.by_id[message_id]
        except KeyError:
            raise KeyError(f"no message {message_id} in chat {chat.id}") from None

    def reply_keyboard(self, chat_id: UserRef) -> dict[str, Any] | None:
        """The reply keyboard the bot last set in the chat (None once removed)."""
        return self.state.chat(_uid(chat_id)).reply_keyboard

    def chat_actions(self, chat_id: UserRef) -> list[str]:
        return [action for action, _ in self.state.chat(_uid(chat_id)).actions]

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        """answerCallbackQuery calls by callback query id."""
        return self.state.callback_answers

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot's getUpdates offset."""
        return self.state.updates.peek(len(self.state.updates))

    def commands(
        self, *, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """What setMyCommands stored for a scope (default scope) and language."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self.state.commands.get(key, []))

    def menu_button(self, chat_id: UserRef | None = None) -> dict[str, Any]:
        if chat_id is not None:
            chat = self.state.chat(_uid(chat_id))
            if chat.menu_button is not None:
                return chat.menu_button
        return self.state.default_menu_button

    def file_bytes(self, file_id: str) -> bytes | None:
        stored = self.state.files.get(file_id)
        return None if stored is None else stored.data

    # --- waiting -----------------------------------------------------------------------

    async def wait_for_messages(
        self,
        chat_id: UserRef,
        count: int = 1,
        *,
        after: int | None = None,
        timeout: float = 10.0,
    ) -> list[SandboxMessage]:
        """All bot messages with ``message_id > after`` once there are at least ``count``.

        ``after`` defaults to the chat's read cursor: the last message a previous wait
        returned or the member's last action, whichever is later — so
        ``await sandbox.send_text(u, "/start"); await sandbox.wait_for_messages(u)`` cannot
        miss a fast reply. Deleted messages count (they were sent) and carry ``deleted``.
        """
        chat = self.state.chat(_uid(chat_id))
        cursor = chat.read_cursor if after is None else after

        def fresh() -> list[SandboxMessage]:
            return [m for m in chat.history if m.from_bot and m.message_id > cursor]

        if not await self.state.activity.wait_until(lambda: len(fresh()) >= count, timeout):
            got = fresh()
            listing = "; ".join(m.summary() for m in got) or "nothing"
            raise TimeoutError(
                f"waited {timeout}s for {count} new bot message(s) in chat {chat.id} after "
                f"message {cursor}, received {len(got)}: {listing} "
                f"({len(self.state.updates)} update(s) still unconfirmed by the bot)"
            )
        result = fresh()
        chat.read_cursor = max(chat.read_cursor, result[-1].message_id)
        return result

    @property
    def requests_in_flight(self) -> int:
        """Bot API requests being handled right now, long polls excluded."""
        return self._in_flight

    @property
    def busy(self) -> bool:
        """Whether the bot may still add to a burst of replies: a Bot API request is being
        handled, or (when the bot reports it, see :meth:`handling`) an update is."""
        return bool(self._in_flight or self._handling)

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """``with sandbox.handling(): ...`` around the bot's handling of one update.

        Telegram cannot see a bot think between two requests; a bot running in the same process
        as its tests can say so (sandbox.middleware.HandlingMiddleware), and a burst of
        replies then does not end while a handler is still reading the database before its
        next message."""
        self._handling += 1
        try:
            yield
        finally:
            self._handling -= 1
            self.state.activity.notify()

    @property
    def waiting_polls(self) -> int:
        """How many getUpdates long polls are waiting right now (1 while a bot idles)."""
        return self._ctx.waiting_polls

    async def wait_for_poll(self, *, timeout: float = 10.0) -> None:
        """Until the bot is blocked in a long poll, i.e. has caught up with all updates."""
        if not await self.state.activity.wait_until(lambda: self._ctx.waiting_polls > 0, timeout):
            raise TimeoutError(f"no getUpdates long poll arrived within {timeout}s")

    async def wait_for_callback_answer(
        self, callback_query_id: str, *, timeout: float = 10.0
    ) -> CallbackAnswer:
        answers = self.state.callback_answers
        if not await self.state.activity.wait_until(lambda: callback_query_id in answers, timeout):
            raise TimeoutError(
                f"the bot did not answer callback query {callback_query_id} within {timeout}s"
            )
        return answers[callback_query_id]

    async def wait_idle(self, *, quiet: float | None = None, timeout: float = 10.0) -> None:
        """Until every update is confirmed and no API call happened for ``quiet`` seconds."""
        quiet = self.reply_quiet_period if quiet is None else quiet
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue = self.state.updates
        while True:
            remaining = deadline - loop.time()
            if not await self.state.activity.wait_until(lambda: len(queue) == 0, remaining):
                raise TimeoutError(
                    f"{len(queue)} update(s) still unconfirmed after {timeout}s "
                    "(is the bot polling this sandbox?)"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the bot was still busy after {timeout}s")
            quiet_now = not await self.state.activity.wait_next(min(quiet, remaining))
            if quiet_now and not len(queue) and not self.busy:
                return

    def conversation(
        self,
        user: SandboxUser | int,
        *,
        timeout: float = 10.0,
        quiet: float | None = None,
    ) -> Conversation:
        """A scripted chat as ``user``: say/press/share, each returning the bot's replies."""
        member = user if isinstance(user, SandboxUser) else self.user(user)
        return Conversation(
            self,
            member,
            timeout=timeout,
            quiet=self.reply_quiet_period if quiet is None else quiet,
        )

    # --- HTTP --------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        # Telegram accepts uploads up to 50 MB; aiohttp's default body limit is 1 MiB.
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("POST", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("GET", "/sandbox/stats", self._http_stats)
        app.router.add_route("GET", "/sandbox/users", self._http_users)
        app.router.add_route("POST", "/sandbox/users", self._http_add_user)
        app.router.add_route("POST", "/sandbox/users/{user_id}/text", self._http_send_text)
        app.router.add_route("POST", "/sandbox/users/{user_id}/press", self._http_press)
        app.router.add_route("GET", "/sandbox/chats/{chat_id}/messages", self._http_messages)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        return app

    async def _handle_method(self, request: web.Request) -> web.Response:
        if not TOKEN_RE.fullmatch(request.match_info["token"]):
            return _error_response(ApiError.unauthorized())
        spec = METHODS.get(request.match_info["method"].lower())
        if spec is None:
            return _error_response(ApiError.not_found())
        stats = self.state.stats
        stats.calls[spec.name] += 1
        # Long polls idle by design; any other request in flight means the bot is mid-reply.
        counts_as_work = spec.name != "getUpdates"
        if counts_as_work:
            self._in_flight += 1
        try:
            params = await _read_params(request)
            result = await spec.handler(self._ctx, params)
        except ApiError as error:
            stats.errors[error.error_code] += 1
            return _error_response(error)
        except web.HTTPRequestEntityTooLarge:
            stats.errors[413] += 1
            return _error_response(ApiError(413, "Request Entity Too Large"))
        except Exception:
            # A sandbox bug: answer in Telegram's shape (aiogram raises TelegramServerError)
            # and keep the traceback in the log rather than an HTML 500 page.
            logger.exception("sandbox failed on %s", spec.name)
            stats.errors[500] += 1
            return _error_response(ApiError(500, "Internal Server Error"))
        finally:
            if counts_as_work:
                self._in_flight -= 1
            self.state.note_api_call()
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if not TOKEN_RE.fullmatch(request.match_info["token"]):
            return _error_response(ApiError.unauthorized())
        stored = self.state.files_by_path.get(request.match_info["path"])
        if stored is None or stored.data is None:
            return _error_response(ApiError.not_found())
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return _error_response(ApiError.not_found())

    # Control endpoints: the essentials for driving the sandbox from another process.

    async def _http_stats(self, request: web.Request) -> web.Response:
        stats = self.state.stats
        return web.json_response(
            {
                "calls": dict(stats.calls),
                "errors": {str(code): n for code, n in stats.errors.items()},
                "rate_limited": stats.rate_limited,
                "total_sends": stats.total_sends,
                "sustained_rate": stats.sustained_rate(),
                "max_sends_in_1s": stats.max_sends_in_window(1.0),
                "pending_updates": len(self.state.updates),
            }
        )

    async def _http_users(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {**user.user_json(), "blocked": user.blocked, "phone_number": user.phone_number}
                for user in self.state.users.values()
            ]
        )

    async def _http_add_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("first_name"), str):
            return web.json_response({"error": "first_name is required"}, status=400)
        user = self.add_user(
            body["first_name"],
            language_code=body.get("language_code", "en"),
            username=body.get("username"),
            last_name=body.get("last_name"),
            phone_number=body.get("phone_number"),
        )
        return web.json_response(user.user_json())

    async def _http_send_text(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            message = await self.send_text(int(request.match_info["user_id"]), body["text"])
        except (KeyError, SandboxError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(message.to_telegram(), dumps=_dumps)

    async def _http_press(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            query_id = await self.press_button(
                int(request.match_info["user_id"]), int(body["message_id"]), body.get("data")
            )
        except (KeyError, SandboxError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"callback_query_id": query_id})

    async def _http_messages(self, request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["chat_id"])
            history = self.history(chat_id)
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=404)
        return web.json_response(
            [
                {
                    **m.to_telegram(),
                    "sandbox": {
                        "from_bot": m.from_bot,
                        "deleted": m.deleted,
                        "raw_text": m.raw_text,
                        "parse_mode": m.parse_mode,
                        "reply_markup": m.reply_markup,
                        "edits": len(m.edits),
                    },
                }
                for m in history
            ],
            dumps=_dumps,
        )
