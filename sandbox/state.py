"""Everything the sandbox remembers: the bot, members, chats, messages, files, the update queue.

The state is plain data mutated from one event loop (HTTP handlers and the control API run on
the same loop), so it needs no locks; waiters are woken through :class:`Signal`.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import itertools
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.media import StoredFile

# Telegram's default update types when allowed_updates is empty or never set.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Signal:
    """Wake every waiter whenever something changes; waiters re-check their own predicate.

    A fresh :class:`asyncio.Event` per generation avoids the lost-wakeup problem of clearing
    a shared event while other waiters have not yet run.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``predicate()`` holds; False if ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            event = self._event
            if deadline is None:
                await event.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def wait_next(self, timeout: float) -> bool:
        """Wait for the next notification; False if none came within ``timeout`` seconds."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is, as getMe reports it and as the ``from`` of its messages."""

    id: int = 7000000001
    first_name: str = "Loyalty Sandbox"
    username: str = "loyalty_sandbox_bot"

    @property
    def token(self) -> str:
        """A well-formed token whose numeric prefix is this bot's id (as in real tokens)."""
        return f"{self.id}:AAsandbox-token_0123456789abcdefghijkl"

    def user_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def get_me_json(self) -> dict[str, Any]:
        return {
            **self.user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass(eq=False)
class SandboxUser:
    """A chat member. Their private chat with the bot has ``chat_id == id``, as in Telegram."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    phone_number: str | None = None
    """The member's own number: what a request_contact button shares."""
    blocked: bool = False
    """The member blocked the bot; sends then fail with 403."""
    started: bool = True
    """The member has opened the chat with the bot (pressed Start); bots cannot write first."""

    @property
    def chat_id(self) -> int:
        return self.id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def user_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            result["last_name"] = self.last_name
        if self.username:
            result["username"] = self.username
        if self.language_code:
            result["language_code"] = self.language_code
        return result

    def chat_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            result["last_name"] = self.last_name
        if self.username:
            result["username"] = self.username
        return result


@dataclass
class MessageVersion:
    """A message's content before one edit (the message itself holds the current content)."""

    text: str | None
    raw_text: str | None
    entities: list[dict[str, Any]]
    caption: str | None
    raw_caption: str | None
    caption_entities: list[dict[str, Any]]
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    location: dict[str, Any] | None
    edit_date: int | None


@dataclass(eq=False)
class SandboxMessage:
    """One message in a chat, sent by the bot or by the member.

    ``text``/``caption`` are what Telegram shows (HTML parsed away, trimmed); ``raw_text`` /
    ``raw_caption`` are exactly what the bot sent; ``reply_markup`` is kept whatever its kind
    (Telegram only echoes inline keyboards back in Message objects).
    """

    message_id: int
    chat_id: int
    date: int
    sender: dict[str, Any]
    chat: dict[str, Any]
    from_bot: bool
    method: str | None = None
    text: str | None = None
    raw_text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    raw_caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: SandboxMessage | None = None
    photo: StoredFile | None = None
    document: StoredFile | None = None
    location: dict[str, Any] | None = None
    venue: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    sticker: dict[str, Any] | None = None
    edit_date: int | None = None
    edits: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    """The request parameters the bot sent (JSON fields decoded), for asserting on options."""
    update: dict[str, Any] | None = None
    """For member messages: the Update that was enqueued (None if allowed_updates dropped it)."""

    # --- convenience views -------------------------------------------------------------

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has ('' for neither)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def reply_to_message_id(self) -> int | None:
        return None if self.reply_to is None else self.reply_to.message_id

    @property
    def photo_bytes(self) -> bytes | None:
        return None if self.photo is None else self.photo.data

    @property
    def document_bytes(self) -> bytes | None:
        return None if self.document is None else self.document.data

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            rows: list[list[dict[str, Any]]] = self.reply_markup["inline_keyboard"]
            return rows
        return []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline buttons in reading order (rows left to right, top to bottom)."""
        return [button for row in self.inline_keyboard for button in row]

    @property
    def button_labels(self) -> list[str]:
        return [button["text"] for button in self.buttons]

    def button(self, label: str) -> dict[str, Any]:
        """The inline button with exactly this label; ValueError if absent."""
        for button in self.buttons:
            if button["text"] == label:
                return button
        raise ValueError(
            f"no inline button {label!r} on message {self.message_id}; "
            f"buttons: {self.button_labels}"
        )

    def snapshot(self) -> MessageVersion:
        return MessageVersion(
            text=self.text,
            raw_text=self.raw_text,
            entities=copy.deepcopy(self.entities),
            caption=self.caption,
            raw_caption=self.raw_caption,
            caption_entities=copy.deepcopy(self.caption_entities),
            parse_mode=self.parse_mode,
            reply_markup=copy.deepcopy(self.reply_markup),
            location=copy.deepcopy(self.location),
            edit_date=self.edit_date,
        )

    def summary(self, width: int = 60) -> str:
        """One line for error messages: ``#3 'Welcome…' [Agree|Decline]``."""
        if self.photo is not None:
            body = f"[photo] {self.caption or ''}"
        elif self.document is not None:
            body = f"[document {self.document.file_name or ''}] {self.caption or ''}"
        elif self.venue is not None:
            body = f"[venue] {self.venue.get('title')}"
        elif self.location is not None:
            body = f"[location] {self.location['latitude']},{self.location['longitude']}"
        elif self.contact is not None:
            body = f"[contact] {self.contact['phone_number']}"
        elif self.sticker is not None:
            body = "[sticker]"
        else:
            body = self.text or ""
        body = body.replace("\n", " ")
        if len(body) > width:
            body = body[: width - 1] + "…"
        labels = f" [{'|'.join(self.button_labels)}]" if self.buttons else ""
        return f"#{self.message_id} {body!r}{labels}"

    def to_telegram(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Message object exactly as the Bot API returns / delivers it."""
        result: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            result["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            result["reply_to_message"] = self.reply_to.to_telegram(with_reply=False)
        if self.text is not None:
            result["text"] = self.text
            if self.entities:
                result["entities"] = self.entities
        if self.photo is not None:
            result["photo"] = self.photo.sizes
        if self.document is not None:
            result["document"] = self.document.document_json()
        if self.sticker is not None:
            result["sticker"] = self.sticker
        if self.contact is not None:
            result["contact"] = self.contact
        if self.venue is not None:
            result["venue"] = self.venue
        if self.location is not None:
            result["location"] = self.location
        if self.caption is not None:
            result["caption"] = self.caption
            if self.caption_entities:
                result["caption_entities"] = self.caption_entities
        if self.reply_markup is not None and "inline_keyboard" in self.reply_markup:
            result["reply_markup"] = self.reply_markup
        return result


@dataclass(frozen=True)
class ChatEvent:
    """Something the bot did in a chat; ``seq`` orders events across all chats."""

    seq: int
    kind: str  # "sent" | "edited" | "deleted" | "answered"
    chat_id: int
    message_id: int | None = None
    callback_query_id: str | None = None


@dataclass(eq=False)
class SandboxChat:
    """The private chat between the bot and one member."""

    user: SandboxUser
    chat_instance: str
    history: list[SandboxMessage] = field(default_factory=list)
    by_id: dict[int, SandboxMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    """The reply keyboard the bot last set; Telegram keeps it until removed or replaced."""
    menu_button: dict[str, Any] | None = None
    actions: list[tuple[str, int]] = field(default_factory=list)
    """Chat actions (typing, upload_photo...) with their unix time."""
    events: list[ChatEvent] = field(default_factory=list)
    read_cursor: int = 0
    """Default ``after`` of wait_for_messages: the last message a waiter saw or the member sent."""

    @property
    def id(self) -> int:
        return self.user.id

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def add(self, message: SandboxMessage) -> None:
        self.history.append(message)
        self.by_id[message.message_id] = message

    def bot_messages(self, *, include_deleted: bool = False) -> list[SandboxMessage]:
        return [m for m in self.history if m.from_bot and (include_deleted or not m.deleted)]


@dataclass
class CallbackQueryRecord:
    """A button press by a member, waiting for the bot's answerCallbackQuery."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    answered: bool = False


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot answered to a callback query (the toast/alert a member would see)."""

    callback_query_id: str
    chat_id: int
    message_id: int
    data: str | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    date: int


class UpdateQueue:
    """Pending updates with Telegram's getUpdates semantics.

    An update stays until a getUpdates call confirms it with a higher ``offset``; a negative
    offset keeps only the last ``-offset`` updates. ``allowed_updates`` is remembered between
    calls and filters updates as they are created (so updates created before a change may
    still arrive, as Telegram warns).
    """

    def __init__(self, first_update_id: int = 1) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        self._next_id = first_update_id
        self.allowed_updates: frozenset[str] | None = None  # None: Telegram's default set
        self.signal = Signal()
        self.dropped = 0

    def allows(self, update_type: str) -> bool:
        if self.allowed_updates is None:
            return update_type not in DEFAULT_EXCLUDED_UPDATES
        return update_type in self.allowed_updates

    def set_allowed(self, allowed: list[str]) -> None:
        # An empty list means "the default set", as in the Bot API.
        self.allowed_updates = frozenset(allowed) if allowed else None

    def push(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Enqueue ``{"update_id": N, update_type: payload}``; None if filtered out."""
        if not self.allows(update_type):
            self.dropped += 1
            return None
        update = {"update_id": self._next_id, update_type: payload}
        self._next_id += 1
        self._pending.append(update)
        self.signal.notify()
        return update

    def confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            while len(self._pending) > keep:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def clear(self) -> None:
        self._pending.clear()

    def peek(self, limit: int) -> list[dict[str, Any]]:
        return list(itertools.islice(self._pending, limit))

    def __len__(self) -> int:
        return len(self._pending)


@dataclass
class SandboxStats:
    """Counters for tests and the broadcast benchmark.

    Timestamps come from the sandbox clock (``time.monotonic`` unless injected).
    """

    calls: Counter[str] = field(default_factory=Counter)
    """Calls per Bot API method (canonical name, e.g. ``sendMessage``), including refused ones."""
    errors: Counter[int] = field(default_factory=Counter)
    """Error answers per error_code (400, 403, 429, ...)."""
    rate_limited: int = 0
    """How many 429 answers were sent."""
    rate_limited_by_chat: Counter[int] = field(default_factory=Counter)
    send_times: list[float] = field(default_factory=list)
    """Clock time of every accepted send, in order."""
    sends_by_chat: dict[int, list[float]] = field(default_factory=dict)
    """Clock times of accepted sends per chat."""

    @property
    def total_sends(self) -> int:
        return len(self.send_times)

    def record_send(self, chat_id: int, at: float) -> None:
        self.send_times.append(at)
        self.sends_by_chat.setdefault(chat_id, []).append(at)

    def sustained_rate(self, chat_id: int | None = None) -> float:
        """Accepted sends per second between the first and the last send (0.0 if < 2 sends)."""
        times = self.send_times if chat_id is None else self.sends_by_chat.get(chat_id, [])
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def max_sends_in_window(self, window: float = 1.0, chat_id: int | None = None) -> int:
        """The most accepted sends inside any ``window``-second span (flood-limit check)."""
        times = self.send_times if chat_id is None else self.sends_by_chat.get(chat_id, [])
        best = 0
        for index, start in enumerate(times):
            # Half-open window [start, start + window).
            end = bisect.bisect_left(times, start + window, lo=index)
            best = max(best, end - index)
        return best

    def reset(self) -> None:
        self.calls.clear()
        self.errors.clear()
        self.rate_limited = 0
        self.rate_limited_by_chat.clear()
        self.send_times.clear()
        self.sends_by_chat.clear()


class SandboxState:
    """The whole simulated Telegram as seen by one bot."""

    def __init__(self, bot: BotIdentity, wall_clock: Callable[[], float] = time.time) -> None:
        self.bot = bot
        self._wall_clock = wall_clock
        self.users: dict[int, SandboxUser] = {}
        self.chats: dict[int, SandboxChat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.updates = UpdateQueue()
        self.callbacks: dict[str, CallbackQueryRecord] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.descriptions: dict[tuple[str, str], str] = {}
        self.stats = SandboxStats()
        self.activity = Signal()
        """Notified on every bot-side change (sends, edits, API calls other than getUpdates)."""
        self.api_calls = 0
        self._event_seq = 0
        self._next_user_id = 5000000001
        self._next_callback_id = int.from_bytes(secrets.token_bytes(6), "big") * 1000

    # --- clock -------------------------------------------------------------------------

    def now(self) -> int:
        """Unix time as Telegram puts into ``date``."""
        return int(self._wall_clock())

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
        if user_id is None:
            while self._next_user_id in self.users:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        elif user_id <= 0 or user_id in self.users:
            raise ValueError(f"user id {user_id} is not positive or already taken")
        user = SandboxUser(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            phone_number=phone_number,
            started=started,
        )
        self.users[user_id] = user
        self.chats[user_id] = SandboxChat(user=user, chat_instance=str(secrets.randbits(62)))
        return user

    def chat(self, chat_id: int) -> SandboxChat:
        """The chat with this id; KeyError with a clear message for the control API."""
        try:
            return self.chats[chat_id]
        except KeyError:
            raise KeyError(f"the sandbox has no chat {chat_id}; add_user() first") from None

    # --- events ------------------------------------------------------------------------

    @property
    def event_seq(self) -> int:
        return self._event_seq

    def record_event(
        self,
        chat: SandboxChat,
        kind: str,
        *,
        message_id: int | None = None,
        callback_query_id: str | None = None,
    ) -> ChatEvent:
        self._event_seq += 1
        event = ChatEvent(self._event_seq, kind, chat.id, message_id, callback_query_id)
        chat.events.append(event)
        self.activity.notify()
        return event

    def note_api_call(self) -> None:
        self.api_calls += 1
        self.activity.notify()

    def new_callback_query_id(self) -> str:
        self._next_callback_id += 1
        return str(self._next_callback_id)

    # --- files -------------------------------------------------------------------------

    def register_file(self, stored: StoredFile) -> None:
        self.files[stored.file_id] = stored
        for size in stored.sizes:
            self.files[size["file_id"]] = stored
        self.files_by_path[stored.file_path] = stored
