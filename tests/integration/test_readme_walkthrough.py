"""The README's merchant walkthrough runs as written: its marked shell blocks, taken from
README.md, run in one bash session against the real API (`loyalty api`, its own process) on a
fresh database, and every request they make must succeed.

Only two things are replaced, and each must be found: the API's address (the server listens on a
free port) and `.venv/bin/loyalty` (the `loyalty` installed beside this interpreter). `curl` is
wrapped to fail on any answer of 400 or more and to report each answer's status, so a request the
README makes that the API refuses fails the test with the body it answered."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Coupon, Member, Purchase, Reward, Store
from db.uow import UnitOfWorkFactory
from tests.conftest import TEST_SECRET

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- walkthrough -->"
BLOCK = re.compile(re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```", re.DOTALL)
README_API = "http://127.0.0.1:8080"
README_LOYALTY = ".venv/bin/loyalty"
LOYALTY = shutil.which("loyalty") or str(Path(sys.executable).with_name("loyalty"))
STARTUP_SECONDS = 60

# Run before the README's lines: stop at the first failure, name the line that failed, and have
# every curl fail on an error status and say what it answered (on stderr, apart from the body
# the README pipes into jq).
PRELUDE = r"""set -euo pipefail
trap 'echo "walkthrough failed at: $BASH_COMMAND" >&2' ERR
curl() { command curl --fail-with-body --silent --show-error --write-out '%{stderr}HTTP %{http_code} %{method} %{url_effective}\n' "$@"; }
"""


def walkthrough_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_marks_a_walkthrough() -> None:
    blocks = walkthrough_blocks()
    text = README.read_text(encoding="utf-8")
    assert len(blocks) >= 5 and len(blocks) == text.count(MARKER), "every marker is followed by a ```sh block"
    script = "\n".join(blocks)
    for needed in ("apikey create", "/api/v1/stores", "/api/v1/rewards", "/api/v1/coupon-templates",
                   "/api/v1/members", "/api/v1/purchases", "/api/v1/coupons", "/api/v1/coupons/redeem"):
        assert needed in script, f"the walkthrough no longer shows {needed}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BOT_", "DATABASE_", "SECRET_", "REDIS_"))}
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"} | extra)
    return env


@pytest.fixture
def live_api(engine: AsyncEngine, database_url: str, tmp_path: Path) -> Iterator[str]:
    """`loyalty api` on a free port, on the database the `engine` fixture just emptied."""
    port = free_port()
    server = subprocess.Popen(
        [LOYALTY, "api", "--no-migrate"], cwd=tmp_path,
        env=environment(database_url, API_HOST="127.0.0.1", API_PORT=str(port), LOG_LEVEL="INFO"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:  # also keeps the pipe drained while the server runs
        assert server.stdout is not None
        for line in server.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        # Each log line of the start-up is a moment to ask: once the port is bound, /health answers.
        while True:
            try:
                line = lines.get(timeout=STARTUP_SECONDS)
            except queue.Empty:
                pytest.fail("the API did not start:\n" + "".join(seen))
            if not line:
                pytest.fail("the API stopped at start-up:\n" + "".join(seen))
            seen.append(line)
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                continue
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


async def counts(uow_factory: UnitOfWorkFactory) -> dict[str, int]:
    async with uow_factory() as uow:
        return {
            model.__tablename__: int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Store, Reward, Member, Purchase, Coupon)
        }


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl") and shutil.which("jq")),
                    reason="the README's walkthrough needs bash, curl and jq")
async def test_the_walkthrough_runs_top_to_bottom_on_a_fresh_database(
    live_api: str, database_url: str, uow_factory: UnitOfWorkFactory, tmp_path: Path
) -> None:
    blocks = walkthrough_blocks()
    script = "\n".join(blocks)
    assert README_API in script and README_LOYALTY in script, "the walkthrough's address or command moved"
    script = script.replace(README_API, live_api).replace(README_LOYALTY, LOYALTY)
    requests = len(re.findall(r"\bcurl\b", script))
    assert await counts(uow_factory) == {"stores": 0, "rewards": 0, "members": 0, "purchases": 0, "coupons": 0}

    process = await asyncio.create_subprocess_exec(
        "bash", "-c", PRELUDE + script, cwd=tmp_path, env=environment(database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    stdout, stderr = out.decode(), err.decode()
    report = f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert process.returncode == 0, report
    statuses = [int(code) for code in re.findall(r"^HTTP (\d{3}) ", stderr, re.MULTILINE)]
    assert len(statuses) == requests, report
    assert all(200 <= status < 300 for status in statuses), report

    # What the README says happened, happened.
    assert await counts(uow_factory) == {"stores": 1, "rewards": 1, "members": 1, "purchases": 1, "coupons": 1}
    assert re.search(r"^member number: \d{10}$", stdout, re.MULTILINE), report
    assert '"points_earned": 128,' in stdout and '"discount_minor": 450,' in stdout, report
    assert re.search(r"^coupon: CP-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", stdout, re.MULTILINE), report
