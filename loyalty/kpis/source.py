"""Where a dashboard reads a day's numbers from: the stored roll-up of a built past day, or the
same numbers built live from the raw tables (today, and a past day the job has not built yet:
right, only slower). Days after today have nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pyroaring import BitMap

from db.uow import UnitOfWork
from loyalty.config import Settings
from loyalty.kpis.bitmaps import deserialize
from loyalty.kpis.days import ALL_STORES, DayValues, build_day, local_day


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


class DaySource:
    def __init__(self, uow: UnitOfWork, settings: Settings, *, now: datetime) -> None:
        self._uow = uow
        self._settings = settings
        self._now = now
        self.today = local_day(now, settings.zone)
        self._live: dict[date, DayValues] = {}
        self._first: date | None = None

    async def first_day(self) -> date:
        """The first day with anything to count: days before it are empty, not worth building.
        The roll-up job builds from the first data on, and nothing is written earlier later than
        the backdating window it rebuilds, so its first day is that day; until it has run, the
        raw tables say."""
        if self._first is None:
            first = await self._uow.kpis.first_built_day()
            if first is None:
                firsts = [await self._uow.kpis.first_anonymous_day()]
                activity = await self._uow.kpis.first_activity()
                if activity is not None:
                    firsts.append(local_day(activity, self._settings.zone))
                known = [day for day in firsts if day is not None]
                first = min(known) if known else self.today
            self._first = min(first, self.today)
        return self._first

    async def _split(self, first: date, last: date) -> tuple[list[date], list[date]]:
        """The days of [first, last] up to today: (stored, to build live). Days before the first
        data are in neither: they have nothing."""
        last = min(last, self.today)
        first = max(first, await self.first_day())
        if last < first:
            return [], []
        built = await self._uow.kpis.built_days(first, min(last, self.today - timedelta(days=1)))
        days = days_between(first, last)
        return [day for day in days if day in built], [day for day in days if day not in built]

    async def live(self, day: date) -> DayValues:
        if day not in self._live:
            yesterday = day - timedelta(days=1)
            stored = await self._uow.kpis.snapshots([yesterday]) if await self._uow.kpis.built_days(yesterday, yesterday) else []
            day_before = {metric: value for _, metric, value in stored} if stored else None
            self._live[day] = await build_day(
                self._uow, self._settings, day, now=self._now, day_before=day_before,
                segments_of_day_before=day == self.today,
            )
        return self._live[day]

    async def daily(
        self, first: date, last: date, scope: int, metrics: Sequence[str] | None = None
    ) -> dict[date, dict[tuple[int, str], int]]:
        """Additive numbers per day, of `scope` and of every store together (only `metrics`,
        if given)."""
        stored, live = await self._split(first, last)
        scopes = sorted({ALL_STORES, scope})
        found: dict[date, dict[tuple[int, str], int]] = {day: {} for day in stored}
        if stored:
            for day, row_scope, metric, value in await self._uow.kpis.daily(stored[0], stored[-1], scopes, metrics):
                if day in found:
                    found[day][(row_scope, metric)] = value
        for day in live:
            values = await self.live(day)
            found[day] = {
                key: value for key, value in values.daily.items()
                if key[0] in scopes and (metrics is None or key[1] in metrics)
            }
        return found

    async def snapshots(self, days: list[date]) -> dict[date, dict[str, int]]:
        """Snapshots as each of `days` ended (days after today: none)."""
        wanted = sorted({day for day in days if day <= self.today})
        if not wanted:
            return {}
        stored, live = await self._split(wanted[0], wanted[-1])
        chosen = set(wanted)
        stored_wanted = [day for day in stored if day in chosen]
        found: dict[date, dict[str, int]] = {day: {} for day in stored_wanted}
        for chunk in range(0, len(stored_wanted), 500):
            for day, metric, value in await self._uow.kpis.snapshots(stored_wanted[chunk : chunk + 500]):
                found[day][metric] = value
        for day in live:
            if day in chosen:
                found[day] = dict((await self.live(day)).snapshots)
        return found

    async def bitmaps(self, first: date, last: date, scope: int, name: str) -> dict[date, BitMap]:
        stored, live = await self._split(first, last)
        found: dict[date, BitMap] = {day: BitMap() for day in stored}
        if stored:
            for day, _, _, data in await self._uow.kpis.bitmaps(stored[0], stored[-1], [scope], [name]):
                if day in found:
                    found[day] = deserialize(data)
        for day in live:
            found[day] = (await self.live(day)).bitmap(scope, name)
        return found
