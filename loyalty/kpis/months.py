"""Per-month unions of the daily member bitmaps (buyers, joined), stored with the roll-ups: the
cohort table reads 24 months of sets, and one row a month is 30 times fewer to fetch and merge
than one a day.

A month's union is stored (at the month's first day, under the bitmap's name + ".month") only
once every day of it up to yesterday is built, and it is computed again from the stored days
whenever the job builds one of its days, so it never differs from the union of its days. A
reader uses it only for a month that ended before today and falls back to the days for a month
without one.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyroaring import BitMap

from db.uow import UnitOfWork
from loyalty.kpis.bitmaps import deserialize, serialize, union
from loyalty.kpis.days import ALL_STORES, BUYERS, JOINED

MONTHLY = (BUYERS, JOINED)


def monthly(name: str) -> str:
    return name + ".month"


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - timedelta(days=1)


async def store_months(uow: UnitOfWork, built: list[date], *, today: date) -> None:
    """Compute again and store the unions of the months of the days just built, and of every
    ended month stored without one (roll-ups built before months were kept). No commit."""
    first_built = await uow.kpis.first_built_day()
    if first_built is None:
        return
    yesterday = today - timedelta(days=1)
    months = {month_start(day) for day in built}
    rows = await uow.kpis.bitmaps(month_start(first_built), yesterday, [ALL_STORES], [monthly(BUYERS)])
    kept = {day for day, _, _, _ in rows}
    month = month_start(first_built)
    while month_end(month) <= yesterday:
        if month not in kept:
            months.add(month)
        month = month_end(month) + timedelta(days=1)
    for month in sorted(months):
        first, last = max(month, first_built), min(month_end(month), yesterday)
        for name in MONTHLY:
            await uow.kpis.delete_bitmap(month, ALL_STORES, monthly(name))
        if last < first or len(await uow.kpis.built_days(first, last)) != (last - first).days + 1:
            continue  # a day of it not built yet: readers use the days
        rows = await uow.kpis.bitmaps(first, last, [ALL_STORES], list(MONTHLY))
        for name in MONTHLY:
            members = union(deserialize(data) for _, _, row_name, data in rows if row_name == name)
            await uow.kpis.add_bitmap(month, ALL_STORES, monthly(name), serialize(members))


async def stored_months(uow: UnitOfWork, months: list[date], name: str, *, today: date) -> dict[date, BitMap]:
    """The stored unions of those of `months` that ended before today and have one."""
    ended = [month for month in months if month_end(month) < today]
    if not ended:
        return {}
    rows = await uow.kpis.bitmaps(ended[0], ended[-1], [ALL_STORES], [monthly(name)])
    return {day: deserialize(data) for day, _, _, data in rows if day in set(ended)}
