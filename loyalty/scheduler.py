"""The APScheduler that runs periodic sweeps (expiry, nudges, broadcasts) inside the process.

Jobs are sweeps over the project's own tables, never one job per member, and the scheduler uses
APScheduler's in-memory job store: what must happen lives in the database, so nothing is lost
when a one-shot job would have been missed during downtime.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.config import Settings

log = logging.getLogger(__name__)


def build_scheduler(settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=settings.zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    return scheduler
