"""The APScheduler that runs periodic sweeps inside the process.

Jobs are sweeps over the project's own tables, never one job per member, and the scheduler uses
APScheduler's in-memory job store: what must happen lives in the database, so nothing is lost
when a run is missed during downtime; the next sweep catches up. Every sweep is idempotent, so
two processes running them at once waste work but change nothing twice; the nudge sweeps also
take a database lock on PostgreSQL, so only one process runs them at a time
(loyalty/nudges/sweeps.py). Campaigns whose time came are started every minute: a campaign's
start is claimed with a conditional UPDATE, so two schedulers start it once
(loyalty/campaigns/service.py). The dashboard's daily roll-ups are built shortly after local
midnight, and once at start-up, so a scheduler that was down catches up on the days it missed
(loyalty/kpis/rollup.py). Expired console sign-in links and ended console sessions are deleted
every hour (loyalty/console_access.py).

Every trigger runs in the program's TIMEZONE, whatever the host's zone: the daily tier review is
at 03:00 there. A trigger built by hand takes the host's zone unless told otherwise (the
scheduler's own `timezone` only reaches triggers it builds from a name), so each one is given
the zone explicitly.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from db.uow import UnitOfWorkFactory
from loyalty import console_access, ledger, referrals, tiers
from loyalty.campaigns import service as campaigns
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.kpis import build_rollups
from loyalty.nudges import sweeps

log = logging.getLogger(__name__)

# The first nudge sweep runs this soon after start (not at once: the rest of the process comes
# up first), then every NUDGE_SWEEP_MINUTES.
FIRST_NUDGE_SWEEP_AFTER = timedelta(seconds=2)
# The roll-ups of the day that just ended: a few minutes after midnight, so purchases posted at
# 23:59 have landed; and once this long after start-up.
ROLLUP_AT = (0, 10)  # local hour, minute
FIRST_ROLLUP_AFTER = timedelta(seconds=30)


def build_scheduler(settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock) -> AsyncIOScheduler:
    zone = settings.zone
    scheduler = AsyncIOScheduler(
        timezone=zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )

    async def expire_points() -> None:
        expired = await ledger.expire_due(uow_factory, clock)
        log.info("expiry sweep: %d points expired", expired)

    async def review_member_tiers() -> None:
        report = await tiers.review_tiers(uow_factory, clock, settings)
        log.info("tier review: %s", report)

    async def sweep_nudges() -> None:
        report = await sweeps.run_sweeps(uow_factory, clock, settings)
        log.info("nudge sweep: %s", report)

    async def start_campaigns() -> None:
        started = await campaigns.start_due(uow_factory, clock, settings)
        if started:
            log.info("campaigns started: %s", ", ".join(map(str, started)))

    async def build_kpi_rollups() -> None:
        built = await build_rollups(uow_factory, clock, settings)
        log.info("kpi roll-ups: %d days built", built)

    async def delete_ended_console_sessions() -> None:
        async with uow_factory() as uow:
            links, sessions = await console_access.delete_ended(uow, clock, settings)
        if links or sessions:
            log.info("console: %d expired sign-in links and %d ended sessions deleted", links, sessions)

    async def pay_referrals() -> None:
        report = await referrals.pay_due(uow_factory, clock, settings)
        if any(report.values()):
            log.info("referrals: %s", report)

    scheduler.add_job(
        expire_points, IntervalTrigger(hours=1, timezone=zone), id="expire_points", name="expire points"
    )
    scheduler.add_job(
        review_member_tiers, CronTrigger(hour=3, minute=0, timezone=zone), id="review_tiers", name="review tiers"
    )
    scheduler.add_job(
        sweep_nudges,
        IntervalTrigger(minutes=settings.nudge_sweep_minutes, timezone=zone),
        id="sweep_nudges",
        name="sweep nudges",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(zone) + FIRST_NUDGE_SWEEP_AFTER,
    )
    scheduler.add_job(
        start_campaigns, IntervalTrigger(minutes=1, timezone=zone), id="start_campaigns", name="start campaigns",
        next_run_time=datetime.now(zone) + FIRST_NUDGE_SWEEP_AFTER,
    )
    scheduler.add_job(
        build_kpi_rollups,
        CronTrigger(hour=ROLLUP_AT[0], minute=ROLLUP_AT[1], timezone=zone),
        id="kpi_rollups",
        name="build kpi roll-ups",
        next_run_time=datetime.now(zone) + FIRST_ROLLUP_AFTER,
    )
    scheduler.add_job(
        delete_ended_console_sessions,
        IntervalTrigger(hours=1, timezone=zone),
        id="console_sessions",
        name="delete ended console sessions",
    )
    # Referral rewards whose hold has passed: each moved by a conditional UPDATE, so two
    # schedulers pay once (loyalty/referrals.py).
    scheduler.add_job(
        pay_referrals, IntervalTrigger(minutes=10, timezone=zone), id="pay_referrals", name="pay referrals"
    )
    return scheduler
