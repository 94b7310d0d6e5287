"""One handler per Bot API method, validating what Telegram validates.

Every handler takes the :class:`MethodContext` and the request's :class:`Params` and returns
the ``result`` JSON, or raises :class:`ApiError` with Telegram's error description. Sending
handlers check in Telegram's order as far as it is observable: the chat (400/403), then the
content (400), then flood control (429), and only then store the message — so a refused
request leaves no trace except in the stats.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from aiohttp.web_request import FileField

from sandbox import errors
from sandbox.errors import ApiError
from sandbox.formatting import (
    PARSE_MODES,
    EntityParseError,
    FormattedText,
    format_text,
    normalize_parse_mode,
)
from sandbox.keyboards import MARKUP_UNPARSABLE, check_web_app, markup_kind, validate_reply_markup
from sandbox.limits import Clock, RateLimiter, SandboxLimits, retry_after_seconds
from sandbox.media import StoredFile, image_size, new_file_id, new_file_unique_id, photo_sizes
from sandbox.params import Params
from sandbox.state import (
    CallbackAnswer,
    SandboxChat,
    SandboxMessage,
    SandboxState,
)

CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_UNLIMITED_LIVE_PERIOD = 0x7FFFFFFF


class MethodContext:
    """What handlers share: the state, the flood limiter and the server's lifecycle flags."""

    def __init__(self, state: SandboxState, limits: SandboxLimits, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self.limits = limits
        self.limiter = RateLimiter(limits, clock)
        self.closing = False
        """Set while the server stops, so long polls return at once."""
        self.poll_generation = 0
        """Bumped by every getUpdates; an older waiting call then ends with 409 as on Telegram."""
        self.waiting_polls = 0
        """getUpdates calls currently blocked in a long poll."""

    def set_limits(self, limits: SandboxLimits) -> None:
        # Fresh (full) buckets: a limit change is a new regime, not a continuation.
        self.limits = limits
        self.limiter = RateLimiter(limits, self.clock)

    # --- shared checks -----------------------------------------------------------------

    def chat(self, params: Params, *, sending: bool = True) -> SandboxChat:
        """The target chat of ``chat_id``; with ``sending`` also 403 when the bot can't write."""
        raw = params.raw.get("chat_id")
        if raw is None or raw == "":
            raise ApiError.bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            # "@username" addresses channels and groups only; anything else is unknown.
            raise ApiError.bad_request(errors.CHAT_NOT_FOUND) from None
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise ApiError.bad_request(errors.CHAT_NOT_FOUND)
        if sending:
            if chat.user.blocked:
                raise ApiError.forbidden(errors.BOT_BLOCKED)
            if not chat.user.started:
                raise ApiError.forbidden(errors.CANT_INITIATE)
        return chat

    def rate_limit(self, chat: SandboxChat) -> None:
        wait = self.limiter.acquire(chat.id)
        if wait > 0:
            self.state.stats.rate_limited += 1
            self.state.stats.rate_limited_by_chat[chat.id] += 1
            raise ApiError.too_many_requests(retry_after_seconds(wait))

    def new_bot_message(self, chat: SandboxChat, method: str, params: Params) -> SandboxMessage:
        return SandboxMessage(
            message_id=chat.allocate_message_id(),
            chat_id=chat.id,
            date=self.state.now(),
            sender=self.state.bot.user_json(),
            chat=chat.user.chat_json(),
            from_bot=True,
            method=method,
            params=params.decoded(),
        )

    def commit_send(self, chat: SandboxChat, message: SandboxMessage) -> dict[str, Any]:
        """Store an accepted message, track the reply keyboard, count it, wake waiters."""
        chat.add(message)
        kind = markup_kind(message.reply_markup)
        if kind == "reply":
            chat.reply_keyboard = message.reply_markup
        elif kind == "remove":
            chat.reply_keyboard = None
        self.state.stats.record_send(chat.id, self.clock())
        self.state.record_event(chat, "sent", message_id=message.message_id)
        return message.to_telegram()


Handler = Callable[[MethodContext, Params], Awaitable[Any]]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    handler: Handler


METHODS: dict[str, MethodSpec] = {}
"""Handlers by lower-cased method name (Telegram matches method names case-insensitively)."""


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = MethodSpec(name, handler)
        return handler

    return register


# --- content helpers -----------------------------------------------------------------------


def _parse_mode(params: Params) -> str | None:
    raw = params.string("parse_mode")
    if raw is None or raw == "":
        return None
    if raw.lower() not in PARSE_MODES:
        raise ApiError.bad_request("unsupported parse_mode")
    return normalize_parse_mode(raw)


def _formatted(
    params: Params,
    field: str,
    entities_field: str,
    *,
    max_length: int | None,
    too_long: str,
) -> tuple[FormattedText, str | None]:
    source = params.string(field) or ""
    parse_mode = _parse_mode(params)
    entities = params.json_value(entities_field)
    if entities is not None and not isinstance(entities, list):
        raise ApiError.bad_request("can't parse entities JSON object")
    try:
        # Explicit entities win over parse_mode, as in the Bot API.
        formatted = format_text(source, None if entities else parse_mode, entities)
    except EntityParseError as exc:
        raise ApiError.bad_request(f"can't parse entities: {exc}") from None
    if max_length is not None and len(formatted.text) > max_length:
        raise ApiError.bad_request(too_long)
    return formatted, parse_mode


def _message_text(ctx: MethodContext, params: Params) -> tuple[FormattedText, str | None]:
    formatted, parse_mode = _formatted(
        params,
        "text",
        "entities",
        max_length=ctx.limits.max_text_length,
        too_long=errors.MESSAGE_TOO_LONG,
    )
    if not formatted.text:
        raise ApiError.bad_request(errors.MESSAGE_TEXT_EMPTY)
    return formatted, parse_mode


def _caption(ctx: MethodContext, params: Params) -> tuple[FormattedText | None, str | None]:
    if params.string("caption") in (None, ""):
        return None, _parse_mode(params)
    formatted, parse_mode = _formatted(
        params,
        "caption",
        "caption_entities",
        max_length=ctx.limits.max_caption_length,
        too_long=errors.CAPTION_TOO_LONG,
    )
    return (formatted if formatted.text else None), parse_mode


def _reply_markup(ctx: MethodContext, params: Params) -> dict[str, Any] | None:
    value = params.json_value("reply_markup", error=MARKUP_UNPARSABLE)
    return validate_reply_markup(value, ctx.limits)


def _edit_markup(ctx: MethodContext, params: Params) -> dict[str, Any] | None:
    markup = _reply_markup(ctx, params)
    if markup is not None and markup_kind(markup) != "inline":
        raise ApiError.bad_request("inline keyboard expected")
    return markup


def _reply_to(chat: SandboxChat, params: Params) -> SandboxMessage | None:
    reply_parameters = params.json_value("reply_parameters")
    message_id: int | None = None
    allow_without = params.boolean("allow_sending_without_reply")
    if isinstance(reply_parameters, dict):
        raw_id = reply_parameters.get("message_id")
        try:
            message_id = int(raw_id) if raw_id is not None else None
        except (TypeError, ValueError):
            raise ApiError.bad_request(errors.REPLIED_NOT_FOUND) from None
        allow_without = bool(reply_parameters.get("allow_sending_without_reply", allow_without))
    elif reply_parameters is not None:
        raise ApiError.bad_request("can't parse reply parameters JSON object")
    if message_id is None:
        message_id = params.integer("reply_to_message_id")
    if message_id is None:
        return None
    target = chat.by_id.get(message_id)
    if target is None or target.deleted:
        if allow_without:
            return None
        raise ApiError.bad_request(errors.REPLIED_NOT_FOUND)
    return target


def _coordinates(params: Params) -> tuple[float, float]:
    latitude = params.number("latitude")
    longitude = params.number("longitude")
    if latitude is None:
        raise ApiError.bad_request("latitude is empty")
    if longitude is None:
        raise ApiError.bad_request("longitude is empty")
    if not -90.0 <= latitude <= 90.0:
        raise ApiError.bad_request("wrong latitude")
    if not -180.0 <= longitude <= 180.0:
        raise ApiError.bad_request("wrong longitude")
    return latitude, longitude


def _location_json(params: Params, latitude: float, longitude: float) -> dict[str, Any]:
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    accuracy = params.number("horizontal_accuracy")
    if accuracy is not None:
        if not 0 <= accuracy <= 1500:
            raise ApiError.bad_request("wrong horizontal accuracy specified")
        location["horizontal_accuracy"] = accuracy
    live_period = params.integer("live_period")
    if live_period is not None:
        if not (60 <= live_period <= 86400 or live_period == _UNLIMITED_LIVE_PERIOD):
            raise ApiError.bad_request("wrong live period specified")
        location["live_period"] = live_period
        heading = params.integer("heading")
        if heading is not None:
            if not 1 <= heading <= 360:
                raise ApiError.bad_request("wrong heading specified")
            location["heading"] = heading
        radius = params.integer("proximity_alert_radius")
        if radius is not None:
            location["proximity_alert_radius"] = radius
    return location


def _editable(ctx: MethodContext, params: Params) -> tuple[SandboxChat, SandboxMessage]:
    if "inline_message_id" in params:
        # The sandbox has no inline mode, so no inline message can exist.
        raise ApiError.bad_request("MESSAGE_ID_INVALID")
    chat = ctx.chat(params)
    message_id = params.integer("message_id")
    if message_id is None:
        raise ApiError.bad_request("message identifier is not specified")
    message = chat.by_id.get(message_id)
    if message is None or message.deleted:
        raise ApiError.bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
    if not message.from_bot:
        raise ApiError.bad_request("message can't be edited")
    return chat, message


def _inline_markup_of(message: SandboxMessage) -> dict[str, Any] | None:
    return message.reply_markup if markup_kind(message.reply_markup) == "inline" else None


def _commit_edit(ctx: MethodContext, chat: SandboxChat, message: SandboxMessage) -> Any:
    message.edit_date = ctx.state.now()
    ctx.state.record_event(chat, "edited", message_id=message.message_id)
    return message.to_telegram()


# --- getting updates and bot setup ---------------------------------------------------------


@method("getMe")
async def get_me(ctx: MethodContext, params: Params) -> Any:
    return ctx.state.bot.get_me_json()


@method("getUpdates")
async def get_updates(ctx: MethodContext, params: Params) -> Any:
    queue = ctx.state.updates
    offset = params.integer("offset")
    limit = params.integer("limit")
    if limit is None or limit < 1 or limit > 100:
        limit = 100
    timeout = max(0, params.integer("timeout") or 0)
    allowed = params.json_value("allowed_updates")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise ApiError.bad_request("can't parse allowed_updates JSON object")
        queue.set_allowed(allowed)
    if offset is not None:
        queue.confirm(offset)

    ctx.poll_generation += 1
    generation = ctx.poll_generation
    queue.signal.notify()  # an older long poll still waiting now ends with 409

    if not len(queue) and timeout > 0 and not ctx.closing:
        ctx.waiting_polls += 1
        ctx.state.activity.notify()
        try:
            await queue.signal.wait_until(
                lambda: len(queue) > 0 or ctx.closing or ctx.poll_generation != generation,
                timeout,
            )
        finally:
            ctx.waiting_polls -= 1
    if ctx.poll_generation != generation:
        raise ApiError(409, CONFLICT_OTHER_POLL)
    return queue.peek(limit)


@method("deleteWebhook")
async def delete_webhook(ctx: MethodContext, params: Params) -> Any:
    if params.boolean("drop_pending_updates"):
        ctx.state.updates.clear()
    return True


@method("getWebhookInfo")
async def get_webhook_info(ctx: MethodContext, params: Params) -> Any:
    return {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(ctx.state.updates),
    }


_CHAT_SCOPES = frozenset({"chat", "chat_administrators", "chat_member"})


def _commands_key(ctx: MethodContext, params: Params) -> tuple[str, str]:
    scope = params.json_value("scope") or {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise ApiError.bad_request("can't parse BotCommandScope JSON object")
    if scope["type"] in _CHAT_SCOPES:
        # As Telegram: a menu for one chat needs a chat the bot knows (the member started it).
        chat = ctx.state.chats.get(scope.get("chat_id"))  # type: ignore[arg-type]
        if chat is None or not chat.user.started:
            raise ApiError.bad_request(errors.CHAT_NOT_FOUND)
    language_code = params.string("language_code") or ""
    return json.dumps(scope, sort_keys=True), language_code


@method("setMyCommands")
async def set_my_commands(ctx: MethodContext, params: Params) -> Any:
    commands = params.json_value("commands")
    if not isinstance(commands, list):
        raise ApiError.bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise ApiError.bad_request("too many commands specified")
    checked: list[dict[str, Any]] = []
    for command in commands:
        if not isinstance(command, dict):
            raise ApiError.bad_request("can't parse BotCommand JSON object")
        name = command.get("command")
        description = command.get("description")
        if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name.lstrip("/").lower()):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        # Telegram stores commands lower-cased and without the slash.
        checked.append({"command": name.lstrip("/").lower(), "description": description})
    key = _commands_key(ctx, params)
    if checked:
        ctx.state.commands[key] = checked
    else:
        ctx.state.commands.pop(key, None)
    return True


@method("getMyCommands")
async def get_my_commands(ctx: MethodContext, params: Params) -> Any:
    return ctx.state.commands.get(_commands_key(ctx, params), [])


@method("deleteMyCommands")
async def delete_my_commands(ctx: MethodContext, params: Params) -> Any:
    ctx.state.commands.pop(_commands_key(ctx, params), None)
    return True


def _menu_button(params: Params) -> dict[str, Any]:
    button = params.json_value("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in ("commands", "web_app", "default"):
        raise ApiError.bad_request("can't parse menu button JSON object")
    if button["type"] == "web_app":
        web_app = button.get("web_app")
        if not isinstance(button.get("text"), str) or not isinstance(web_app, dict):
            raise ApiError.bad_request("can't parse menu button JSON object")
        check_web_app(web_app, "menu button Web App URL")
    return button


@method("setChatMenuButton")
async def set_chat_menu_button(ctx: MethodContext, params: Params) -> Any:
    button = _menu_button(params)
    if "chat_id" in params:
        chat = ctx.chat(params, sending=False)
        chat.menu_button = None if button["type"] == "default" else button
    else:
        ctx.state.default_menu_button = (
            {"type": "commands"} if button["type"] == "default" else button
        )
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(ctx: MethodContext, params: Params) -> Any:
    if "chat_id" in params:
        chat = ctx.chat(params, sending=False)
        if chat.menu_button is not None:
            return chat.menu_button
    return ctx.state.default_menu_button


def _description_method(name: str, field: str, max_length: int) -> None:
    @method(f"setMy{name}")
    async def setter(ctx: MethodContext, params: Params) -> Any:
        value = params.string(field) or ""
        if len(value) > max_length:
            raise ApiError.bad_request(f"{field.upper()}_INVALID")
        ctx.state.descriptions[(field, params.string("language_code") or "")] = value
        return True

    @method(f"getMy{name}")
    async def getter(ctx: MethodContext, params: Params) -> Any:
        key = (field, params.string("language_code") or "")
        return {field: ctx.state.descriptions.get(key, "")}


_description_method("Description", "description", 512)
_description_method("ShortDescription", "short_description", 120)
_description_method("Name", "name", 64)


@method("getChat")
async def get_chat(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params, sending=False)
    return {
        **chat.user.chat_json(),
        "accent_color_id": chat.user.id % 7,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        },
    }


# --- sending -------------------------------------------------------------------------------


@method("sendMessage")
async def send_message(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    formatted, parse_mode = _message_text(ctx, params)
    markup = _reply_markup(ctx, params)
    reply_to = _reply_to(chat, params)
    ctx.rate_limit(chat)
    message = ctx.new_bot_message(chat, "sendMessage", params)
    message.text = formatted.text
    message.raw_text = params.string("text")
    message.entities = formatted.entities
    message.parse_mode = parse_mode
    message.reply_markup = markup
    message.reply_to = reply_to
    return ctx.commit_send(chat, message)


def _sent_before(ctx: MethodContext, value: str, kind: str) -> StoredFile | str:
    """A URL for Telegram to fetch, or the file_id of a file of this kind it already has."""
    if value.startswith(("http://", "https://")):
        return value
    stored = ctx.state.files.get(value)
    if stored is None:
        raise ApiError.bad_request(errors.WRONG_FILE_ID)
    if stored.kind != kind:
        raise ApiError.bad_request("type of file mismatch")
    return stored


def _photo(ctx: MethodContext, params: Params) -> StoredFile | tuple[bytes, int, int] | str:
    """An existing photo (file_id), a fresh upload (bytes, width, height) or a URL."""
    value = params.file("photo")
    if value is None:
        raise ApiError.bad_request("there is no photo in the request")
    if isinstance(value, FileField):
        data = value.file.read()
        max_bytes = ctx.limits.max_photo_bytes
        if max_bytes is not None and len(data) > max_bytes:
            raise ApiError.bad_request("file is too big")
        size = image_size(data)
        if size is None:
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
        if (
            width < 1
            or height < 1
            or width + height > 10000
            or max(width, height) > 20 * min(width, height)
        ):
            raise ApiError.bad_request("PHOTO_INVALID_DIMENSIONS")
        return data, width, height
    return _sent_before(ctx, value, "photo")


@method("sendPhoto")
async def send_photo(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    source = _photo(ctx, params)
    caption, parse_mode = _caption(ctx, params)
    markup = _reply_markup(ctx, params)
    reply_to = _reply_to(chat, params)
    ctx.rate_limit(chat)
    if isinstance(source, StoredFile):
        stored = source
    else:
        # Registered only now: a refused request must not leave a usable file_id behind.
        if isinstance(source, str):
            data, width, height, url = None, 512, 512, source
        else:
            (data, width, height), url = source, None
        sizes = photo_sizes(width, height, None if data is None else len(data))
        largest = sizes[-1]
        stored = StoredFile(
            kind="photo",
            file_id=largest["file_id"],
            file_unique_id=largest["file_unique_id"],
            data=data,
            width=width,
            height=height,
            file_path=f"photos/file_{len(ctx.state.files_by_path)}.{_extension(data)}",
            url=url,
            sizes=sizes,
        )
        ctx.state.register_file(stored)
    message = _captioned(ctx, chat, "sendPhoto", params, caption, parse_mode, markup, reply_to)
    message.photo = stored
    return ctx.commit_send(chat, message)


def _captioned(
    ctx: MethodContext,
    chat: SandboxChat,
    method_name: str,
    params: Params,
    caption: FormattedText | None,
    parse_mode: str | None,
    markup: dict[str, Any] | None,
    reply_to: SandboxMessage | None,
) -> SandboxMessage:
    """The bot's new message of a file send, with what every captioned send carries."""
    message = ctx.new_bot_message(chat, method_name, params)
    if caption is not None:
        message.caption = caption.text
        message.caption_entities = caption.entities
        message.raw_caption = params.string("caption")
    message.parse_mode = parse_mode
    message.reply_markup = markup
    message.reply_to = reply_to
    return message


def _document(ctx: MethodContext, params: Params) -> StoredFile | tuple[bytes, str] | str:
    """An existing document (file_id), a fresh upload (bytes, file name) or a URL."""
    value = params.file("document")
    if value is None:
        raise ApiError.bad_request("there is no document in the request")
    if isinstance(value, FileField):
        data = value.file.read()
        max_bytes = ctx.limits.max_document_bytes
        if max_bytes is not None and len(data) > max_bytes:
            raise ApiError(413, "Request Entity Too Large")
        if not data:
            raise ApiError.bad_request("file must be non-empty")
        return data, value.filename or "file"
    return _sent_before(ctx, value, "document")


@method("sendDocument")
async def send_document(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    source = _document(ctx, params)
    caption, parse_mode = _caption(ctx, params)
    markup = _reply_markup(ctx, params)
    reply_to = _reply_to(chat, params)
    ctx.rate_limit(chat)
    if isinstance(source, StoredFile):
        stored = source
    else:
        # Registered only now: a refused request must not leave a usable file_id behind.
        data, name = (None, source.rsplit("/", 1)[-1] or "file") if isinstance(source, str) else source
        stored = StoredFile(
            kind="document",
            file_id=new_file_id("BQACAgIAAxkBAAI"),
            file_unique_id=new_file_unique_id(),
            data=data,
            width=0,
            height=0,
            file_path=f"documents/file_{len(ctx.state.files_by_path)}{PurePosixPath(name).suffix}",
            url=source if isinstance(source, str) else None,
            file_name=name,
            mime_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        )
        ctx.state.register_file(stored)
    message = _captioned(ctx, chat, "sendDocument", params, caption, parse_mode, markup, reply_to)
    message.document = stored
    return ctx.commit_send(chat, message)


def _extension(data: bytes | None) -> str:
    if data is None:
        return "jpg"
    if data.startswith(b"\x89PNG"):
        return "png"
    if data[:3] == b"GIF":
        return "gif"
    if data[:4] == b"RIFF":
        return "webp"
    return "jpg"


@method("sendLocation")
async def send_location(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    latitude, longitude = _coordinates(params)
    location = _location_json(params, latitude, longitude)
    markup = _reply_markup(ctx, params)
    reply_to = _reply_to(chat, params)
    ctx.rate_limit(chat)
    message = ctx.new_bot_message(chat, "sendLocation", params)
    message.location = location
    message.reply_markup = markup
    message.reply_to = reply_to
    return ctx.commit_send(chat, message)


@method("sendVenue")
async def send_venue(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    latitude, longitude = _coordinates(params)
    title = params.string("title")
    address = params.string("address")
    if not title:
        raise ApiError.bad_request("venue title is empty")
    if not address:
        raise ApiError.bad_request("venue address is empty")
    markup = _reply_markup(ctx, params)
    reply_to = _reply_to(chat, params)
    ctx.rate_limit(chat)
    location = {"latitude": latitude, "longitude": longitude}
    venue: dict[str, Any] = {"location": location, "title": title, "address": address}
    for optional in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
        value = params.string(optional)
        if value:
            venue[optional] = value
    message = ctx.new_bot_message(chat, "sendVenue", params)
    message.venue = venue
    message.location = dict(location)  # Telegram fills both fields for a venue
    message.reply_markup = markup
    message.reply_to = reply_to
    return ctx.commit_send(chat, message)


@method("sendChatAction")
async def send_chat_action(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params)
    action = params.string("action")
    if action not in CHAT_ACTIONS:
        raise ApiError.bad_request("wrong parameter action in request")
    chat.actions.append((action, ctx.state.now()))
    return True


# --- editing and deleting ------------------------------------------------------------------


@method("editMessageText")
async def edit_message_text(ctx: MethodContext, params: Params) -> Any:
    chat, message = _editable(ctx, params)
    if message.text is None:
        raise ApiError.bad_request("there is no text in the message to edit")
    formatted, parse_mode = _message_text(ctx, params)
    markup = _edit_markup(ctx, params)
    if (
        formatted.text == message.text
        and formatted.entities == message.entities
        and markup == _inline_markup_of(message)
    ):
        raise ApiError.bad_request(errors.NOT_MODIFIED)
    message.edits.append(message.snapshot())
    message.text = formatted.text
    message.raw_text = params.string("text")
    message.entities = formatted.entities
    message.parse_mode = parse_mode
    # Omitting reply_markup in an edit removes the inline keyboard, as on Telegram.
    message.reply_markup = markup
    return _commit_edit(ctx, chat, message)


@method("editMessageCaption")
async def edit_message_caption(ctx: MethodContext, params: Params) -> Any:
    chat, message = _editable(ctx, params)
    if message.photo is None and message.document is None:
        raise ApiError.bad_request("there is no caption in the message to edit")
    caption, parse_mode = _caption(ctx, params)
    markup = _edit_markup(ctx, params)
    new_text = None if caption is None else caption.text
    new_entities = [] if caption is None else caption.entities
    if (
        new_text == message.caption
        and new_entities == message.caption_entities
        and markup == _inline_markup_of(message)
    ):
        raise ApiError.bad_request(errors.NOT_MODIFIED)
    message.edits.append(message.snapshot())
    message.caption = new_text
    message.caption_entities = new_entities
    message.raw_caption = params.string("caption") if caption is not None else None
    message.parse_mode = parse_mode
    message.reply_markup = markup
    return _commit_edit(ctx, chat, message)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(ctx: MethodContext, params: Params) -> Any:
    chat, message = _editable(ctx, params)
    markup = _edit_markup(ctx, params)
    if markup == _inline_markup_of(message):
        raise ApiError.bad_request(errors.NOT_MODIFIED)
    message.edits.append(message.snapshot())
    message.reply_markup = markup
    return _commit_edit(ctx, chat, message)


@method("deleteMessage")
async def delete_message(ctx: MethodContext, params: Params) -> Any:
    chat = ctx.chat(params, sending=False)
    message_id = params.integer("message_id")
    if message_id is None:
        raise ApiError.bad_request("message identifier is not specified")
    message = chat.by_id.get(message_id)
    if message is None or message.deleted:
        raise ApiError.bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
    message.deleted = True
    ctx.state.record_event(chat, "deleted", message_id=message_id)
    return True


# --- callbacks and files -------------------------------------------------------------------


@method("answerCallbackQuery")
async def answer_callback_query(ctx: MethodContext, params: Params) -> Any:
    query_id = params.string("callback_query_id")
    record = ctx.state.callbacks.get(query_id or "")
    if record is None or record.answered:
        raise ApiError.bad_request(errors.QUERY_TOO_OLD)
    text = params.string("text")
    limit = ctx.limits.max_callback_answer_length
    if text is not None and limit is not None and len(text) > limit:
        raise ApiError.bad_request("MESSAGE_TOO_LONG")
    record.answered = True
    answer = CallbackAnswer(
        callback_query_id=record.id,
        chat_id=record.chat_id,
        message_id=record.message_id,
        data=record.data,
        text=text,
        show_alert=params.boolean("show_alert"),
        url=params.string("url"),
        cache_time=params.integer("cache_time"),
        date=ctx.state.now(),
    )
    ctx.state.callback_answers[record.id] = answer
    chat = ctx.state.chats.get(record.chat_id)
    if chat is not None:
        ctx.state.record_event(chat, "answered", callback_query_id=record.id)
    return True


@method("getFile")
async def get_file(ctx: MethodContext, params: Params) -> Any:
    file_id = params.string("file_id") or ""
    stored = ctx.state.files.get(file_id)
    if stored is None:
        raise ApiError.bad_request(errors.WRONG_FILE_ID)
    result = stored.file_json()
    for size in stored.sizes:
        if size["file_id"] == file_id:
            result["file_unique_id"] = size["file_unique_id"]
    result["file_id"] = file_id
    return result
