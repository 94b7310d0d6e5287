"""Shared pieces of the benchmarks: database choice, a served API in its own process, timing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def parser(description: str) -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=description)
    parse.add_argument("--quick", action="store_true", help="a small size, for a smoke run")
    parse.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="where to run (postgres: BENCH_POSTGRES_URL or the local server; skipped if unreachable)",
    )
    return parse


def postgres_server_url() -> str | None:
    url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    try:
        with socket.create_connection((parts.host or "127.0.0.1", parts.port or 5432), timeout=1):
            return url
    except OSError:
        return None


def databases(choice: str) -> Iterator[str]:
    """The databases `--database` asks for, in turn; a PostgreSQL no server answers for is
    skipped with a line saying so when its turn comes."""
    for kind in ["sqlite", "postgres"] if choice == "both" else [choice]:
        if kind == "postgres" and postgres_server_url() is None:
            print("postgres: SKIPPED, no server reachable (set BENCH_POSTGRES_URL)", flush=True)
            continue
        yield kind


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """A fresh, migrated database of the kind asked for; dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from db.engine import create_engine
    from db.migrate import upgrade_database

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            asyncio.run(upgrade_database(url))
            yield url
        return
    server = postgres_server_url()
    assert server is not None
    name = f"loyalty_bench_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(upgrade_database(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_api(database_url: str, secret: str) -> Iterator[str]:
    """The real API in its own process (uvicorn, one worker), so the load generator does not
    share its event loop."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret,
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "production",
        # Production refuses the example privacy address; no member ever reads this one.
        "PRIVACY_URL": "https://loyalty.benchmark.test/privacy",
        # One key drives the whole load: far above the default per-key limit.
        "API_RATE_LIMIT": "1000000/minute",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_env", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Timing:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def report(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)
