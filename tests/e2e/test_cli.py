"""The `loyalty` command as an operator runs it: real processes, a real SQLite file, real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

LOYALTY = shutil.which("loyalty") or str(Path(sys.executable).with_name("loyalty"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BOT_", "DATABASE_", "SECRET_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'loyalty.sqlite3'}",
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loyalty(workdir: Path, *args: str, stdin: str | None = None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOYALTY, *args], cwd=workdir, env=env_for(workdir, **env), input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def test_help_explains_every_command(workdir: Path) -> None:
    result = loyalty(workdir, "--help")
    assert result.returncode == 0
    for command in ("run", "api", "scheduler", "chat", "migrate", "apikey", "secret", "staff", "campaigns"):
        assert command in result.stdout
    sub = loyalty(workdir, "apikey", "--help")
    assert "create" in sub.stdout and "revoke" in sub.stdout
    staff = loyalty(workdir, "staff", "--help")
    assert "add" in staff.stdout and "marketer" in staff.stdout
    campaigns = loyalty(workdir, "campaigns", "--help")
    assert "send" in campaigns.stdout
    scheduler = loyalty(workdir, "scheduler", "--help")
    assert scheduler.returncode == 0 and "the bot process" in scheduler.stdout


def test_piped_chat_signs_up_a_member(workdir: Path) -> None:
    script = "/start\n1\n:contact +8613800138000\n1990-05-17\nShanghai\n/card\n"
    result = loyalty(workdir, "chat", "--no-api", stdin=script, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Welcome to Loyalty Club" in out
    assert "[1] ✅ I agree" in out
    assert "Member number:" in out and "[photo:" in out
    # Replies come in the order the bot sent them: the city question before the welcome.
    assert out.index("Which city") < out.index("you're a member now")
    # The first run created a development SECRET_KEY so the phone could be encrypted.
    assert "SECRET_KEY=" in (workdir / ".env").read_text()
    assert (workdir / ".env").stat().st_mode & 0o077 == 0


def test_apikey_lifecycle_against_the_running_api(workdir: Path) -> None:
    port = free_port()
    created = loyalty(workdir, "apikey", "create", "till-1")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("lk_") and "cannot be shown again" in created.stderr
    duplicate = loyalty(workdir, "apikey", "create", "till-1")
    assert duplicate.returncode == 1 and "exists" in duplicate.stderr
    assert key not in (workdir / "loyalty.sqlite3").read_bytes().decode("latin-1")

    server = subprocess.Popen(
        [LOYALTY, "run"], cwd=workdir, env=env_for(workdir, API_PORT=str(port)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "API did not come up"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {key}"}
        enrolled = httpx.post(f"{base}/api/v1/members", json={"phone": "13800138000", "consent": True}, headers=auth)
        assert enrolled.status_code == 201
        number = enrolled.json()["member_number"]
        assert httpx.get(f"{base}/api/v1/members/{number}", headers=auth).status_code == 200

        listed = loyalty(workdir, "apikey", "list")
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.splitlines()
        assert line.startswith("till-1\t") and "\tactive\ttill\tno expiry\tlast used 20" in line, line

        revoked = loyalty(workdir, "apikey", "revoke", "till-1")
        assert revoked.returncode == 0
        assert httpx.get(f"{base}/api/v1/members/{number}", headers=auth).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "BOT_TOKEN is not set: the bot is off" in output
    assert "shutting down" in output


def test_apikey_scopes_and_expiry(workdir: Path) -> None:
    import sqlite3

    till = loyalty(workdir, "apikey", "create", "till-1")
    assert till.returncode == 0 and "created for till." in till.stderr, till.stderr
    office = loyalty(workdir, "apikey", "create", "office", "--scope", "admin,marketing", "--expires", "90d")
    assert office.returncode == 0 and "created for marketing + admin, until 20" in office.stderr, office.stderr
    refused = loyalty(workdir, "apikey", "create", "bad", "--scope", "till", "--scope", "root")
    assert refused.returncode == 1 and "unknown scope 'root': choose from till, marketing, admin" in refused.stderr
    # A key made before keys had scopes, as migration 0009 leaves it.
    assert loyalty(workdir, "apikey", "create", "legacy").returncode == 0
    with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
        db.execute("UPDATE api_keys SET scopes = NULL WHERE name = 'legacy'")

    listing = {line.split("\t")[0]: line.split("\t") for line in loyalty(workdir, "apikey", "list").stdout.splitlines()}
    assert set(listing) == {"till-1", "office", "legacy"}
    assert listing["till-1"][2:6] == ["active", "till", "no expiry", "never used"]
    assert listing["office"][3] == "marketing + admin" and listing["office"][4].startswith("expires 20")
    assert listing["legacy"][3] == "till + marketing + admin (made before scopes: narrow it with `loyalty apikey scope`)"

    narrowed = loyalty(workdir, "apikey", "scope", "legacy", "--scope", "till")
    assert narrowed.returncode == 0 and "may now call till" in narrowed.stderr, narrowed.stderr
    assert loyalty(workdir, "apikey", "list").stdout.count("made before scopes") == 0
    with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
        assert db.execute("SELECT detail FROM audit_events WHERE action = 'apikey.scope'").fetchall() == [
            ("legacy: all (made before scopes) -> till",)
        ]


def test_production_refuses_a_missing_secret(workdir: Path) -> None:
    result = loyalty(workdir, "run", ENVIRONMENT="production")
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: SECRET_KEY is not set")
    assert not (workdir / ".env").exists()


def test_migrate_is_idempotent(workdir: Path) -> None:
    first = loyalty(workdir, "migrate")
    second = loyalty(workdir, "migrate")
    assert first.returncode == second.returncode == 0
    assert "migrated from empty" in first.stderr
    assert "schema is current" in second.stderr


def test_stores_import_is_all_or_nothing_with_a_summary(workdir: Path) -> None:
    import sqlite3

    assert loyalty(workdir, "migrate").returncode == 0
    header = "code,name,city,timezone,address,latitude,longitude,hours\n"
    good = header + 'S1,One,Shanghai,,1 Rd,31.23,121.47,"{""mon"": [[""08:00"", ""22:00""]]}"\nS2,Two,,,,,,\n'
    (workdir / "bad.csv").write_text(good + "S3,Three,,,,91,0,\n", encoding="utf-8")
    (workdir / "good.csv").write_text(good, encoding="utf-8")

    bad = loyalty(workdir, "stores", "import", "bad.csv")
    assert bad.returncode == 1
    assert "row 4, latitude: latitude must be between -90 and 90" in bad.stderr
    assert "1 bad row; nothing was imported" in bad.stderr

    def stores() -> list[tuple[str, float | None]]:
        with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
            return db.execute("SELECT code, latitude FROM stores ORDER BY code").fetchall()

    assert stores() == []
    done = loyalty(workdir, "stores", "import", "good.csv")
    assert done.returncode == 0, done.stderr
    assert "2 stores imported: 2 created, 0 updated." in done.stdout
    assert stores() == [("S1", 31.23), ("S2", None)]
    with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
        assert db.execute("SELECT actor, detail FROM audit_events WHERE action = 'store.import'").fetchall() == [
            ("cli", "2 created, 0 updated")
        ]


def test_scheduler_alone_sweeps_nudges_and_stops_cleanly(workdir: Path) -> None:
    import sqlite3
    import threading
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert loyalty(workdir, "migrate").returncode == 0
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    stamp = "2020-01-01 00:00:00.000000"
    with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
        # Born today: the sweep reads the month and day (the full date is only kept encrypted).
        db.execute(
            "INSERT INTO members (member_number, telegram_id, birthday_month, birthday_day, locale, enrolled_via,"
            " consent_version, consented_at, points_balance, tier_id, tier_since, created_at, updated_at)"
            " VALUES ('1000000001', 777, ?, ?, 'en', 'chat', 'test', ?, 0,"
            " (SELECT id FROM tiers WHERE rank = 0), ?, ?, ?)",
            (today.month, today.day, stamp, stamp, stamp, stamp),
        )

    process = subprocess.Popen(
        [LOYALTY, "scheduler"], cwd=workdir, env=env_for(workdir),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    changed = threading.Condition()

    def read() -> None:
        for line in iter(process.stdout.readline, ""):  # type: ignore[union-attr]
            with changed:
                lines.append(line)
                changed.notify_all()
        with changed:  # the output ended: the process stopped
            lines.append("")
            changed.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with changed:
            # Woken by every line; the timeout is a hang guard only.
            changed.wait_for(lambda: any("nudge sweep:" in line for line in lines) or lines[-1:] == [""], timeout=60)
            assert any("nudge sweep:" in line for line in lines), "no nudge sweep logged:\n" + "".join(lines)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "nudge sweep: 1 owed: points_expiring 0, coupon_expiring 0, birthday 1," in output
    assert "API listening" not in output and "shutting down" in output
    with sqlite3.connect(workdir / "loyalty.sqlite3") as db:
        assert db.execute("SELECT kind, status, dedupe_key FROM notifications").fetchall() == [
            ("birthday", "pending", f"birthday:1:{today.year}:")
        ]


def test_piped_chat_with_two_members_a_staff_one_and_the_card_drawn(workdir: Path) -> None:
    script = (
        "/start\n1\n:contact +8613800138000\n1990-05-17\nShanghai\n/card\n"
        ":user Mei --staff\n/broadcast\n:users\n"
    )
    result = loyalty(workdir, "chat", "--no-api", stdin=script, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The card's QR code is drawn, not just named.
    card = out.splitlines()[out.splitlines().index("> /card") + 1 :]
    assert card[0].startswith("bot: [photo:")
    assert any(set(line.strip()) <= set("█▀▄ ") and "▄" in line for line in card[1:12])
    # Mei is a second Telegram user, made staff through the program's rules: /broadcast opens for her.
    assert "(now chatting as Mei, new member, id " in out and "is staff: owner" in out
    assert "New broadcast" in out
    assert "Alex (id " in out and "Mei (id " in out
    assert "Traceback" not in out + result.stderr
