"""The /sandbox/... HTTP mirror of the control API, for driving a sandbox from another process."""

from __future__ import annotations

import aiohttp
from aiogram import Bot

from sandbox import SandboxServer


async def test_control_endpoints_mirror_the_python_api(sandbox: SandboxServer, bot: Bot) -> None:
    base = sandbox.base_url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/sandbox/users", json={"first_name": "Ann"}) as resp:
            created = await resp.json()
        user_id = created["id"]
        assert sandbox.user(user_id).first_name == "Ann"

        async with http.post(f"{base}/sandbox/users/{user_id}/text", json={"text": "/start"}) as r:
            sent = await r.json()
        assert sent["text"] == "/start" and sent["entities"][0]["type"] == "bot_command"
        [update] = await bot.get_updates()
        assert update.message is not None and update.message.message_id == sent["message_id"]

        reply = await bot.send_message(user_id, "<b>Hi</b>", parse_mode="HTML")
        async with http.get(f"{base}/sandbox/chats/{user_id}/messages") as resp:
            history = await resp.json()
        assert [m["sandbox"]["from_bot"] for m in history] == [False, True]
        assert history[1]["text"] == "Hi" and history[1]["sandbox"]["raw_text"] == "<b>Hi</b>"

        body = {"message_id": reply.message_id, "data": "forged"}
        async with http.post(f"{base}/sandbox/users/{user_id}/press", json=body) as resp:
            query_id = (await resp.json())["callback_query_id"]
        async with http.post(f"{base}/sandbox/users/{user_id}/press", json={"message_id": 99}) as r:
            assert r.status == 400 and "no bot message 99" in (await r.json())["error"]

        async with http.get(f"{base}/sandbox/stats") as resp:
            stats = await resp.json()
        assert stats["calls"]["sendMessage"] == 1 and stats["total_sends"] == 1
        assert stats["pending_updates"] == 2  # the /start (unconfirmed) and the press
        async with http.get(f"{base}/sandbox/nothing-here") as resp:
            assert resp.status == 404 and (await resp.json())["description"] == "Not Found"
    assert query_id in sandbox.state.callbacks


async def test_contact_without_a_telegram_account(sandbox: SandboxServer) -> None:
    ann = sandbox.add_user("Ann")
    message = await sandbox.send_contact(
        ann, "+8613700000000", first_name="Plumber", without_user_id=True
    )
    assert message.contact == {"phone_number": "+8613700000000", "first_name": "Plumber"}
    assert ann.phone_number is None  # not her own number
