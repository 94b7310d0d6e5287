"""The daily roll-up job: each past local day's numbers (loyalty/kpis/days.py) stored once, so a
dashboard over a year reads 365 small rows instead of a year of purchases.

Which days it builds, each run:
- every day since the first data (a member, a purchase, a ledger movement, an anonymous sale)
  up to yesterday that has no `kpi_days` row: a scheduler that was down for a week builds the
  week when it comes back;
- the last PURCHASE_BACKDATE_DAYS + 1 days up to yesterday, always: a till may post a sale that
  late (and an anonymous day's total), so those days may still change;
- with `since`, every day from it (the CLI's `loyalty kpis rebuild --since`).
Today is never stored: the dashboard computes it live with the same function.

The unions of each month's buyers and joined members are stored too (loyalty/kpis/months.py).

RFM segments are scored only for the last day built and the days the period presets read
(loyalty/kpis/segments.py): a two-year backfill scores a few days, not seven hundred.

Each day is built and stored in its own transaction, so a long rebuild holds no lock for long
and a crash loses at most the day in progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.kpis.bitmaps import serialize
from loyalty.kpis.days import DayValues, build_day, local_day, segments_at
from loyalty.kpis.months import store_months
from loyalty.kpis.segments import SEGMENT_PREFIX, preset_days

log = logging.getLogger(__name__)

Progress = Callable[[date, int, int], None]  # (day just built, built so far, to build)


async def days_to_build(uow: UnitOfWork, settings: Settings, *, today: date, since: date | None = None) -> list[date]:
    """The past days a run builds, oldest first (see the module)."""
    yesterday = today - timedelta(days=1)
    firsts: list[date] = []
    first_activity = await uow.kpis.first_activity()
    if first_activity is not None:
        firsts.append(local_day(first_activity, settings.zone))
    first_anonymous = await uow.kpis.first_anonymous_day()
    if first_anonymous is not None:
        firsts.append(first_anonymous)
    if not firsts:
        return []
    first = min(firsts)
    if first > yesterday:
        return []
    built = await uow.kpis.built_days(first, yesterday)
    recent = yesterday - timedelta(days=settings.purchase_backdate_days)
    forced = since if since is not None else recent
    forced = min(forced, recent)
    days = []
    day = first
    while day <= yesterday:
        if day not in built or day >= forced:
            days.append(day)
        day += timedelta(days=1)
    return days


async def store(uow: UnitOfWork, values: DayValues, *, built_at: datetime) -> None:
    """Replace the stored roll-up of `values.day` with these values. No commit."""
    await uow.kpis.store_day(
        values.day,
        built_at=built_at,
        daily=[(scope, metric, value) for (scope, metric), value in values.daily.items()],
        snapshots=list(values.snapshots.items()),
        bitmaps=[(scope, name, serialize(members)) for (scope, name), members in values.bitmaps.items()],
    )


async def build_rollups(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    settings: Settings,
    *,
    since: date | None = None,
    progress: Progress | None = None,
) -> int:
    """Build and store the days due (see the module); returns how many were built. Commits
    once per day."""
    today = local_day(clock.now(), settings.zone)
    async with uow_factory() as uow:
        days = await days_to_build(uow, settings, today=today, since=since)
    yesterday = today - timedelta(days=1)
    presets = preset_days(today)
    before: DayValues | None = None
    for done, day in enumerate(days, start=1):
        async with uow_factory() as uow:
            now = clock.now()
            if before is None or before.day != day - timedelta(days=1):
                before = None
                stored = await uow.kpis.snapshots([day - timedelta(days=1)])
                day_before = {metric: value for _, metric, value in stored} if stored else None
            values = await build_day(
                uow, settings, day, now=now, day_before=before.snapshots if before is not None else day_before,
                segments=day == yesterday or day in presets,
            )
            await store(uow, values, built_at=now)
            await uow.commit()
        before = values
        if progress is not None:
            progress(day, done, len(days))
    async with uow_factory() as uow:
        await store_months(uow, days, today=today)
        await uow.commit()
    await _score_presets(uow_factory, clock, settings, sorted(presets - set(days)))
    if days:
        log.info("kpi roll-ups: %d days built, %s to %s", len(days), days[0], days[-1])
    return len(days)


async def _score_presets(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, days: list[date]) -> None:
    """Score the preset days stored earlier without segments (the presets move a day each night)."""
    for day in days:
        async with uow_factory() as uow:
            if not await uow.kpis.built_days(day, day):
                continue
            if await uow.kpis.snapshots_with_prefix(day, SEGMENT_PREFIX):
                continue
            await uow.kpis.add_snapshots(day, await segments_at(uow, settings, day, now=clock.now()))
            await uow.commit()
