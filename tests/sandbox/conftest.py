"""Fixtures for the sandbox tests: a running sandbox, a real aiogram Bot talking to it over
HTTP, a fake clock for flood limits, and a helper that runs a Dispatcher while a test acts."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sandbox import SandboxLimits, SandboxServer


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FastSession(AiohttpSession):
    """aiogram's session without the 250 ms grace sleep on close (it is meant for TLS)."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(sandbox: SandboxServer, token: str | None = None) -> Bot:
    session = FastSession(api=TelegramAPIServer.from_base(sandbox.base_url))
    return Bot(token or sandbox.token, session=session)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(fake_clock: FakeClock) -> AsyncIterator[SandboxServer]:
    # Telegram's default limits, on a clock that stands still unless a test advances it.
    async with SandboxServer(SandboxLimits(), clock=fake_clock, reply_quiet_period=0.05) as server:
        yield server


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[Bot]:
    bot = make_bot(sandbox)
    yield bot
    await bot.session.close()


@asynccontextmanager
async def polling(bot: Bot, *routers: Router) -> AsyncIterator[Dispatcher]:
    """Run ``dp.start_polling`` in a task for the duration of the block."""
    dp = Dispatcher()
    for router in routers:
        dp.include_router(router)
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    dp.startup.register(on_startup)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    await asyncio.wait_for(started.wait(), 5)
    try:
        yield dp
    finally:
        await dp.stop_polling()
        await task


def png_bytes(width: int, height: int) -> bytes:
    """A valid grey PNG of the given size (so the sandbox's dimension check sees real data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
