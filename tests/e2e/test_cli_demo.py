"""`loyalty demo` as a newcomer runs it: a real process on a new SQLite file, then the same
command again, which must refuse and leave the data as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_cli import loyalty

TABLES = ("members", "stores", "rewards", "coupon_templates", "earning_rules", "purchases", "ledger_entries")


def table_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_demo_fills_a_new_database_once_and_refuses_the_second_time(tmp_path: Path) -> None:
    first = loyalty(tmp_path, "demo", "--members", "3", "--seed", "5", timeout=300)
    assert first.returncode == 0, first.stderr
    assert "3 members" in first.stdout and "8 stores, 7 rewards, 5 coupon templates" in first.stdout
    assert "`:contact +8617000000000`" in first.stdout
    # Not a terminal: a line of progress instead of a bar.
    assert "demo: 6 of 6 steps of the members' history written" in first.stderr
    assert "/api/v1/campaigns/1/report" in first.stdout
    database = tmp_path / "loyalty.sqlite3"
    written = table_counts(database)
    assert written["members"] == 3 and written["stores"] == 8 and written["purchases"] > 3

    second = loyalty(tmp_path, "demo", "--members", "3", timeout=120)
    assert second.returncode == 1
    assert second.stderr.startswith("this database already holds a program (3 members, 8 stores, 7 rewards"), second.stderr
    assert "nothing was written" in second.stderr and "DATABASE_URL=" in second.stderr
    assert "Traceback" not in second.stderr
    assert table_counts(database) == written


def test_help_lists_the_demo_and_says_it_needs_an_empty_database(tmp_path: Path) -> None:
    listed = loyalty(tmp_path, "--help")
    assert listed.returncode == 0 and "demo" in listed.stdout
    explained = loyalty(tmp_path, "demo", "--help", COLUMNS="200")
    assert explained.returncode == 0
    assert "refuses a database that already holds members" in explained.stdout
    assert not (tmp_path / "loyalty.sqlite3").exists(), "help opens no database"
