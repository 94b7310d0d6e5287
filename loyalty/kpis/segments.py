"""Which stored days carry RFM segment sizes, and scoring a day's segments when a dashboard
needs them.

Scoring every buyer of the last year is most of the cost of building a day, so the roll-up job
scores only:
- the last day it builds (yesterday): today's dashboard shows last night's segments;
- the days the period presets read: the eve of each preset period (7, 30, 90 and 365 days,
  ending today or yesterday) and the eve of the period before it.
Every other stored day is stored without segments. A dashboard asked for another period scores
the day it needs once and stores it with the day's roll-up, so the next view reads it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from db.uow import UnitOfWork
from loyalty.config import Settings
from loyalty.kpis.days import SEGMENT_PREFIX, segments_at

__all__ = ["PRESET_DAYS", "SEGMENT_PREFIX", "has_segments", "preset_days", "stored_segments"]

PRESET_DAYS = (7, 30, 90, 365)


def preset_days(today: date) -> set[date]:
    """The days whose segments the presets read, besides yesterday (see the module)."""
    days: set[date] = set()
    for last in (today, today - timedelta(days=1)):
        for length in PRESET_DAYS:
            days.add(last - timedelta(days=length))  # the eve of the period
            days.add(last - timedelta(days=2 * length))  # the eve of the period before it
    return days


def has_segments(snapshot: dict[str, int]) -> bool:
    return any(metric.startswith(SEGMENT_PREFIX) for metric in snapshot)


async def stored_segments(uow: UnitOfWork, settings: Settings, day: date, *, now: datetime) -> dict[str, int]:
    """The segments of a stored day, scored and stored first if the day was stored without them.
    Commits what it stores."""
    stored = await uow.kpis.snapshots_with_prefix(day, SEGMENT_PREFIX)
    if stored:
        return stored
    scored = await segments_at(uow, settings, day, now=now)
    await uow.kpis.add_snapshots(day, scored)
    await uow.commit()
    return scored
