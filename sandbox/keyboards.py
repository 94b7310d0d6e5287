"""reply_markup validation (what Telegram refuses) and helpers to read keyboards back."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import BUTTON_DATA_INVALID, ApiError
from sandbox.limits import SandboxLimits

MARKUP_UNPARSABLE = "can't parse reply keyboard markup JSON object"

# An inline button must do exactly one thing; these are the fields that say what.
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def markup_kind(markup: dict[str, Any] | None) -> str | None:
    """ "inline" | "reply" | "remove" | "force_reply" | None."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return "inline"
    if "keyboard" in markup:
        return "reply"
    if "remove_keyboard" in markup:
        return "remove"
    if "force_reply" in markup:
        return "force_reply"
    return None


def validate_reply_markup(value: Any, limits: SandboxLimits) -> dict[str, Any] | None:
    """Decode and check a reply_markup parameter; returns the normalised markup dict."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError.bad_request(MARKUP_UNPARSABLE)
    if "inline_keyboard" in value:
        return {**value, "inline_keyboard": _validate_inline_rows(value["inline_keyboard"], limits)}
    if "keyboard" in value:
        return {**value, "keyboard": _validate_reply_rows(value["keyboard"])}
    if "remove_keyboard" in value:
        if value["remove_keyboard"] is not True:
            raise ApiError.bad_request(MARKUP_UNPARSABLE)
        return dict(value)
    if "force_reply" in value:
        if value["force_reply"] is not True:
            raise ApiError.bad_request(MARKUP_UNPARSABLE)
        return dict(value)
    raise ApiError.bad_request(MARKUP_UNPARSABLE)


def _rows(rows: Any, field: str, markup: str) -> list[list[Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request(f'field "{field}" of the {markup} must be an Array of Arrays')
    return rows


def _validate_inline_rows(rows: Any, limits: SandboxLimits) -> list[list[dict[str, Any]]]:
    checked: list[list[dict[str, Any]]] = []
    for row in _rows(rows, "inline_keyboard", "InlineKeyboardMarkup"):
        checked_row: list[dict[str, Any]] = []
        for button in row:
            if not isinstance(button, dict):
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            if not isinstance(button.get("text"), str):
                raise ApiError.bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [name for name in _INLINE_ACTIONS if button.get(name) is not None]
            if not actions:
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in actions:
                data = button["callback_data"]
                if not isinstance(data, str):
                    raise ApiError.bad_request(BUTTON_DATA_INVALID)
                size = len(data.encode("utf-8"))
                too_long = (
                    limits.max_callback_data_bytes is not None
                    and size > limits.max_callback_data_bytes
                )
                if size == 0 or too_long:
                    raise ApiError.bad_request(BUTTON_DATA_INVALID)
            if "url" in actions:
                _check_url(button["url"])
            if "web_app" in actions:
                check_web_app(button["web_app"], "inline keyboard button Web App URL")
            checked_row.append(dict(button))
        checked.append(checked_row)
    return checked


def _check_url(url: Any) -> None:
    if not isinstance(url, str):
        raise ApiError.bad_request(f"inline keyboard button URL '{url}' is invalid")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    valid = (scheme in ("http", "https") and bool(parts.netloc)) or scheme in ("tg", "ton")
    if not valid:
        raise ApiError.bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _validate_reply_rows(rows: Any) -> list[list[dict[str, Any]]]:
    checked: list[list[dict[str, Any]]] = []
    for row in _rows(rows, "keyboard", "ReplyKeyboardMarkup"):
        checked_row: list[dict[str, Any]] = []
        for button in row:
            # Telegram accepts a bare string as shorthand for {"text": ...}.
            if isinstance(button, str):
                button = {"text": button}
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError.bad_request(
                    'can\'t parse keyboard button: Field "text" must be of type String'
                )
            if button.get("request_contact") and button.get("request_location"):
                raise ApiError.bad_request(
                    "can't parse keyboard button: a button can't request both contact and location"
                )
            checked_row.append(dict(button))
        checked.append(checked_row)
    return checked


def reply_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Buttons of a reply keyboard in reading order ([] if no reply keyboard)."""
    if markup is None or "keyboard" not in markup:
        return []
    return [button for row in markup["keyboard"] for button in row]


def check_web_app(web_app: Any, what: str) -> None:
    """A WebAppInfo: Telegram opens only https:// pages in a Mini App."""
    url = web_app.get("url") if isinstance(web_app, dict) else None
    if not isinstance(url, str):
        raise ApiError.bad_request(f"can't parse {what}: field \"url\" must be of type String")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise ApiError.bad_request(f"{what} '{url}' is invalid: Only HTTPS links are allowed")
