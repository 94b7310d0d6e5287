"""The SQL of the nudge sweeps (loyalty/nudges/sweeps.py holds their rules).

Each `owe_*` method is one set-based `INSERT INTO notifications ... SELECT ...
ON CONFLICT (dedupe_key) DO NOTHING`: the database finds who is due and writes their rows in one
statement, so a sweep costs a few index or table scans whatever the population, and a nudge
already owed (by an earlier sweep, a restart, another process) is skipped by the unique key,
never written twice. The natural key, payload and `stale_after` are built in SQL.

A repository restricted to a span of member ids (`within`) writes only those members' rows:
the sweeps run each kind span by span, one short transaction each (loyalty/nudges/sweeps.py
says why). Every condition that picks members, the grouped subqueries' included, is then also
bounded by the span, so a span costs what its members cost, not a pass over everyone.

What differs between SQLite and PostgreSQL stays here: the upsert, JSON objects, and turning
a timestamp into text (a local date, ISO 8601 in UTC) or moving it. Both produce the same
strings: `dedupe_key` must not depend on the database the program runs on.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Interval,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.engine import on_postgres
from db.models import Coupon, Member, MemberMute, Notification, PointLot, Purchase, Tier, Timestamp

# The key of the PostgreSQL advisory lock the sweeps run under: any fixed bigint no other part
# of the program uses (the ASCII of "nudges!\0").
SWEEP_LOCK_KEY = 0x6E75646765732100

# The SQLite function that reads a stored UTC timestamp as a date in a time zone. SQLite has
# no time zones; Python's zoneinfo gives the same answers as PostgreSQL's AT TIME ZONE.
SQLITE_LOCAL_DATE = "loyalty_local_date"
# SQLAlchemy stores a DateTime in SQLite as "YYYY-MM-DD HH:MM:SS.ffffff": the fraction starts
# at this (1-based) character.
SQLITE_FRACTION_AT = 20

INSERTED = ("member_id", "kind", "dedupe_key", "payload", "status", "attempts", "created_at", "stale_after")


@dataclass(frozen=True)
class Match:
    """A condition on a member row and what a nudge is when it holds (birthdays, anniversaries:
    which day is celebrated decides the key's subject, a payload number and staleness)."""

    condition: ColumnElement[bool]
    subject: str
    number: int
    stale_after: datetime


@dataclass(frozen=True)
class MonthDay:
    """Birthdays on this month and day are celebrated on a day of year `year`."""

    month: int
    day: int
    year: int
    stale_after: datetime


@dataclass(frozen=True)
class MemberSpan:
    """Members with first <= id <= last."""

    first: int
    last: int


@dataclass(frozen=True)
class Anniversary:
    """Members who joined in [start, end) have their `years`-th anniversary in year `year`."""

    start: datetime
    end: datetime
    year: int
    years: int
    stale_after: datetime


class NudgeRepository:
    def __init__(self, session: AsyncSession, span: MemberSpan | None = None) -> None:
        self._session = session
        self._span = span

    def within(self, span: MemberSpan) -> NudgeRepository:
        """The same sweeps, over the members of `span` only."""
        return NudgeRepository(self._session, span)

    async def member_spans(self, size: int) -> list[MemberSpan]:
        """Spans of `size` consecutive ids covering every member, lowest first (none if there
        are no members). Ids are dense, so a span holds about `size` members."""
        if size < 1:
            raise ValueError("a span holds at least one id")
        bounds = (await self._session.execute(select(func.min(Member.id), func.max(Member.id)))).one()
        # MIN and MAX of no rows are NULL, whatever the column's type says.
        first, last = typing.cast("tuple[int | None, int | None]", tuple(bounds))
        if first is None or last is None:
            return []
        return [MemberSpan(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]

    def _in_span(self, member_id: ColumnElement[int] | Any) -> tuple[ColumnElement[bool], ...]:
        """The condition that keeps `member_id` inside this repository's span (none if unbounded)."""
        if self._span is None:
            return ()
        return (member_id.between(self._span.first, self._span.last),)

    @property
    def _postgres(self) -> bool:
        return on_postgres(self._session)

    # --- the lock -----------------------------------------------------------------------------

    async def try_lock_sweeps(self) -> bool:
        """Take the sweep lock for the rest of this transaction, without waiting; False when
        another process holds it.

        PostgreSQL: a transaction-level advisory lock, released by the commit or rollback, so a
        crashed process never leaves it held. SQLite: always True; every write transaction
        already holds the database's only write lock (BEGIN IMMEDIATE), so two sweeps cannot
        interleave, and the unique key makes the second one owe nothing."""
        if not self._postgres:
            return True
        taken = await self._session.scalar(select(func.pg_try_advisory_xact_lock(SWEEP_LOCK_KEY)))
        return bool(taken)

    async def _register_sqlite_functions(self) -> None:
        """Make SQLITE_LOCAL_DATE known to this connection (cheap; repeating it is harmless)."""
        connection = await self._session.connection()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.create_function(  # type: ignore[union-attr]
            SQLITE_LOCAL_DATE, 3, _sqlite_local_date, deterministic=True
        )

    # --- the kinds ------------------------------------------------------------------------------

    async def owe_points_expiring(
        self,
        *,
        now: datetime,
        after: datetime,
        until: datetime,
        lead_days: int,
        stale_before_expiry: timedelta,
        zone: ZoneInfo,
    ) -> int:
        """One nudge per member and expiry instant in (after, until], of the points left in
        those lots. Subject: the lots' last valid local day; period: f"{lead_days}d"."""
        remaining = func.sum(PointLot.remaining)
        subject = self._local_date(PointLot.expires_at, zone, minus_microsecond=True)
        query = (
            select(
                PointLot.member_id,
                *self._common("points_expiring", PointLot.member_id, subject, f"{lead_days}d", now),
                self._json(points=remaining, expires_at=self._iso_utc(PointLot.expires_at), lead_days=lead_days),
                self._shifted(PointLot.expires_at, -stale_before_expiry),
            )
            .join(Member, Member.id == PointLot.member_id)
            .where(
                PointLot.remaining > 0,
                PointLot.expires_at > after,
                PointLot.expires_at <= until,
                *self._in_span(PointLot.member_id),
                *_reachable("points"),
            )
            .group_by(PointLot.member_id, PointLot.expires_at)
        )
        return await self._owe(query)

    async def owe_coupon_expiring(
        self, *, now: datetime, last_days: Mapping[date, datetime], period: str
    ) -> int:
        """Issued coupons whose last valid day is one of `last_days` (day -> the instant it
        ends). Subject: the coupon's id."""
        if not last_days:
            return 0
        stale = case({day: literal(end, Timestamp) for day, end in last_days.items()}, value=Coupon.valid_until)
        query = (
            select(
                Coupon.member_id,
                *self._common("coupon_expiring", Coupon.member_id, cast(Coupon.id, String), period, now),
                self._json(coupon_id=Coupon.id),
                stale,
            )
            .join(Member, Member.id == Coupon.member_id)
            .where(
                Coupon.status == "issued",
                Coupon.valid_until.in_(list(last_days)),
                *self._in_span(Coupon.member_id),
                *_reachable("coupons"),
            )
        )
        return await self._owe(query)

    async def owe_birthdays(self, *, now: datetime, days: Sequence[MonthDay]) -> int:
        """Members whose birthday falls on one of `days`. Subject: the year celebrated."""
        month, day = Member.birthday_month, Member.birthday_day
        matches = [
            Match(and_(month == item.month, day == item.day), str(item.year), item.year, item.stale_after)
            for item in days
        ]
        # The matches' (month, day) pairs are what ix_members_birthday is sought by.
        return await self._owe_matches("birthday", "greetings", "year", matches, now, None)

    async def owe_anniversaries(self, *, now: datetime, windows: Sequence[Anniversary]) -> int:
        """Members who joined inside one of `windows`. Subject: the year celebrated."""
        matches = [
            Match(
                and_(Member.created_at >= item.start, Member.created_at < item.end),
                str(item.year),
                item.years,
                item.stale_after,
            )
            for item in windows
        ]
        return await self._owe_matches("anniversary", "greetings", "years", matches, now, None)

    async def first_joined(self) -> datetime | None:
        """When the earliest member joined: how far back anniversaries can reach."""
        return await self._session.scalar(select(func.min(Member.created_at)))

    async def owe_tier_at_risk(
        self, *, now: datetime, since_after: datetime, grace: timedelta, zone: ZoneInfo
    ) -> int:
        """Members marked at risk after `since_after` (whose grace has not run out). Subject:
        the tier's code; period: the local date they were marked."""
        at_risk_since = Member.tier_at_risk_since
        query = (
            select(
                Member.id,
                *self._common("tier_at_risk", Member.id, Tier.code, self._local_date(at_risk_since, zone), now),
                self._json(tier=Tier.code, at_risk_since=self._iso_utc(at_risk_since)),
                self._shifted(at_risk_since, grace),
            )
            .join(Tier, Tier.id == Member.tier_id)
            .where(at_risk_since > since_after, at_risk_since <= now, *self._in_span(Member.id), *_reachable("tier"))
        )
        return await self._owe(query)

    async def owe_near_upgrade(
        self, *, now: datetime, window_start: datetime, share_pct: int, period: str, stale_after: datetime
    ) -> int:
        """Members whose net spend after `window_start` is at least `share_pct` % of the next
        tier's minimum spend, but short of it. Subject: that tier's code; period: given (the
        month), so a member is told at most once a month about one tier.

        Net spend per member is one grouped pass over the window's purchases (the
        ix_purchases_member_at index); the next tier is the lowest rank above the member's."""
        spend = (
            select(
                Purchase.member_id,
                func.sum(Purchase.amount_minor - Purchase.refunded_minor).label("spend"),
            )
            .where(
                Purchase.purchased_at > window_start, Purchase.purchased_at <= now, *self._in_span(Purchase.member_id)
            )
            .group_by(Purchase.member_id)
            .subquery("window_spend")
        )
        current, target, above = aliased(Tier), aliased(Tier), aliased(Tier)
        next_rank = select(func.min(above.rank)).where(above.rank > current.rank).scalar_subquery()
        query = (
            select(
                Member.id,
                *self._common("near_upgrade", Member.id, target.code, period, now),
                self._json(tier=target.code),
                literal(stale_after, Timestamp),
            )
            .join(spend, spend.c.member_id == Member.id)
            .join(current, current.id == Member.tier_id)
            .join(target, target.rank == next_rank)
            .where(
                target.min_spend_minor > 0,
                spend.c.spend < target.min_spend_minor,
                spend.c.spend * 100 >= target.min_spend_minor * share_pct,
                *self._in_span(Member.id),
                *_reachable("tier"),
            )
        )
        return await self._owe(query)

    async def owe_win_back(
        self, *, now: datetime, lapsed_after: datetime, lapsed_before: datetime, stale_after: datetime, zone: ZoneInfo
    ) -> int:
        """Members whose last purchase fell in [lapsed_after, lapsed_before). Subject: its local
        date.

        Only the purchases of that stretch are read (ix_purchases_purchased_at), each buyer's
        later purchases looked up by ix_purchases_member_at: the cost follows who lapsed
        lately, not every purchase ever made."""
        later = aliased(Purchase)
        bought_since = exists().where(later.member_id == Purchase.member_id, later.purchased_at >= lapsed_before)
        last = (
            select(Purchase.member_id, func.max(Purchase.purchased_at).label("last_at"))
            .where(
                Purchase.purchased_at >= lapsed_after,
                Purchase.purchased_at < lapsed_before,
                ~bought_since,
                *self._in_span(Purchase.member_id),
            )
            .group_by(Purchase.member_id)
            .subquery("last_purchase")
        )
        last_at = last.c.last_at
        query = (
            select(
                Member.id,
                *self._common("win_back", Member.id, self._local_date(last_at, zone), "", now),
                self._json(last_purchase_at=self._iso_utc(last_at)),
                literal(stale_after, Timestamp),
            )
            .join(last, last.c.member_id == Member.id)
            .where(*self._in_span(Member.id), *_reachable("offers"))
        )
        return await self._owe(query)

    # --- building blocks ------------------------------------------------------------------------

    async def _owe_matches(
        self,
        kind: str,
        topic: str,
        payload_name: str,
        matches: Sequence[Match],
        now: datetime,
        extra: ColumnElement[bool] | None,
    ) -> int:
        """Members meeting one of `matches`, each nudge shaped by the first match that holds."""
        if not matches:
            return 0

        def pick(values: Sequence[Any]) -> ColumnElement[Any]:
            return case(*((match.condition, value) for match, value in zip(matches, values, strict=True)))

        subject = pick([literal(match.subject, String) for match in matches])
        number = pick([literal(match.number, Integer) for match in matches])
        stale = pick([literal(match.stale_after, Timestamp) for match in matches])
        conditions = [*self._in_span(Member.id), *_reachable(topic), or_(*(match.condition for match in matches))]
        if extra is not None:
            conditions.insert(0, extra)
        query = select(
            Member.id,
            *self._common(kind, Member.id, subject, "", now),
            self._json(**{payload_name: number}),
            stale,
        ).where(*conditions)
        return await self._owe(query)

    def _common(
        self,
        kind: str,
        member_id: ColumnElement[int] | Any,
        subject: ColumnElement[str] | Any,
        period: ColumnElement[str] | str,
        now: datetime,
    ) -> tuple[ColumnElement[Any], ...]:
        """The kind, natural key and created_at of every row; the key is
        loyalty.nudges.kinds.dedupe_key's `<kind>:<member>:<subject>:<period>`, built in SQL."""
        period_text = literal(period, String) if isinstance(period, str) else period
        key = (
            literal(f"{kind}:", String)
            + cast(member_id, String)
            + literal(":", String)
            + subject
            + literal(":", String)
            + period_text
        )
        return literal(kind, String), key, literal(now, Timestamp)

    async def _owe(self, query: Select[Any]) -> int:
        """INSERT ... SELECT ... ON CONFLICT (dedupe_key) DO NOTHING; how many rows it wrote.

        `query` yields member_id, kind, dedupe_key, created_at, payload, stale_after; status and
        attempts are added here (pending, never tried)."""
        member_id, kind, key, created_at, payload, stale_after = query.selected_columns
        # In member order, each member's row (and, on PostgreSQL, the foreign key check that
        # locks it) is visited once and in sequence rather than at random: at a million
        # members this saves about a fifth of the time of a large sweep.
        query = query.with_only_columns(
            member_id, kind, key, payload, literal("pending", String), literal(0, Integer), created_at, stale_after
        ).order_by(member_id)
        # (SQLite can read `INSERT ... SELECT ... ON CONFLICT` ambiguously when the SELECT has
        # no WHERE; every sweep's has one.)
        if not self._postgres:
            await self._register_sqlite_functions()
        dialect_insert = postgresql.insert if self._postgres else sqlite.insert
        statement = (
            dialect_insert(Notification)
            .from_select(list(INSERTED), query)
            .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
        )
        result = await self._session.execute(statement)
        return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]

    def _json(self, **fields: Any) -> ColumnElement[Any]:
        """A JSON object built in SQL, {name: value, ...}; plain ints and strings are bound."""
        arguments: list[Any] = []
        for name, value in fields.items():
            arguments.append(literal(name, String))
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                arguments.append(value)
            else:
                arguments.append(literal(value, Integer if isinstance(value, int) else String))
        return func.json_build_object(*arguments) if self._postgres else func.json_object(*arguments)

    def _local_date(
        self, column: ColumnElement[datetime] | Any, zone: ZoneInfo, *, minus_microsecond: bool = False
    ) -> ColumnElement[str]:
        """The date (YYYY-MM-DD) of a timestamp read in `zone`; `minus_microsecond`: of the
        instant just before it (the last day of something that ends at local midnight)."""
        if self._postgres:
            moment = column - literal_column("INTERVAL '1 microsecond'", Interval()) if minus_microsecond else column
            return func.to_char(func.timezone(zone.key, moment), "YYYY-MM-DD", type_=String)
        local_date: ColumnElement[str] = getattr(func, SQLITE_LOCAL_DATE)(
            column, zone.key, -1 if minus_microsecond else 0, type_=String
        )
        return local_date

    def _iso_utc(self, column: ColumnElement[datetime] | Any) -> ColumnElement[str]:
        """ISO 8601 in UTC to the second, as Python writes it: 2026-12-31T16:00:00+00:00."""
        if self._postgres:
            return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"', type_=String)
        return func.strftime("%Y-%m-%dT%H:%M:%S+00:00", column, type_=String)

    def _shifted(self, column: ColumnElement[datetime] | Any, delta: timedelta) -> ColumnElement[datetime]:
        """`column + delta` as elapsed time (whole seconds; no calendar or DST arithmetic)."""
        seconds = int(delta.total_seconds())
        if self._postgres:
            return column + literal_column(f"INTERVAL '{seconds} seconds'", Interval())
        # Whole seconds leave the fraction as it is: SQLite moves the seconds, the stored
        # ".ffffff" is copied back, so the result keeps SQLAlchemy's storage format exactly.
        moved = func.strftime("%Y-%m-%d %H:%M:%S", column, f"{seconds:+d} seconds", type_=String)
        return type_coerce(moved + func.substr(column, SQLITE_FRACTION_AT, type_=String), Timestamp)


def _reachable(topic: str) -> tuple[ColumnElement[bool], ...]:
    """Members a nudge of `topic` may be owed to: with a chat, not blocked, topic not muted."""
    muted = exists().where(MemberMute.member_id == Member.id, MemberMute.topic == topic)
    return Member.telegram_id.is_not(None), Member.chat_blocked_at.is_(None), ~muted


def _sqlite_local_date(stored: str | None, zone: str, shift_microseconds: int) -> str | None:
    """SQLite's `loyalty_local_date(timestamp, zone, shift)`: the stored UTC timestamp moved by
    `shift` microseconds, as a date in `zone`."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=timezone.utc)
    return (moment + timedelta(microseconds=shift_microseconds)).astimezone(_zone(zone)).date().isoformat()


@lru_cache(maxsize=8)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)
