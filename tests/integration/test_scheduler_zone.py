"""Scheduled jobs run in the program's TIMEZONE whatever the host's zone: the scheduler is built
in a process of its own with the host zone set through TZ, and every job's trigger is asked
when it would fire next after a fixed instant (no waiting on the wall clock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in the child: builds the scheduler exactly as `loyalty run` and `loyalty scheduler` do
# and prints, for every job, its trigger's zone and, for cron jobs, the next fire time after
# the instant given.
CHILD = """
import json, sys
from datetime import datetime
from apscheduler.triggers.cron import CronTrigger
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from entrypoints.scheduler import build_scheduler

settings = Settings(_env_file=None, environment="test", secret_key="k" * 48, bot_token=None,
                    database_url="sqlite+aiosqlite:///unused.sqlite3")
after = datetime.fromisoformat(sys.argv[1])
factory = UnitOfWorkFactory(create_session_factory(create_engine(settings.database_url)), FieldCipher("k" * 48))
jobs = build_scheduler(settings, factory, FixedClock(after)).get_jobs()

def next_run(trigger):
    return trigger.get_next_fire_time(None, after).isoformat() if isinstance(trigger, CronTrigger) else None

print(json.dumps([{"id": job.id, "zone": str(job.trigger.timezone), "next": next_run(job.trigger)} for job in jobs]))
"""


def scheduled(program_zone: str, host_zone: str, after: datetime) -> list[dict[str, str | None]]:
    env = {**os.environ, "TZ": host_zone, "TIMEZONE": program_zone, "PYTHONPATH": str(REPO)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, after.isoformat()], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("program_zone", "host_zone", "after", "review_at"),
    [
        # The issue: Shanghai's 03:00 is 19:00 UTC the day before, never 03:00 UTC.
        ("Asia/Shanghai", "UTC", datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("UTC")),
         datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
        ("Asia/Shanghai", "America/New_York", datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("UTC")),
         datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
        # A program zone with summer time, on a host without it: the night the clocks go forward
        # in London (01:00 UTC), 03:00 there is already BST, i.e. 02:00 UTC.
        ("Europe/London", "Asia/Shanghai", datetime(2027, 3, 27, 12, 0, tzinfo=ZoneInfo("UTC")),
         datetime(2027, 3, 28, 3, 0, tzinfo=ZoneInfo("Europe/London"))),
    ],
)
def test_every_job_runs_in_the_program_zone_whatever_the_host_zone(
    program_zone: str, host_zone: str, after: datetime, review_at: datetime
) -> None:
    jobs = scheduled(program_zone, host_zone, after)
    assert {job["id"] for job in jobs} >= {"expire_points", "review_tiers", "sweep_nudges", "start_campaigns", "kpi_rollups"}
    assert {job["id"]: job["zone"] for job in jobs} == {job["id"]: program_zone for job in jobs}
    cron = {job["id"]: datetime.fromisoformat(str(job["next"])) for job in jobs if job["next"] is not None}
    # The roll-ups of the day that ended: 00:10 there, the night of the review.
    assert cron == {"review_tiers": review_at, "kpi_rollups": review_at.replace(hour=0, minute=10)}
    assert cron["review_tiers"].astimezone(ZoneInfo(program_zone)).hour == 3
