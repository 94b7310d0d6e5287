"""Mistakes an operator makes in the first hour, as the `loyalty` command answers them: one
sentence that says what is wrong and what to type instead, an exit status, no traceback, no
secret echoed. Real processes, real sockets, the sandbox as Telegram."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from sandbox.server import SandboxServer
from tests.conftest import TEST_SECRET
from tests.e2e.test_cli import LOYALTY, free_port
from tests.e2e.test_cli import env_for as default_env

# How long a line the process should print may take before the test gives up: generous, for a
# loaded machine; a passing run waits only as long as the process takes.
HANG_GUARD = 120
EXAMPLES = "sqlite+aiosqlite:///./loyalty.sqlite3 or postgresql+asyncpg://USER:PASSWORD@HOST:5432/NAME"


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    return {**default_env(workdir), **extra}


def loyalty(
    workdir: Path, *args: str, stdin: str | None = None, timeout: float = 90, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOYALTY, *args], cwd=workdir, env=env_for(workdir, **env), input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def refused(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.endswith(line + "\n"), result.stderr
    assert result.returncode == 2, result.stderr


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("loyalty.sqlite3", f"not a database URL the program can use: write {EXAMPLES}"),
        (
            "postgresql://loyalty:hunter2@db.internal:5432/loyalty",
            "postgresql:// has no async driver: write postgresql+asyncpg:// instead (the rest stays as it is)",
        ),
        (
            "sqlite:///./loyalty.sqlite3",
            "sqlite:// has no async driver: write sqlite+aiosqlite:// instead (the rest stays as it is)",
        ),
    ],
    ids=["no scheme", "postgresql without asyncpg", "sqlite without aiosqlite"],
)
@pytest.mark.parametrize("command", [["migrate"], ["run"], ["apikey", "list"]], ids=" ".join)
def test_a_database_url_without_an_async_driver_says_what_to_write(
    url: str, sentence: str, command: list[str], tmp_path: Path
) -> None:
    result = loyalty(tmp_path, *command, DATABASE_URL=url, SECRET_KEY=TEST_SECRET)
    assert result.stderr == f"configuration error: DATABASE_URL: {sentence}\n"
    refused(result, sentence)
    assert "hunter2" not in result.stderr


def test_an_unreachable_database_is_a_sentence_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://loyalty:hunter2@127.0.0.1:{port}/loyalty"
    for command in (["migrate"], ["run"], ["apikey", "list"]):
        result = loyalty(tmp_path, *command, DATABASE_URL=url, SECRET_KEY=TEST_SECRET)
        refused(
            result,
            f"cannot open the database at DATABASE_URL (postgresql+asyncpg://loyalty:***@127.0.0.1:{port}/loyalty): "
            f"[Errno 111] Connect call failed ('127.0.0.1', {port}). Start the database or correct DATABASE_URL "
            "(sqlite+aiosqlite:///./loyalty.sqlite3 needs no server)",
        )
        assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr

    missing = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'loyalty.sqlite3'}"
    result = loyalty(tmp_path, "migrate", DATABASE_URL=missing, SECRET_KEY=TEST_SECRET)
    refused(
        result,
        f"cannot open the database at DATABASE_URL ({missing}): the folder {tmp_path / 'no-such-folder'} does not "
        "exist. Create it, or correct DATABASE_URL",
    )


def test_a_malformed_bot_token_is_named_and_not_echoed(tmp_path: Path) -> None:
    result = loyalty(tmp_path, "run", BOT_TOKEN="AAH-pasted-without-its-number", SECRET_KEY=TEST_SECRET)
    assert result.stderr == (
        "configuration error: BOT_TOKEN: not a bot token (digits, a colon, then letters, digits, - and _): "
        "copy it again from @BotFather, whole\n"
    )
    refused(result, "copy it again from @BotFather, whole")
    assert "pasted" not in result.stderr


class Unauthorized(BaseHTTPRequestHandler):
    """A Bot API server that refuses every token, as Telegram answers a revoked one."""

    def do_POST(self) -> None:
        body = json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}).encode()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_bot_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_token_the_bot_api_refuses_stops_the_process_with_a_sentence(tmp_path: Path, refusing_bot_api: str) -> None:
    result = loyalty(
        tmp_path, "run", BOT_TOKEN="123456789:AAH-revoked-token", BOT_API_URL=refusing_bot_api,
        SECRET_KEY=TEST_SECRET, API_PORT=str(free_port()), timeout=HANG_GUARD,
    )
    refused(
        result,
        f"BOT_TOKEN was refused by the Bot API at {refusing_bot_api} (Unauthorized): copy the token again from "
        "@BotFather, or send /revoke there for a new one",
    )
    assert "AAH-revoked" not in result.stderr


def test_production_refuses_the_example_privacy_address(tmp_path: Path) -> None:
    strong = "Zq3_rotated-key-from-loyalty-secret-new-8Jc2Wn5Vt1Hx"
    result = loyalty(tmp_path, "run", ENVIRONMENT="production", SECRET_KEY=strong,
                     PRIVACY_URL="https://example.com/privacy")
    assert result.stderr == (
        "configuration error: PRIVACY_URL is the example address: production needs the address of your own "
        "privacy terms\n"
    )
    refused(result, "production needs the address of your own privacy terms")
    unset = loyalty(tmp_path, "run", ENVIRONMENT="production", SECRET_KEY=strong)
    assert unset.returncode == 2 and "PRIVACY_URL is the example address" in unset.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_second_chat_says_the_port_is_taken_and_how_to_chat_without_the_api(
    tmp_path: Path, taken_port: int
) -> None:
    result = loyalty(tmp_path, "chat", stdin="/start\n", API_PORT=str(taken_port), timeout=HANG_GUARD)
    refused(
        result,
        f"API_PORT {taken_port} on 127.0.0.1 is taken (another `loyalty chat` or `loyalty run`?): chat without "
        "the API with `loyalty chat --no-api`, or set API_PORT to a free port",
    )
    assert "(API on" not in result.stderr

    served = loyalty(tmp_path, "run", API_PORT=str(taken_port), timeout=HANG_GUARD)
    refused(
        served,
        f"API_PORT {taken_port} on 127.0.0.1 is taken (another `loyalty run` or `loyalty chat`?): stop that one, "
        "or set API_PORT to a free port",
    )


async def start(workdir: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        LOYALTY, *args, cwd=workdir, env=env_for(workdir, **env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


async def read_until(process: asyncio.subprocess.Process, needle: str, seen: list[str]) -> str:
    """The first line of the process's output holding `needle`; every line read goes to `seen`."""
    assert process.stdout is not None

    async def lines() -> str:
        while True:
            raw = await process.stdout.readline()  # type: ignore[union-attr]
            assert raw, f"the process ended before saying {needle!r}:\n" + "".join(seen)
            seen.append(raw.decode())
            if needle in seen[-1]:
                return seen[-1]

    return await asyncio.wait_for(lines(), HANG_GUARD)


