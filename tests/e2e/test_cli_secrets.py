"""SECRET_KEY as an operator meets it: real `loyalty` processes on the test database (SQLite,
or PostgreSQL with TEST_DATABASE_URL). A key the data was not written with stops every command
with one line; `loyalty secret rotate` moves the data to a new key and survives being killed;
configuration errors name the variable and never show a secret."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import termios
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.crypto import FieldCipher, key_fingerprint
from db.engine import create_session_factory
from db.models import Member, SecretKeyFingerprint, Tier
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import secret_key_weakness
from loyalty.secret_keys import check_secret_key
from tests.conftest import TEST_SECRET
from tests.e2e.test_cli import LOYALTY, free_port

NEW_SECRET = "Zq3_rotated-key-from-loyalty-secret-new-8Jc2Wn5Vt1Hx"
OTHER_SECRET = "another-secret-key-of-fifty-random-chars-Qx7Vb2Lk9Tz"
MISMATCH = (
    "configuration error: SECRET_KEY is not the key this database was written with: start with the "
    "SECRET_KEY it was written with (to change keys, set the new one as SECRET_KEY, put the old one in "
    "OLD_SECRET_KEYS and run `loyalty secret rotate`).\n"
)
# Linux lets a pipe shrink to one page; a rotation writing its progress into such a pipe that no
# one reads stops once the page is full, wherever it is.
PIPE_CAPACITY = 4096


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    prefixes = ("TEST_", "BOT_", "DATABASE_", "SECRET_", "OLD_SECRET_", "ENVIRONMENT", "TIMEZONE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update({"DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **extra})
    return env


def loyalty(
    workdir: Path, database_url: str, *args: str, secret: str = TEST_SECRET, timeout: float = 90, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOYALTY, *args], cwd=workdir, env=env_for(database_url, SECRET_KEY=secret, **extra), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )


async def written_with_test_secret(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await check_secret_key(uow_factory, clock)


# --- another key ---------------------------------------------------------------------------------


# The processes, and the commands that open the database through each of the CLI's paths.
COMMANDS = [
    ["run"], ["api"], ["scheduler"], ["chat", "--no-api"], ["apikey", "list"], ["campaigns", "list"],
    ["secret", "rotate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command))
async def test_every_command_refuses_a_key_the_database_was_not_written_with(
    command: list[str], tmp_path: Path, database_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock,
) -> None:
    await written_with_test_secret(uow_factory, clock)
    result = loyalty(tmp_path, database_url, *command, secret=OTHER_SECRET, API_PORT=str(free_port()))
    assert result.returncode == 2, result.stderr
    assert result.stderr.endswith(MISMATCH) and "Traceback" not in result.stderr, result.stderr
    assert OTHER_SECRET not in result.stderr + result.stdout


async def test_uvicorn_with_the_app_factory_refuses_another_key_in_one_line(
    tmp_path: Path, database_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await written_with_test_secret(uow_factory, clock)
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_env", "--port", str(free_port())]
    result = await asyncio.to_thread(
        subprocess.run,
        command, cwd=tmp_path, env=env_for(database_url, SECRET_KEY=OTHER_SECRET), capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == MISMATCH


# --- configuration errors -----------------------------------------------------------------------


def test_a_bad_setting_is_one_line_naming_its_variable(tmp_path: Path, database_url: str) -> None:
    result = loyalty(tmp_path, database_url, "migrate", TIMEZONE="Mars/Olympus_Mons")
    assert result.returncode == 2
    assert result.stderr == "configuration error: TIMEZONE: unknown time zone 'Mars/Olympus_Mons'\n"

    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_env", "--port", str(free_port())]
    served = subprocess.run(
        command, cwd=tmp_path, env=env_for(database_url, SECRET_KEY=TEST_SECRET, TIMEZONE="Mars/Olympus_Mons"),
        capture_output=True, text=True, timeout=60,
    )
    assert served.returncode == 2
    assert served.stderr == "configuration error: TIMEZONE: unknown time zone 'Mars/Olympus_Mons'\n"


@pytest.mark.parametrize("key", ["a" * 32, "abc" * 11, "0123456789abcdef" * 2, "password" * 5])
def test_production_refuses_a_long_but_guessable_key_without_showing_it(
    key: str, tmp_path: Path, database_url: str
) -> None:
    result = loyalty(tmp_path, database_url, "run", secret=key, ENVIRONMENT="production")
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: SECRET_KEY is too easy to guess")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert key[:4] not in result.stderr.replace("SECRET_KEY", "")


def test_new_keys_are_strong_and_the_old_invocation_still_works(tmp_path: Path, database_url: str) -> None:
    keys = [loyalty(tmp_path, database_url, *args).stdout.strip() for args in (["secret"], ["secret", "new"])]
    assert keys[0] != keys[1]
    assert all(len(key) == 64 and secret_key_weakness(key) is None for key in keys)


# --- rotation ------------------------------------------------------------------------------------


async def seed_members(engine: AsyncEngine, count: int) -> list[str]:
    """`count` members written with TEST_SECRET, straight into the table (fast)."""
    cipher = FieldCipher(TEST_SECRET)
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    phones = [f"+86139{n:08d}" for n in range(count)]
    async with engine.begin() as connection:
        tier_id = await connection.scalar(select(Tier.id).where(Tier.rank == 0))
        await connection.execute(insert(Member), [
            {
                "member_number": f"{n:010d}", "phone_index": cipher.blind_index(phone),
                "phone_encrypted": cipher.encrypt(phone), "locale": "en", "enrolled_via": "till",
                "consent_version": "t", "consented_at": now, "points_balance": 0, "tier_id": tier_id,
                "tier_since": now, "created_at": now, "updated_at": now,
            }
            for n, phone in enumerate(phones)
        ])
    return phones


async def rotated_share(engine: AsyncEngine, phones: list[str]) -> int:
    """How many members are under the new key; fails unless every member is whole and findable:
    the phone decrypts with the keys of the rotation and is indexed under the key it is
    encrypted with, so a lookup by phone finds it."""
    both = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(NEW_SECRET, [TEST_SECRET]))
    new_index = FieldCipher(NEW_SECRET).blind_index
    async with both() as uow:
        members = (await uow.session.scalars(select(Member).order_by(Member.id))).all()
        stored = {uow.members.phone_of(member): member for member in members}
        assert sorted(stored) == sorted(phones), "a member was lost or split"
        under_new = 0
        for phone, member in stored.items():
            is_new = uow.cipher.is_current(member.phone_encrypted or "")
            expected = new_index(phone) if is_new else FieldCipher(TEST_SECRET).blind_index(phone)
            assert member.phone_index == expected, f"member {member.id} is encrypted and indexed under different keys"
            under_new += is_new
        for phone in phones[:: max(1, len(phones) // 40)]:
            found = await uow.members.by_phone(phone)
            assert found is not None and found.id == stored[phone].id
    return under_new


async def recorded(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.scalars(select(SecretKeyFingerprint.fingerprint))).all())


def start_rotation_into_a_small_pipe(workdir: Path, database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """`loyalty secret rotate` with its progress going into a one-page pipe nobody reads yet."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_CAPACITY)
    process = subprocess.Popen(
        [LOYALTY, "secret", "rotate", "--batch-size", "10"], cwd=workdir, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=write_end,
        env=env_for(database_url, SECRET_KEY=NEW_SECRET, OLD_SECRET_KEYS=f"{OTHER_SECRET},{TEST_SECRET}"),
    )
    os.close(write_end)
    return process, read_end


