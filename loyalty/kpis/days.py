"""One local day's numbers, built from the raw tables: the one function behind both the stored
roll-ups (past days, loyalty/kpis/rollup.py) and today's live values (loyalty/kpis/dashboard.py).

A day is a local day in the program's TIMEZONE: [its midnight, the next midnight). Each number
is kept per `scope`: a store's id, ONLINE for the online shop (purchases without a store), and
ALL_STORES for everything together. Numbers that are not about a store (members, points,
tiers, segments) are kept under ALL_STORES only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pyroaring import BitMap

from db.uow import UnitOfWork
from loyalty.campaigns.rfm import rfm_counts
from loyalty.config import Settings

ALL_STORES = 0
_INSTANT = timedelta(microseconds=1)  # the last instant of a day is its end less this
ONLINE = -1

# Additive metrics (summed over a period's days).
NEW_MEMBERS = "members.new"
PURCHASES = "purchases"
REVENUE = "revenue"  # member purchases made that day, minor units, before refunds
REFUNDS = "refunds"  # refunds made that day (of purchases in the program's currency)
ANONYMOUS_AMOUNT = "anonymous.amount"
ANONYMOUS_SALES = "anonymous.sales"
ANONYMOUS_REPORTS = "anonymous.reports"  # tills that reported the day: contribution needs one
TIER_UP = "tier.up"
TIER_DOWN = "tier.down"

LOTS_EARNED = "lots.earned"  # points put into lots that day: what breakage is a share of
EXPIRED_FROM = "expired.from."  # + YYYY-MM: points that expired that day, by the local month they were earned

# Snapshots (as the day ended).
MEMBERS_TOTAL = "members.total"
OUTSTANDING = "points.outstanding"
TIER_PREFIX = "tier.rank."  # + rank
SEGMENT_PREFIX = "segment."  # + RFM segment

# Bitmaps.
BUYERS = "buyers"  # members who bought that day (in the scope)
TWICE = "twice"  # members who bought at least twice that day
JOINED = "joined"  # members who enrolled that day (ALL_STORES)


def points_metric(kind: str, credit: bool) -> str:
    """The additive metric of one ledger kind's credits or debits, as a positive number."""
    return f"points.{kind}.{'in' if credit else 'out'}"


