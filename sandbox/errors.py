"""Errors of the sandbox: Bot API error responses and misuse of the control API."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error answer, raised by a method handler and turned into Telegram's JSON.

    Telegram always answers errors as ``{"ok": false, "error_code": N, "description": "..."}``
    with the HTTP status equal to ``error_code``; aiogram picks its exception class from the
    status (400 → TelegramBadRequest, 403 → TelegramForbiddenError, ...) and from
    ``parameters.retry_after`` (→ TelegramRetryAfter), so both must match.
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        return cls(400, f"Bad Request: {detail}")

    @classmethod
    def forbidden(cls, detail: str) -> ApiError:
        return cls(403, f"Forbidden: {detail}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        return cls(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, "Unauthorized")

    @classmethod
    def not_found(cls) -> ApiError:
        return cls(404, "Not Found")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class SandboxError(Exception):
    """The control API was used in a way a real member could not act (e.g. write while blocked)."""


# Descriptions reused by several methods; kept in one place so tests and handlers agree.
CHAT_NOT_FOUND = "chat not found"
BOT_BLOCKED = "bot was blocked by the user"
CANT_INITIATE = "bot can't initiate conversation with a user"
MESSAGE_TEXT_EMPTY = "message text is empty"
MESSAGE_TOO_LONG = "message is too long"
CAPTION_TOO_LONG = "message caption is too long"
BUTTON_DATA_INVALID = "BUTTON_DATA_INVALID"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
MESSAGE_TO_EDIT_NOT_FOUND = "message to edit not found"
MESSAGE_TO_DELETE_NOT_FOUND = "message to delete not found"
REPLIED_NOT_FOUND = "message to be replied not found"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
WRONG_FILE_ID = "wrong file identifier/HTTP URL specified"
