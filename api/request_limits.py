"""Request bodies are bounded before they are read: a `text/csv` body (a store import), or a
form upload to one of the paths that take a CSV file (the console's imports), at
MAX_CSV_BODY_BYTES, any other at MAX_JSON_BODY_BYTES. A larger one is answered 413 with a JSON
error, and the rest of it is never read: from `Content-Length` when the client gives it, before
the app sees the request at all (no key check, no database); by counting the chunks as they
arrive when it does not (chunked transfer), at most the limit plus one chunk buffered. What is
left of the body is discarded as it arrives, never kept.

A pure ASGI middleware, outside authentication and routing, so it composes with whatever they
check first. FastAPI's own `max_body_size` (0.164) is not used: it answers a declared length
with a plain-text 413 that bypasses the app's error handlers.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODE = "body_too_large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a chunked body passes its limit; answered by
    api/errors.py like the middleware's own 413."""

    def __init__(self, limit: int, media: str) -> None:
        super().__init__(status_code=413, detail=message(limit, media))
        self.limit = limit
        self.media = media


def message(limit: int, media: str) -> str:
    return f"the request body is larger than {limit:,} bytes, the most this API takes in a {media} body"


def too_large(limit: int, media: str) -> JSONResponse:
    # The connection stays open: the server discards what is left of the body as it arrives
    # (uvicorn does, once the answer is sent), so a client still sending gets to read the 413
    # instead of a reset connection.
    return JSONResponse(status_code=413, content={"detail": message(limit, media), "code": CODE})


class RequestBodyLimit:
    def __init__(self, app: ASGIApp, *, json_limit: int, csv_limit: int, csv_upload_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.json_limit = json_limit
        self.csv_limit = csv_limit
        self.csv_upload_paths = csv_upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        csv = media_type == "text/csv" or (media_type == "multipart/form-data" and scope["path"] in self.csv_upload_paths)
        limit, media = (self.csv_limit, "CSV") if csv else (self.json_limit, "JSON")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit():
            # The server reads no more than the declared length: nothing to count.
            if int(declared) > limit:
                await too_large(limit, media)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, media)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # Raised where no error handler answered it (the app's handlers normally do).
            if started:
                raise
            await too_large(limit, media)(scope, receive, send)
