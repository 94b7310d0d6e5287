"""The sender killed at random moments: `loyalty campaigns send` runs in a real process against
the sandbox (served from this test's event loop) and the test database, is SIGKILLed after a
random number of messages, and is started again until the campaign is done. Every eligible
member must have the message, the hold-out none, and a member may have it twice only if their
row was in flight when the process died (the rows left `sending`, sent again after the lease)."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from db.uow import UnitOfWorkFactory
from entrypoints.cli.campaigns import campaigns_app
from loyalty.clock import SystemClock
from sandbox import SandboxLimits, SandboxServer
from tests.conftest import TEST_SECRET
from tests.utils.broadcast import campaign, seed_campaign, statuses

TRIALS = 5
MEMBERS = 100
HELD_OUT = 10
RATE = 100  # messages a second: Telegram's paid rate would do, the test only needs it short
LEASE_SECONDS = 2
REPO = Path(__file__).resolve().parents[2]


def sender_env(database_url: str, sandbox: SandboxServer) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "test",
        "BOT_TOKEN": sandbox.token,
        "BOT_API_URL": sandbox.base_url,
        "BROADCAST_RATE": str(RATE),
        "BROADCAST_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "WARNING",
    }


async def start_sender(campaign_id: int, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints.cli.campaigns", "send", str(campaign_id),
        env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


# A hang guard, not a speed check: it fires only when the sender's work stops, i.e. no message
# of its campaign arrives for this long (its start-up included), on a CI machine that may be
# busy with other work.
STALL_SECONDS = 180.0


async def until(
    condition: Callable[[], bool], progress: Callable[[], int], process: asyncio.subprocess.Process,
    sandbox: SandboxServer,
) -> None:
    """Wait for `condition()` while the sender runs; fail only if `progress()` stalls. Woken by
    the sandbox on every Bot API call and by the process's exit, never by a timer."""
    exited = asyncio.ensure_future(process.wait())
    try:
        while not condition() and not exited.done():
            seen = progress()
            moved = asyncio.ensure_future(
                sandbox.state.activity.wait_until(lambda seen=seen: condition() or progress() != seen, None)
            )
            done, _ = await asyncio.wait({moved, exited}, timeout=STALL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            moved.cancel()
            assert done, "the sender made no progress"
    finally:
        exited.cancel()


async def trial(
    number: int, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, env: dict[str, str], rng: random.Random,
    starting: asyncio.Lock,
) -> list[int]:
    """One campaign sent by a process killed once or twice and restarted; the rows in flight at
    each kill."""
    eligible = [sandbox.add_user(f"T{number} member {n}").id for n in range(MEMBERS)]
    held_out = [sandbox.add_user(f"T{number} held {n}").id for n in range(HELD_OUT)]
    seeded = await seed_campaign(uow_factory, SystemClock(), chats=eligible, held_out=held_out)

    def received() -> int:
        return sum(len(sandbox.stats.sends_by_chat.get(chat, ())) for chat in eligible)

    async def started_sender() -> asyncio.subprocess.Process:
        """A sender, once it sends (or has stopped): one process starts at a time, so a start-up
        (it imports the whole product) never competes with four others for the machine."""
        async with starting:
            before = received()
            process = await start_sender(seeded.campaign_id, env)
            await until(lambda: received() > before, received, process, sandbox)
            return process

    in_flight_at_kills: list[int] = []
    for _ in range(rng.choice((1, 2))):
        if received() >= MEMBERS - 5:
            break
        kill_after = received() + rng.randrange(1, MEMBERS - received() - 4)
        process = await started_sender()
        await until(lambda kill_after=kill_after: received() >= kill_after, received, process, sandbox)
        assert process.returncode is None, "the sender finished before it could be killed"
        process.kill()
        await process.wait()
        in_flight_at_kills.append((await statuses(uow_factory, seeded.campaign_id))["sending"])
    process = await started_sender()
    _, errors = await asyncio.wait_for(process.communicate(), timeout=STALL_SECONDS)
    assert process.returncode == 0, errors.decode()

    copies = Counter({chat: len(sandbox.messages(chat)) for chat in eligible})
    assert min(copies.values()) >= 1, "a member lost the message"
    assert all(not sandbox.messages(chat) for chat in held_out)
    duplicates = sum(count - 1 for count in copies.values())
    assert duplicates <= sum(in_flight_at_kills), (duplicates, in_flight_at_kills)
    assert await statuses(uow_factory, seeded.campaign_id) == {"sent": MEMBERS, "held_out": HELD_OUT}
    assert (await campaign(uow_factory, seeded.campaign_id)).status == "done"
    print(f"trial {number}: in flight at the kills {in_flight_at_kills}, duplicates {duplicates}")
    return in_flight_at_kills


async def test_a_sender_killed_at_random_moments_and_restarted_delivers_to_everyone(
    uow_factory: UnitOfWorkFactory, database_url: str,
) -> None:
    # The trials run side by side (a process takes seconds to start), each with its own
    # campaign and sender; Telegram's global limit is off so they do not slow each other down.
    # Their senders start one after another.
    limits = SandboxLimits(global_rate=None, per_chat_rate=1.0)
    starting = asyncio.Lock()
    async with SandboxServer(limits=limits) as sandbox:
        env = sender_env(database_url, sandbox)
        kills = await asyncio.gather(
            *(
                trial(number, sandbox, uow_factory, env, random.Random(20261124 + number), starting)
                for number in range(TRIALS)
            )
        )
    every_kill = [n for trial_kills in kills for n in trial_kills]
    # With a 2 s lease a sender holds at most twice half a second of sending: all a kill can repeat.
    assert every_kill and max(every_kill) <= RATE


def test_sending_an_unknown_campaign_says_so_and_sends_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test",
        "BOT_TOKEN": "1:unused", "BOT_API_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(campaigns_app, ["send", "999999"])
    assert result.exit_code == 1
    assert "999999" in result.output