@dataclass
class DayValues:
    day: date
    daily: dict[tuple[int, str], int] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)
    bitmaps: dict[tuple[int, str], BitMap] = field(default_factory=dict)

    def value(self, scope: int, metric: str) -> int:
        return self.daily.get((scope, metric), 0)

    def bitmap(self, scope: int, name: str) -> BitMap:
        return self.bitmaps.get((scope, name)) or BitMap()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) in UTC; a day of a clock change is 23 or 25 hours."""
    start = datetime.combine(day, time(0), zone).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(timezone.utc)
    return start, end


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


async def build_day(
    uow: UnitOfWork,
    settings: Settings,
    day: date,
    *,
    now: datetime,
    day_before: Mapping[str, int] | None = None,
    segments_of_day_before: bool = False,
    segments: bool = True,
) -> DayValues:
    """Every number of `day` from the raw tables. Reads only. `now` bounds today's RFM window
    (a segment is measured as of the end of the day, or now if that is sooner).

    `day_before`: the snapshots of the day before, when known (stored, or just built). The points
    outstanding are then those plus the day's movements, instead of a sum over the whole ledger;
    the same number, since the ledger is append-only and a day's movements are read in full.
    Members are counted the same way (the day before's, plus who joined, less who was erased).

    `segments_of_day_before`: take the RFM segment sizes from `day_before` rather than scoring
    every buyer of the last year again: for today, whose dashboard is asked for often, the
    segments are those of the last night's roll-up (a 365-day window moves little in a day).

    `segments`: False leaves the RFM segments out (scoring them is most of a day's cost); a
    roll-up backfill scores only the days a dashboard's presets read (loyalty/kpis/segments.py)."""
    start, end = day_bounds(day, settings.zone)
    values = DayValues(day)
    kpis = uow.kpis

    joined = BitMap(await kpis.joined(start, end))
    values.bitmaps[(ALL_STORES, JOINED)] = joined
    values.daily[(ALL_STORES, NEW_MEMBERS)] = len(joined)
    if day_before is not None and MEMBERS_TOTAL in day_before:
        erased = await kpis.members_erased(start, end)
        values.snapshots[MEMBERS_TOTAL] = day_before[MEMBERS_TOTAL] + len(joined) - erased
    else:
        values.snapshots[MEMBERS_TOTAL] = await kpis.members_at(end)

    buyers: dict[int, BitMap] = defaultdict(BitMap)
    twice: dict[int, BitMap] = defaultdict(BitMap)
    per_member_all: dict[int, int] = defaultdict(int)
    for store_id, member_id, count, amount in await kpis.purchases_by_member(start, end, settings.currency):
        scope = store_id if store_id is not None else ONLINE
        for target in (scope, ALL_STORES):
            _add(values, target, PURCHASES, count)
            _add(values, target, REVENUE, amount)
        buyers[scope].add(member_id)
        buyers[ALL_STORES].add(member_id)
        if count >= 2:
            twice[scope].add(member_id)
        per_member_all[member_id] += count
    # Two purchases at two different stores on one day: twice for all stores together.
    twice[ALL_STORES] |= BitMap(member for member, count in per_member_all.items() if count >= 2)
    for scope, members in buyers.items():
        values.bitmaps[(scope, BUYERS)] = members
    for scope, members in twice.items():
        if members:
            values.bitmaps[(scope, TWICE)] = members

    for store_id, amount in await kpis.refunds_by_store(start, end, settings.currency):
        scope = store_id if store_id is not None else ONLINE
        _add(values, scope, REFUNDS, amount)
        _add(values, ALL_STORES, REFUNDS, amount)

    for store_id, amount, sales in await kpis.anonymous_on(day, settings.currency):
        scope = store_id if store_id is not None else ONLINE
        for target in (scope, ALL_STORES):
            _add(values, target, ANONYMOUS_AMOUNT, amount)
            _add(values, target, ANONYMOUS_SALES, sales)
            _add(values, target, ANONYMOUS_REPORTS, 1)

    moved = 0
    for kind, credit, points in await kpis.ledger_by_kind(start, end):
        _add(values, ALL_STORES, points_metric(kind, credit), abs(points))
        moved += points
    if day_before is not None and OUTSTANDING in day_before:
        values.snapshots[OUTSTANDING] = day_before[OUTSTANDING] + moved
    else:
        values.snapshots[OUTSTANDING] = await kpis.outstanding_at(end)

    values.daily[(ALL_STORES, LOTS_EARNED)] = await kpis.lots_earned(start, end)
    for earned_at, points in await kpis.expired_by_lot(start, end):
        _add(values, ALL_STORES, EXPIRED_FROM + earned_at.astimezone(settings.zone).strftime("%Y-%m"), points)

    up, down = await kpis.tier_moves(start, end)
    values.daily[(ALL_STORES, TIER_UP)] = up
    values.daily[(ALL_STORES, TIER_DOWN)] = down
    for rank, count in (await kpis.ranks_at(end, values.snapshots[MEMBERS_TOTAL])).items():
        values.snapshots[f"{TIER_PREFIX}{rank}"] = count

    known = {key: value for key, value in (day_before or {}).items() if key.startswith(SEGMENT_PREFIX)}
    if segments_of_day_before and known:
        values.snapshots.update(known)
    elif segments:
        values.snapshots.update(await segments_at(uow, settings, day, now=now))
    return values


async def segments_at(uow: UnitOfWork, settings: Settings, day: date, *, now: datetime) -> dict[str, int]:
    """The RFM segment sizes as `day` ended (or now if that is sooner), as snapshot metrics."""
    _, end = day_bounds(day, settings.zone)
    counts = await rfm_counts(uow, now=min(end - _INSTANT, now))
    return {f"{SEGMENT_PREFIX}{segment}": count for segment, count in counts.items()}


def _add(values: DayValues, scope: int, metric: str, amount: int) -> None:
    values.daily[(scope, metric)] = values.daily.get((scope, metric), 0) + amount