def wait_until_the_pipe_is_full(process: subprocess.Popen[bytes], read_end: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        waiting = int.from_bytes(fcntl.ioctl(read_end, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
        if waiting > PIPE_CAPACITY - 200:  # no room for another progress line: the rotation stops
            return
        assert process.poll() is None, os.read(read_end, PIPE_CAPACITY).decode()
        assert time.monotonic() < deadline, "the rotation made no progress"
        time.sleep(0.05)


def drain(read_end: int) -> str:
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    return b"".join(chunks).decode()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
async def test_a_rotation_stopped_mid_way_loses_no_one_and_finishes_when_run_again(
    stop: signal.Signals, tmp_path: Path, database_url: str, engine: AsyncEngine,
    uow_factory: UnitOfWorkFactory, clock: FixedClock,
) -> None:
    await written_with_test_secret(uow_factory, clock)
    phones = await seed_members(engine, 2_000)

    process, read_end = start_rotation_into_a_small_pipe(tmp_path, database_url)
    try:
        wait_until_the_pipe_is_full(process, read_end)
        stopped_at = await rotated_share(engine, phones)  # while it stands still, mid-way
        assert 0 < stopped_at < len(phones)
        # It began the rotation: the new key is recorded beside the old one, so the old key alone
        # can no longer start a process that would miss members written with the new one.
        assert await recorded(engine) == {key_fingerprint(TEST_SECRET), key_fingerprint(NEW_SECRET)}
        process.send_signal(stop)
        if stop == signal.SIGKILL:
            process.wait(timeout=30)
        output = drain(read_end)  # a Ctrl-C stops it at its next step, once it can write again
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if stop == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130, output
        assert output.endswith("Interrupted: run `loyalty secret rotate` again to finish.\n"), output
    assert "values read (members.phone_encrypted)" in output
    assert stopped_at <= await rotated_share(engine, phones) < len(phones)

    finished = loyalty(tmp_path, database_url, "secret", "rotate", secret=NEW_SECRET, OLD_SECRET_KEYS=TEST_SECRET)
    assert finished.returncode == 0, finished.stderr
    assert await rotated_share(engine, phones) == len(phones)
    assert await recorded(engine) == {key_fingerprint(NEW_SECRET)}
    assert "re-encrypted with SECRET_KEY" in finished.stdout and "OLD_SECRET_KEYS can be removed" in finished.stdout

    if stop != signal.SIGKILL:
        return
    # The old key may leave now; alone, it no longer opens the database.
    assert loyalty(tmp_path, database_url, "apikey", "list", secret=NEW_SECRET).returncode == 0
    old_only = loyalty(tmp_path, database_url, "apikey", "list", secret=TEST_SECRET)
    assert old_only.returncode == 2 and old_only.stderr.endswith(MISMATCH)
