"""The broadcast client against the local Bot API sandbox over HTTP: what it posts arrives as
Telegram shows it, and each refusal comes back as the outcome the sender acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from bot.broadcast.client import BadRequest, BroadcastClient, BroadcastError, Forbidden, RetryAfter
from sandbox import SandboxLimits, SandboxServer


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp app on a free local port; its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001 - aiohttp tells the bound port nowhere else
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(limits=SandboxLimits.without_rate_limits()) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[BroadcastClient]:
    client = BroadcastClient(sandbox.token, sandbox.base_url)
    yield client
    await client.close()


async def test_a_message_arrives_with_its_html_and_link_buttons(sandbox: SandboxServer, client: BroadcastClient) -> None:
    chat = sandbox.add_user("Ann").id
    keyboard = [[{"text": "See the offers", "url": "https://example.com/offers"}]]
    await client.send(chat, "<b>Member day</b> &lt;today&gt;", keyboard=keyboard)

    message, = sandbox.messages(chat)
    assert message.method == "sendMessage"
    assert message.text == "Member day <today>"
    assert [entity["type"] for entity in message.entities] == ["bold"]
    assert message.reply_markup == {"inline_keyboard": keyboard}


async def test_with_an_image_it_is_a_photo_with_the_text_as_caption(sandbox: SandboxServer, client: BroadcastClient) -> None:
    chat = sandbox.add_user("Li").id
    await client.send(chat, "会员日", image_url="https://example.com/member-day.jpg")

    message, = sandbox.messages(chat)
    assert message.method == "sendPhoto" and message.photo is not None
    assert message.caption == "会员日" and message.text is None


async def test_a_member_who_blocked_the_bot_is_forbidden(sandbox: SandboxServer, client: BroadcastClient) -> None:
    chat = sandbox.add_user("Gone").id
    await sandbox.block(chat)
    with pytest.raises(Forbidden) as refused:
        await client.send(chat, "hello")
    assert refused.value.code == 403 and "blocked" in refused.value.description
    assert sandbox.messages(chat) == []


async def test_a_chat_that_does_not_exist_is_a_bad_request(client: BroadcastClient) -> None:
    with pytest.raises(BadRequest) as refused:
        await client.send(987_654_321, "hello")
    assert refused.value.code == 400 and "chat not found" in refused.value.description


async def test_too_many_requests_says_how_long_to_wait() -> None:
    async with SandboxServer(limits=SandboxLimits(global_rate=1, global_burst=1)) as sandbox:
        first, second = sandbox.add_user("A").id, sandbox.add_user("B").id
        client = BroadcastClient(sandbox.token, sandbox.base_url)
        try:
            await client.send(first, "one")
            with pytest.raises(RetryAfter) as refused:
                await client.send(second, "two")
        finally:
            await client.close()
    assert refused.value.code == 429 and refused.value.seconds >= 1
    assert sandbox.messages(second) == []


async def test_a_server_error_or_a_page_that_is_no_bot_api_reply_is_a_plain_broadcast_error() -> None:
    async def handle(request: web.Request) -> web.Response:
        if request.match_info["method"] == "sendMessage":
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500)
        return web.Response(text="<html>502 Bad Gateway</html>", status=502, content_type="text/html")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    async with serve(app) as base_url:
        client = BroadcastClient("1:token", base_url)
        try:
            with pytest.raises(BroadcastError) as failed:
                await client.send(1, "hello")
            assert type(failed.value) is BroadcastError and failed.value.code == 500
            with pytest.raises(BroadcastError) as garbled:
                await client.send(1, "hello", image_url="https://example.com/a.jpg")
            assert type(garbled.value) is BroadcastError and garbled.value.code == 502
            assert "not a Bot API reply" in garbled.value.description
        finally:
            await client.close()
