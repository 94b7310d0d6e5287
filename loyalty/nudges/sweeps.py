"""The sweeps that find who is owed a nudge, run by the scheduler every NUDGE_SWEEP_MINUTES.

Each kind is one set-based statement (db/repositories/nudges.py) that writes a pending
`notifications` row per nudge due, keyed by its natural key (loyalty.nudges.kinds.dedupe_key):

| kind            | subject                               | period              | stale after                      |
| --------------- | ------------------------------------- | ------------------- | -------------------------------- |
| points_expiring | last valid local day of the lots      | lead, "30d" / "7d"  | expiry minus the next lead       |
| coupon_expiring | coupon id                             | COUPON_WARNING_DAYS | end of its last valid day        |
| birthday        | the year celebrated                   | ""                  | end of the day after             |
| anniversary     | the year celebrated                   | ""                  | end of the day after             |
| tier_at_risk    | tier code                             | local date marked   | marked + TIER_GRACE_DAYS         |
| win_back        | local date of the last purchase       | ""                  | now + 14 days                    |
| near_upgrade    | the next tier's code                  | month, "2026-11"    | now + 3 days                     |

e.g. `points_expiring:42:2026-12-31:7d`: the 7-day warning about the points of member 42
whose last day is 31 December. Dates are read in the program's time zone (TIMEZONE).

Why this is exactly-once and safe to run late:
- A sweep only chooses; the unique `dedupe_key` makes a second sweep, a restart or a second
  process owe nothing already owed. A crash before the commit writes nothing and the next sweep
  owes it again; after the commit the row waits in the outbox until the bot process sends it.
- After downtime a sweep owes only what is still due now (the nearest expiry warning, today's
  or yesterday's greetings, risks whose grace has not run out), never a backlog; `stale_after`
  lets the sender drop a row whose moment passed while it waited.
- Members without a chat, who blocked the bot, or who muted the kind's topic are owed nothing.

Concurrency: each kind runs in its own transactions under the sweep lock, on SQLite span by span
(SPAN_MEMBERS consecutive member ids at a time, see below), on PostgreSQL in one. On PostgreSQL
the lock is an advisory lock: a process that finds it held skips the rest of its sweep and says
so (should another take it between two kinds of a run, the first stops and the other runs every
kind; what was done already owes nothing again). On SQLite every write transaction holds the database's write lock,
so two sweeps' statements never run at once, and the unique key makes the second owe nothing.
Short transactions, not one per kind or for the whole sweep, because on SQLite the write lock a
sweep holds stops every purchase (and `/health`) until it commits: a kind's statement over
100,000 members took about half a second, over a million several seconds. So the longest wait
is one span of one kind (a few tenths of a second), whatever the population: within a process
the waiting purchase gets the connection before the sweep's next span does (a unit of work
hands it over, db/uow.py). Every statement is bounded by its span in the index it reads, so the
spans together cost what one pass did. On PostgreSQL a purchase does not wait for a sweep (it
locks its member FOR NO KEY UPDATE, which the KEY SHARE taken by a nudge's foreign key does not
block), and spans there only cost (a plan and a commit each: a third more on a busy server),
so a kind is one statement.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from time import perf_counter
from zoneinfo import ZoneInfo

from db.repositories.nudges import Anniversary, MemberSpan, MonthDay, NudgeRepository
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.tiers import window_start

log = logging.getLogger(__name__)

# A lapsed member's invitation back has no moment of its own; two weeks unsent, it is dropped.
WIN_BACK_STALE_AFTER = timedelta(days=14)
# "¥200 more to Gold" is worth saying once a member has spent this share of the way there.
NEAR_UPGRADE_SHARE_PCT = 80
NEAR_UPGRADE_STALE_AFTER = timedelta(days=3)
# Members per transaction of a sweep on SQLite: what bounds how long a purchase waits for one
# (see above). At 100,000 members (medians of seven sweeps) spans of 50,000 took 0.77 s against
# 0.74 s for one statement per kind; spans of 25,000 took 0.91 s, and of 10,000 70 % more than
# one statement: each span costs a few milliseconds per kind, and reads a span's members rather
# than an index of the few due.
SPAN_MEMBERS = 50_000


@dataclass(frozen=True)
class SweepReport:
    """What one run owed per kind; `skipped`: another process held the sweep lock, so this run
    stopped there (kinds not in `owed` were left to it, and the kind it stopped in counts what
    its spans owed until then); `failed`: kinds of which a span's statement raised (logged; the
    other spans and kinds went on, and the next run tries again)."""

    owed: dict[str, int] = field(default_factory=dict)
    skipped: bool = False
    failed: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)  # per kind run, lock wait included

    @property
    def total(self) -> int:
        return sum(self.owed.values())

    def __str__(self) -> str:
        counts = ", ".join(f"{kind} {count}" for kind, count in self.owed.items()) or "nothing run"
        notes = (" (skipped: another process is running the sweeps)" if self.skipped else "") + (
            f" (failed: {', '.join(self.failed)})" if self.failed else ""
        )
        return f"{self.total} owed: {counts}{notes} in {sum(self.seconds.values()):.2f} s"


Sweep = Callable[[NudgeRepository, datetime, Settings], Awaitable[int]]


async def run_sweeps(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, *, span_members: int | None = None
) -> SweepReport:
    """Owe every nudge due at the clock's now, kind by kind, one transaction per span of
    `span_members` member ids under the sweep lock (by default SPAN_MEMBERS on SQLite, every
    member at once on PostgreSQL)."""
    now = clock.now()  # one moment for the whole run
    async with uow_factory() as uow:
        spans: list[MemberSpan | None] = [None]  # everyone, in one statement per kind
        if span_members is not None or uow.writes_exclusively:
            spanned = await uow.nudges.member_spans(span_members or SPAN_MEMBERS)
            if len(spanned) > 1 or span_members is not None:  # a bound on everyone only misleads the planner
                spans = [*spanned]
    owed: dict[str, int] = {}
    failed: list[str] = []
    seconds: dict[str, float] = {}
    for kind, sweep in SWEEPS:
        started = perf_counter()
        done = 0  # spans of this kind that owed what was due
        for span in spans:
            try:
                count = await _sweep_span(uow_factory, sweep, span, now, settings)
            except Exception:
                # One span's failure must not keep the others, or the other kinds, from being owed.
                members = f" of members {span.first}-{span.last}" if span else ""
                log.exception("the %s sweep%s failed; the next sweep tries again", kind, members)
                if kind not in failed:
                    failed.append(kind)
                continue
            if count is None:
                log.info("another process is running the sweeps; this one stops")
                if done:
                    seconds[kind] = perf_counter() - started
                return SweepReport(owed, skipped=True, failed=tuple(failed), seconds=seconds)
            owed[kind] = owed.get(kind, 0) + count
            done += 1
        if done or not spans:
            owed.setdefault(kind, 0)
        seconds[kind] = perf_counter() - started
    return SweepReport(owed, failed=tuple(failed), seconds=seconds)


async def _sweep_span(
    uow_factory: UnitOfWorkFactory, sweep: Sweep, span: MemberSpan | None, now: datetime, settings: Settings
) -> int | None:
    """One kind over one span (None: every member), committed; None when another process holds
    the sweep lock."""
    async with uow_factory() as uow:
        if not await uow.nudges.try_lock_sweeps():
            return None
        count = await sweep(uow.nudges.within(span) if span else uow.nudges, now, settings)
        await uow.commit()
        return count


# --- the kinds -----------------------------------------------------------------------------------


async def sweep_points_expiring(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """For each warning lead L (EXPIRY_WARNING_DAYS, largest first) and the next smaller one S
    (0 after the smallest): open lots expiring in (now + S days, now + L days], one nudge per
    member and expiry instant with the points left in them, stale once only S days remain.
    So every lot is in at most one window at a time, and after downtime only the nearest
    warning is owed. Subject: the last valid day (lots expire at local midnight, so the local
    date of the instant before); period: f"{L}d"."""
    owed = 0
    for lead, nearer in warning_leads(settings.expiry_warning_days):
        owed += await nudges.owe_points_expiring(
            now=now,
            after=now + timedelta(days=nearer),
            until=now + timedelta(days=lead),
            lead_days=lead,
            stale_before_expiry=timedelta(days=nearer),
            zone=settings.zone,
        )
    return owed


async def sweep_coupon_expiring(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Issued coupons whose last valid day is today up to COUPON_WARNING_DAYS ahead (program
    zone): one warning per coupon, subject its id, period the warning lead (f"{N}d", so the
    warning is not repeated as the days count down), stale at the end of its last day."""
    zone = settings.zone
    today = local_date(now, zone)
    last_days = {
        today + timedelta(days=n): start_of(today + timedelta(days=n + 1), zone)
        for n in range(settings.coupon_warning_days + 1)
    }
    return await nudges.owe_coupon_expiring(now=now, last_days=last_days, period=f"{settings.coupon_warning_days}d")


