"""The HTTP floor under every route: bodies over their limit are a 413 before they are read,
bodies that are not JSON (or not UTF-8) are a documented 422, and every answer says not to store
it or guess its type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.response_headers import SECURITY_HEADERS
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, running_api
from tests.utils.database import every_row

JSON_LIMIT = 4096
CSV_LIMIT = 16384
CHUNK = 1024


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_json_body_bytes": JSON_LIMIT, "max_csv_body_bytes": CSV_LIMIT})


@pytest.fixture
def api_settings(limited: Settings) -> Settings:
    return limited


def padded_member(size: int) -> bytes:
    """A JSON enrolment of exactly `size` bytes (a long, otherwise valid body)."""
    head, tail = b'{"phone": "+8613800138000", "consent": true, "campaign": null, "x": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    """The body sent chunked, without a Content-Length."""
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "body_too_large", body
    assert f"{limit:,} bytes" in body["detail"], body


@pytest.mark.parametrize("with_key", [True, False], ids=["with-key", "without-key"])
async def test_a_json_body_over_the_limit_is_413_whether_declared_or_chunked(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, with_key: bool
) -> None:
    headers = (auth if with_key else {}) | {"Content-Type": "application/json"}
    before = await every_row(uow_factory)
    declared = await api.client.post("/api/v1/members", content=padded_member(JSON_LIMIT + 1), headers=headers)
    assert_too_large(declared, JSON_LIMIT)
    # Far more than the socket buffers hold: the client still gets to read the answer. Without a
    # key, a body of no declared length is never read at all: the key is checked first.
    for body in (padded_member(JSON_LIMIT * 4), padded_member(4_000_000)):
        streamed = await api.client.post("/api/v1/members", content=chunks(body), headers=headers)
        if with_key:
            assert_too_large(streamed, JSON_LIMIT)
        else:
            assert streamed.status_code == 401, streamed.text
    huge = await api.client.post("/api/v1/members", content=padded_member(4_000_000), headers=headers)
    assert_too_large(huge, JSON_LIMIT)
    assert await every_row(uow_factory) == before
    # At the limit itself, the body is read (and refused for its extra field, or for the key).
    at_limit = await api.client.post("/api/v1/members", content=padded_member(JSON_LIMIT), headers=headers)
    assert at_limit.status_code == (422 if with_key else 401), at_limit.text


async def test_a_csv_import_has_its_own_larger_limit(api: RunningApi, auth: dict[str, str]) -> None:
    rows = "".join(f"S{n:05d},Store number {n} on the long main street of the town\n" for n in range(250))
    csv = ("code,name\n" + rows).encode()
    assert JSON_LIMIT < len(csv) <= CSV_LIMIT
    imported = await api.client.post("/api/v1/stores/import", content=csv, headers=auth | {"Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": 250, "updated": 0}
    too_big = ("code,name\n" + rows * 4).encode()
    for content in (lambda: too_big, lambda: chunks(too_big)):
        response = await api.client.post(
            "/api/v1/stores/import", content=content(), headers=auth | {"Content-Type": "text/csv; charset=utf-8"}
        )
        assert_too_large(response, CSV_LIMIT)


async def test_the_app_stops_reading_a_chunked_body_at_the_limit(
    limited: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock, auth: dict[str, str]
) -> None:
    """ASGI itself: a client sending a hundred times the limit is read for one chunk past it."""
    app = create_app(limited, uow_factory=uow_factory, clock=clock)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < 100 * JSON_LIMIT // CHUNK}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    headers += [(name.lower().encode(), value.encode()) for name, value in auth.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/members", "raw_path": b"/api/v1/members", "root_path": "", "query_string": b"",
        "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled == JSON_LIMIT // CHUNK + 1


async def test_a_body_that_is_not_utf8_or_too_deep_is_a_documented_422(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    before = await every_row(uow_factory)
    for content, msg in (
        (b'{"phone": "\xff\xfe+8613800138000", "consent": true}', "the body is not UTF-8 text"),
        (b"[" * 3000, "the JSON is nested too deeply"),
        (b'{"phone": "+8613800138000", ', "JSON decode error"),
    ):
        response = await api.client.post(
            "/api/v1/members", content=content, headers=auth | {"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert (error["loc"][0], error["type"], error["msg"]) == ("body", "json_invalid", msg)
    assert await every_row(uow_factory) == before
    not_utf8 = await api.client.post(
        "/api/v1/stores/import", content="code,name\nS1,Caf\xe9\n".encode("latin-1"),
        headers=auth | {"Content-Type": "text/csv"},
    )
    assert not_utf8.status_code == 422
    assert not_utf8.json()["detail"] == [{"loc": ["body"], "msg": "the CSV is not UTF-8 text", "type": "csv_invalid"}]
    document = (await api.client.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "413" in responses, (method, path)
            assert responses["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorPublic")
            if "requestBody" in operation:
                assert "422" in responses, (method, path)
                assert "400" not in responses, (method, path)


async def test_every_answer_says_do_not_store_and_do_not_sniff(
    limited: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock, auth: dict[str, str]
) -> None:
    app = create_app(limited, uow_factory=uow_factory, clock=clock)

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("a bug")

    async with running_api(app) as api:
        responses = [
            await api.client.get("/health"),
            await api.client.get("/openapi.json"),
            await api.client.get("/docs"),
            await api.client.get("/api/v1/noop", headers=auth),
            await api.client.get("/api/v1/noop"),
            await api.client.get("/api/v1/nowhere", headers=auth),
            await api.client.delete("/api/v1/noop", headers=auth),
            await api.client.post("/api/v1/members", json={}, headers=auth),
            await api.client.post("/api/v1/members", content=padded_member(JSON_LIMIT + 1), headers=auth),
            await api.client.get("/boom"),
        ]
    assert [response.status_code for response in responses] == [200, 200, 200, 200, 401, 404, 405, 422, 413, 500]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.request.url, response.headers)
