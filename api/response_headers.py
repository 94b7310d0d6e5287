"""Headers on every answer of the API: do not store it (answers carry members' data, and a
shared cache or a browser's disk is no place for them), and do not guess its type from its
content (a JSON body is never run as a page)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_RAW = tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items())


class SecurityHeaders:
    """Adds SECURITY_HEADERS to each response that does not set them itself. A pure ASGI
    middleware: it touches only the response's start message. (The 500 answer is sent outside
    every middleware, so api/errors.py sets the headers on it.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _RAW if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