async def sweep_birthdays(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Members whose birthday is today or was yesterday (program zone; a 29 February birthday
    is kept on 28 February in other years). Subject: the year celebrated; stale at the end of
    the day after the birthday, so a sweep late by a day still greets, later ones do not."""
    zone = settings.zone
    days = [
        MonthDay(month, day, celebrated.year, start_of(celebrated + timedelta(days=2), zone))
        for celebrated in greeting_days(now, zone)
        for month, day in birthdays_on(celebrated)
    ]
    return await nudges.owe_birthdays(now=now, days=days)


async def sweep_anniversaries(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Members who joined N >= 1 years ago today or yesterday (local dates of `created_at`,
    program zone; a 29 February join is kept on 28 February in other years). Subject: the year
    celebrated; payload the years; stale at the end of the day after."""
    first = await nudges.first_joined()
    if first is None:
        return 0
    windows = anniversary_windows(now, settings.zone, first_year=local_date(first, settings.zone).year)
    return await nudges.owe_anniversaries(now=now, windows=windows)


async def sweep_tier_at_risk(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Members the daily tier review marked at risk (`tier_at_risk_since`) whose grace has not
    run out. Subject: the tier's code; period: the local date they were marked, so a member at
    risk again later is told again; stale when the grace ends (the step down happens then)."""
    grace = timedelta(days=settings.tier_grace_days)
    return await nudges.owe_tier_at_risk(now=now, since_after=now - grace, grace=grace, zone=settings.zone)


async def sweep_win_back(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Members who bought at least once, last more than WIN_BACK_DAYS ago. Subject: the local
    date of that last purchase, so they are asked back once per lapse; a purchase and a new
    lapse ask again. Stale two weeks after it was owed.

    A lapse is owed while it is fresh: the last purchase at most two weeks (the staleness)
    before the WIN_BACK_DAYS mark. Members who lapsed long before (the day the program starts
    sending, or after a longer downtime) are not all asked back at once: their moment passed
    like any stale nudge's."""
    lapsed_before = now - timedelta(days=settings.win_back_days)
    return await nudges.owe_win_back(
        now=now,
        lapsed_after=lapsed_before - WIN_BACK_STALE_AFTER,
        lapsed_before=lapsed_before,
        stale_after=now + WIN_BACK_STALE_AFTER,
        zone=settings.zone,
    )


async def sweep_near_upgrade(nudges: NudgeRepository, now: datetime, settings: Settings) -> int:
    """Members within reach of the next tier: net spend over the tier window at least
    NEAR_UPGRADE_SHARE of its minimum. Once a month per tier; stale after three days (the
    message is rebuilt when it goes, and says nothing once the member got there)."""
    return await nudges.owe_near_upgrade(
        now=now,
        window_start=window_start(now, settings.tier_window_months),
        share_pct=NEAR_UPGRADE_SHARE_PCT,
        period=now.astimezone(settings.zone).strftime("%Y-%m"),
        stale_after=now + NEAR_UPGRADE_STALE_AFTER,
    )


SWEEPS: tuple[tuple[str, Sweep], ...] = (
    ("points_expiring", sweep_points_expiring),
    ("coupon_expiring", sweep_coupon_expiring),
    ("birthday", sweep_birthdays),
    ("anniversary", sweep_anniversaries),
    ("tier_at_risk", sweep_tier_at_risk),
    ("win_back", sweep_win_back),
    ("near_upgrade", sweep_near_upgrade),
)


# --- calendar rules ------------------------------------------------------------------------------


def warning_leads(days: list[int]) -> list[tuple[int, int]]:
    """(lead, next smaller lead or 0), largest first: [30, 7] -> [(30, 7), (7, 0)]."""
    ordered = sorted(days, reverse=True)
    return list(zip(ordered, [*ordered[1:], 0], strict=True))


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def start_of(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in `zone`, in UTC (where a DST jump skips midnight, fold=0
    resolves it to the instant of the jump, still the first instant of the day)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)


def greeting_days(now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """Today and yesterday: the days whose birthdays and anniversaries are still greeted."""
    today = local_date(now, zone)
    return today, today - timedelta(days=1)


def birthdays_on(day: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays celebrated on `day`: its own, and 29 February's on
    28 February of a year without one."""
    dates = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        dates.append((2, 29))
    return dates


def anniversary_windows(now: datetime, zone: ZoneInfo, *, first_year: int) -> list[Anniversary]:
    """The join instants whose anniversary is today or yesterday, as one [start, end) window
    per local day of joining and year (never the year celebrated itself: N >= 1)."""
    windows = []
    for celebrated in greeting_days(now, zone):
        stale_after = start_of(celebrated + timedelta(days=2), zone)
        for year in range(first_year, celebrated.year):
            for month, day in birthdays_on(celebrated):
                if (month, day) == (2, 29) and not calendar.isleap(year):
                    continue
                joined = date(year, month, day)
                windows.append(
                    Anniversary(
                        start=start_of(joined, zone),
                        end=start_of(joined + timedelta(days=1), zone),
                        year=celebrated.year,
                        years=celebrated.year - year,
                        stale_after=stale_after,
                    )
                )
    return windows
