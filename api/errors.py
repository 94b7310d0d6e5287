"""Domain errors (loyalty/errors.py) to HTTP answers. Every error body is JSON.

- NotFound -> 404, Gone -> 410 (a member whose data was erased) and Conflict -> 409, as
  `{"detail": "...", "code": "..."}`, with `"reason"` when the rule gave one (why a coupon or
  reward was refused: "expired", "used", ...).
- InvalidInput (and subclasses) and ConsentRequired -> 422, in the shape of FastAPI's own
  validation errors: `{"detail": [{"loc": ["body", "phone"], "msg": "...", "type": "..."}]}`.
- Request validation errors keep that shape but never echo the submitted input back: a body
  with a missing field would otherwise return the whole body, phone number included. A text
  with a control character (loyalty/text.py's patterns) is reported as `control_character`,
  naming the character, as the rules report it.
- A body that cannot be read as JSON at all (not UTF-8, nested too deeply) is a 422
  `json_invalid` like malformed JSON, never FastAPI's bare 400.
- A body over its limit (api/request_limits.py) is a 413 `{"detail", "code": "body_too_large"}`.
- Every error carries the headers of api/response_headers.py, the 500 too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from api import request_limits
from api.response_headers import SECURITY_HEADERS
from loyalty import text
from loyalty.errors import (
    Conflict,
    ConsentRequired,
    Gone,
    InvalidBirthday,
    InvalidCity,
    InvalidInput,
    InvalidPhone,
    LoyaltyError,
    NotFound,
    StoreImportRejected,
)

log = logging.getLogger(__name__)

# The field each input error is about, when the rule that raised it did not say (`field=`).
_FIELD_OF: tuple[tuple[type[InvalidInput], str], ...] = (
    (InvalidPhone, "phone"),
    (InvalidBirthday, "birthday"),
    (InvalidCity, "city"),
)
# Messages that would quote personal input (normalize_phone quotes the raw number) are replaced.
_PUBLIC_MESSAGE: tuple[tuple[type[LoyaltyError], str], ...] = (
    (InvalidPhone, "not a valid phone number"),
)


def field_error(loc: Sequence[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


def validation_response(errors: Iterable[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": list(errors)}
    )


def public_message(exc: LoyaltyError) -> str:
    for kind, message in _PUBLIC_MESSAGE:
        if isinstance(exc, kind):
            return message
    return str(exc)


def _field_of(exc: InvalidInput) -> str | None:
    field = exc.details.get("field")
    if isinstance(field, str):
        return field
    for kind, name in _FIELD_OF:
        if isinstance(exc, kind):
            return name
    return None


def _body_loc(field: str | None) -> list[str | int]:
    # "opening_hours.mon" -> ["body", "opening_hours", "mon"]
    return ["body", *field.split(".")] if field else ["body"]


async def _store_import_rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreImportRejected)
    errors = exc.details.get("errors") or []
    assert isinstance(errors, list), "a store import is rejected with its list of RowError"
    log.info("422 on %s %s: %d bad rows", request.method, request.url.path, len(errors))
    return validation_response(
        field_error(["body", error.row, error.field], error.message, exc.code) for error in errors
    )


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    loc = _body_loc(_field_of(exc))
    log.info("422 on %s %s: %s at %s", request.method, request.url.path, exc.code, loc)
    return validation_response([field_error(loc, public_message(exc), exc.code)])


async def _consent_required(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConsentRequired)
    log.info("422 on %s %s: %s", request.method, request.url.path, exc.code)
    return validation_response([field_error(_body_loc("consent"), str(exc), exc.code)])


def _plain(status_code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LoyaltyError)
        log.info("%d on %s %s: %s", status_code, request.method, request.url.path, exc.code)
        content = {"detail": public_message(exc), "code": exc.code}
        reason = exc.details.get("reason")
        if isinstance(reason, str):  # a short token from the rule, never the caller's input
            content["reason"] = reason
        return JSONResponse(status_code=status_code, content=content)

    return handler


# The patterns of loyalty.text.SingleLine and MultiLine, and whether each is the multi-line one.
_TEXT_PATTERNS = {text.SINGLE_LINE_PATTERN: False, text.MULTI_LINE_PATTERN: True}


def _control_character(error: dict[str, Any]) -> dict[str, Any] | None:
    """A text pattern's mismatch said as the rules say it: the control character it found."""
    if error["type"] != "string_pattern_mismatch":
        return None
    multiline = _TEXT_PATTERNS.get(error.get("ctx", {}).get("pattern"))
    if multiline is None:
        return None
    character = text.control_character(error["input"], multiline=multiline)
    if character is None:
        return None
    refusal = text.refusal(character, multiline=multiline)
    return field_error(error["loc"], refusal, "control_character") | {"ctx": {"character": text.describe(character)}}


def _public_error(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without the input it was about."""
    return _control_character(error) or field_error(error["loc"], error["msg"], error["type"]) | (
        {"ctx": jsonable_encoder(error["ctx"])} if "ctx" in error else {}
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_public_error(error) for error in exc.errors()]
    log.info(
        "422 on %s %s: %s",
        request.method,
        request.url.path,
        ", ".join(".".join(map(str, error["loc"])) for error in errors),
    )
    return validation_response(errors)


# Why FastAPI could not read a body as JSON (it answers 400 "There was an error parsing the
# body" with the cause chained), in words for the 422.
_UNREADABLE_BODY: tuple[tuple[type[Exception], str], ...] = (
    (UnicodeDecodeError, "the body is not UTF-8 text"),
    (RecursionError, "the JSON is nested too deeply"),
)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == status.HTTP_400_BAD_REQUEST:
        for cause, msg in _UNREADABLE_BODY:
            if isinstance(exc.__cause__, cause):
                log.info("422 on %s %s: %s", request.method, request.url.path, msg)
                return validation_response([field_error(["body"], msg, "json_invalid")])
    return await http_exception_handler(request, exc)


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, request_limits.BodyTooLarge)
    log.info("413 on %s %s: body over %d bytes", request.method, request.url.path, exc.limit)
    return request_limits.too_large(exc.limit, exc.media)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback; the caller gets JSON without internals. Sent outside every
    # middleware, so it carries the security headers itself.
    log.error("500 on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "internal server error", "code": "internal_error"},
        headers=SECURITY_HEADERS,
    )


def install_error_handlers(app: FastAPI) -> None:
    # Starlette picks the handler of the nearest class in the exception's MRO.
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(request_limits.BodyTooLarge, _body_too_large)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(StoreImportRejected, _store_import_rejected)
    app.add_exception_handler(ConsentRequired, _consent_required)
    app.add_exception_handler(NotFound, _plain(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(Gone, _plain(status.HTTP_410_GONE))
    app.add_exception_handler(Conflict, _plain(status.HTTP_409_CONFLICT))
    app.add_exception_handler(LoyaltyError, _plain(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(Exception, _unhandled)
