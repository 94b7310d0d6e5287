"""The APScheduler that runs periodic sweeps inside the process.

Jobs are sweeps over the project's own tables, never one job per member, and the scheduler uses
APScheduler's in-memory job store: what must happen lives in the database, so nothing is lost
when a run is missed during downtime; the next sweep catches up. Both sweeps are idempotent, so
two processes running them at once waste work but change nothing twice.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from db.uow import UnitOfWorkFactory
from loyalty import ledger, tiers
from loyalty.clock import Clock
from loyalty.config import Settings

log = logging.getLogger(__name__)


def build_scheduler(settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=settings.zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )

    async def expire_points() -> None:
        expired = await ledger.expire_due(uow_factory, clock)
        log.info("expiry sweep: %d points expired", expired)

    async def review_member_tiers() -> None:
        report = await tiers.review_tiers(uow_factory, clock, settings)
        log.info("tier review: %s", report)

    scheduler.add_job(expire_points, IntervalTrigger(hours=1), id="expire_points", name="expire points")
    scheduler.add_job(
        review_member_tiers, CronTrigger(hour=3, minute=0), id="review_tiers", name="review tiers"
    )
    return scheduler
