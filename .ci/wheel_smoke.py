"""Smoke test of an installed wheel: the `loyalty run` it installed answers /start through the
sandbox it installed, with the templates and migrations it carries.

Run with the Python of a virtual environment the wheel was installed into, from a directory
outside the checkout and with -I, so nothing of the checkout can stand in for what the wheel
lacks:

    cd "$(mktemp -d)" && /path/to/venv/bin/python -I /path/to/wheel_smoke.py

Exits 0 when the greeting arrived, 1 (with the product's log) when it did not, in at most
DEADLINE seconds.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sandbox import SandboxServer

# A loaded CI machine starts the product in seconds, not minutes; well past that, it is broken.
DEADLINE = 240.0
STARTUP_TIMEOUT = 150.0
REPLY_TIMEOUT = 60.0
MEMBER = "Alex"
PROGRAM = "Wheel Smoke Club"
T = TypeVar("T")


# What the wheel must carry, and where each must come from: this environment, never the checkout.
PACKAGES = ("entrypoints", "loyalty", "db", "bot", "api", "sandbox", "templates")


def not_installed_here() -> list[str]:
    problems = (
        [] if data_files_installed() else ["the wheel carries no message templates, no migrations, no console or no Mini App"]
    )
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            problems.append(f"{name} is not installed")
        elif not Path(spec.origin).resolve().is_relative_to(Path(sys.prefix).resolve()):
            problems.append(f"{name} comes from {spec.origin}, outside {sys.prefix}")
    return problems


def data_files_installed() -> bool:
    files = [str(path) for path in importlib.metadata.distribution("telegram-loyalty").files or []]
    templates = sum(name.startswith("templates/messages/") and name.endswith(".j2") for name in files)
    migrations = sum(name.startswith("db/migrations/versions/0") and name.endswith(".py") for name in files)
    words = sum(name.startswith("templates/console/") and name.endswith(".toml") for name in files)
    pages = sum(name.startswith("api/console/templates/") and name.endswith(".html") for name in files)
    assets = sum(name.startswith("api/console/static/") for name in files)
    app_words = sum(name.startswith("templates/webapp/") and name.endswith(".toml") for name in files)
    app_assets = sum(name.startswith("api/webapp/static/") for name in files)
    print(
        f"wheel smoke: installed {len(files)} files, {templates} message templates, {migrations} migrations, "
        f"console: {pages} pages, {words} word files, {assets} static files; "
        f"Mini App: {app_words} word files, {app_assets} static files"
    )
    counts = (templates, migrations, words, pages, assets, app_words, app_assets)
    return all(count > 0 for count in counts)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def product_environment(workdir: Path, server: SandboxServer) -> dict[str, str]:
    # Only what a shell needs plus the product's settings: no TEMPLATES_DIR, PYTHONPATH or test
    # database leaks in from the caller.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(
        ENVIRONMENT="development",
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'loyalty.sqlite3'}",
        SECRET_KEY=secrets.token_urlsafe(48),
        BOT_TOKEN=server.token,
        BOT_API_URL=server.base_url,
        API_HOST="127.0.0.1",
        API_PORT=str(free_port()),
        PROGRAM_NAME=PROGRAM,
        LOG_LEVEL="INFO",
    )
    return env


async def answer_start(workdir: Path, log_path: Path) -> str:
    from sandbox import SandboxServer

    loyalty = Path(sys.prefix) / "bin" / "loyalty"
    async with SandboxServer() as server:
        with log_path.open("wb") as log:
            product = await asyncio.create_subprocess_exec(
                str(loyalty), "run", cwd=workdir, env=product_environment(workdir, server),
                stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            )
            try:
                await first_of(server.wait_for_poll(timeout=STARTUP_TIMEOUT), product, "start polling")
                member = server.add_user(MEMBER, language_code="en")
                await server.send_text(member, "/start")
                replies = await first_of(
                    server.wait_for_messages(member, timeout=REPLY_TIMEOUT), product, "answer /start"
                )
                return replies[0].text or ""
            finally:
                await stop(product)


async def first_of(waiting: Awaitable[T], product: asyncio.subprocess.Process, what: str) -> T:
    """`waiting`'s result, unless the product exits first (then there is nothing to wait for)."""
    task = asyncio.ensure_future(waiting)
    exited = asyncio.ensure_future(product.wait())
    done, _ = await asyncio.wait([task, exited], return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if task not in done:
        task.cancel()
        raise RuntimeError(f"`loyalty run` exited with status {product.returncode} before it could {what}")
    return task.result()


async def stop(product: asyncio.subprocess.Process) -> None:
    if product.returncode is not None:
        return
    product.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(product.wait(), 30)
    except TimeoutError:
        product.kill()
        await product.wait()


def main() -> int:
    if problems := not_installed_here():
        print("wheel smoke: FAILED: " + "; ".join(problems) + " (run it with -I from outside the checkout)")
        return 1
    with tempfile.TemporaryDirectory(prefix="loyalty-wheel-smoke-") as directory:
        workdir = Path(directory)
        log_path = workdir / "loyalty-run.log"
        try:
            text = asyncio.run(asyncio.wait_for(answer_start(workdir, log_path), DEADLINE))
        except (TimeoutError, RuntimeError) as error:
            print(f"wheel smoke: FAILED: {error or 'no greeting within ' + str(DEADLINE) + 's'}")
            print("wheel smoke: the product's log:\n" + log_path.read_text(errors="replace")[-8000:])
            return 1
        # templates/messages/en/start/greeting.j2, rendered by the installed product.
        if not (f"Hi {MEMBER}!" in text and f"Welcome to {PROGRAM}" in text):
            print(f"wheel smoke: FAILED: /start was answered with {text!r}, not the greeting")
            print("wheel smoke: the product's log:\n" + log_path.read_text(errors="replace")[-8000:])
            return 1
        print(f"wheel smoke: /start answered by the installed wheel: {text.splitlines()[0]!r}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