async def stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.read(), HANG_GUARD)
    return await asyncio.wait_for(process.wait(), HANG_GUARD)


async def test_run_says_the_api_listens_once_it_does_and_keeps_the_scheduler_quiet(tmp_path: Path) -> None:
    port = free_port()
    process = await start(tmp_path, "run", API_PORT=str(port), SECRET_KEY=TEST_SECRET)
    seen: list[str] = []
    try:
        await read_until(process, f"API listening on http://127.0.0.1:{port}", seen)
        # Said only once true: a connection is accepted at that very moment.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        await read_until(process, "scheduler started with", seen)
    finally:
        assert await stop(process) == 0
    assert not [line for line in seen if "apscheduler" in line], seen


async def test_a_bot_api_that_is_not_there_or_goes_away_is_retried_until_it_is_back(tmp_path: Path) -> None:
    port = free_port()  # the Bot API is down: nothing listens there yet
    api_url = f"http://127.0.0.1:{port}"
    sandbox = SandboxServer(port=port)
    process = await start(
        tmp_path, "run", BOT_TOKEN=sandbox.token, BOT_API_URL=api_url, API_PORT=str(free_port()),
        SECRET_KEY=TEST_SECRET,
    )
    seen: list[str] = []
    try:
        first = await read_until(process, "cannot reach the Bot API", seen)
        assert first.rstrip().endswith(
            f"cannot reach the Bot API at {api_url} (TelegramNetworkError): trying again in 1 s (attempt 1)"
        )
        await read_until(process, "(attempt 2)", seen)
        assert process.returncode is None
        async with sandbox:
            await read_until(process, f"connected to {api_url}", seen)
            await read_until(process, "Start polling", seen)
        # The network goes away while the bot runs: aiogram's polling retries with backoff.
        await read_until(process, "Failed to fetch updates - TelegramNetworkError", seen)
        await read_until(process, "Sleep for", seen)
        assert process.returncode is None
        async with SandboxServer(port=port):
            await read_until(process, "Connection established", seen)
            assert process.returncode is None
            assert await stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert not [line for line in seen if "Traceback" in line], seen
