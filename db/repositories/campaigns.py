"""Campaigns and who they reach: creating, reading and changing campaigns, and choosing their
audiences (loyalty/campaigns).

An audience is a WHERE clause over `members` built from a MemberFilter; the same SQLAlchemy
runs on SQLite (3.25 or later, for window functions) and PostgreSQL. Members are streamed in
partitions (yield_per), never loaded all at once. RFM scores are NTILE(5) window functions over
the members who bought in the scoring window (fixed cut-offs below a crowd size), computed in
the same statement that uses them.

State changes are conditional UPDATEs (`WHERE status IN (...)`): two processes starting,
pausing or finishing one campaign at once get one winner, which the caller learns from the
row count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import dialect_insert, on_postgres
from db.models import (
    Campaign,
    CampaignRecipient,
    Coupon,
    Member,
    MemberMute,
    MemberTag,
    Purchase,
    Tier,
)

# The topic a member mutes to receive no campaigns (/settings).
OFFERS_TOPIC = "offers"
# Rows a multi-row statement carries at most: under every backend's bound-parameter limit
# (SQLite 32,766, PostgreSQL 32,767) with a dozen columns.
ROWS_PER_STATEMENT = 2_000
# Recipient statuses the sender still has to act on.
OPEN_STATUSES = ("pending", "sending")


@dataclass(frozen=True)
class RfmCutoffs:
    """How R, F and M are scored (loyalty/campaigns/rfm.py decides): by quintile once at least
    `quintiles_from` members bought in (since, now], by these fixed cut-offs below that."""

    since: datetime
    quintiles_from: int
    recent_after: tuple[datetime, ...]  # a last purchase after the first scores R 5, the next 4, ...
    frequent_from: tuple[int, ...]  # at least the first count of purchases scores F 5, the next 4, ...


@dataclass(frozen=True)
class MemberFilter:
    """An audience with its codes resolved to ids (loyalty.campaigns.audience builds it). Every
    field narrows the audience; within a list, any value matches."""

    now: datetime
    today: date  # the program's local date: "unused" coupons are those valid until today or later
    rfm: RfmCutoffs
    near_since: datetime  # purchases after this count for "bought at the store"
    tier_ids: tuple[int, ...] = ()
    cities: tuple[str, ...] = ()  # lower case
    near_store_id: int | None = None
    near_store_city: str | None = None  # lower case
    segments: tuple[str, ...] = ()  # RFM segments
    tags: tuple[str, ...] = ()
    last_purchase_before: datetime | None = None
    last_purchase_after: datetime | None = None
    birthday_month: int | None = None
    has_unused_coupon: bool | None = None


@dataclass(frozen=True)
class AudienceRow:
    """What choosing a member's recipient row needs to know about them."""

    member_id: int
    reachable: bool  # has a chat and has not blocked the bot
    opted_out: bool  # muted offers
    timezone: str | None


@dataclass(frozen=True)
class SampleMember:
    member_number: str
    locale: str
    points: int
    tier_names: dict[str, str]
    first_name_encrypted: str | None = None  # decrypted by the caller (MemberRepository.name_of)


@dataclass(frozen=True)
class StatusCount:
    status: str
    reason: str | None  # only for skipped rows: "opted_out" / "unreachable"
    count: int
    deferred: int  # of them held by quiet hours
    recent: int  # of them sent after the moment asked about


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- campaigns ------------------------------------------------------------------------------

    async def add(self, campaign: Campaign) -> Campaign:
        self._session.add(campaign)
        await self._session.flush()
        return campaign

    async def get(self, campaign_id: int) -> Campaign | None:
        return await self._session.get(Campaign, campaign_id, populate_existing=True)

    async def latest(self, *, limit: int) -> Sequence[Campaign]:
        statement = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
        return (await self._session.scalars(statement)).all()

    async def followed(self, *, live: Sequence[str], started_after: datetime) -> Sequence[Campaign]:
        """Campaigns with a progress message in a staff chat that may still change: in one of
        the `live` statuses, or started after `started_after`; oldest first."""
        statement = (
            select(Campaign)
            .where(
                Campaign.progress_message_id.is_not(None),
                or_(Campaign.status.in_(live), Campaign.started_at > started_after),
            )
            .order_by(Campaign.id)
        )
        return (await self._session.scalars(statement)).all()

    async def next_occurrence_start(self, campaign: Campaign) -> datetime | None:
        """When the occurrence after `campaign` in its recurring series started; None when it
        has not (or the campaign does not recur)."""
        if campaign.started_at is None or not campaign.recurrence:
            return None
        series = campaign.parent_id or campaign.id
        statement = select(func.min(Campaign.started_at)).where(
            or_(Campaign.id == series, Campaign.parent_id == series),
            Campaign.started_at > campaign.started_at,
        )
        return await self._session.scalar(statement)

    async def scheduled_before(self, moment: datetime) -> Sequence[Campaign]:
        """Scheduled campaigns with a send time up to `moment`, and every scheduled local-time
        campaign (the caller works out when those are due), oldest first."""
        statement = (
            select(Campaign)
            .where(Campaign.status == "scheduled", or_(Campaign.send_at <= moment, Campaign.send_at.is_(None)))
            .order_by(Campaign.id)
        )
        return (await self._session.scalars(statement)).all()

    async def move(
        self, campaign_id: int, *, from_statuses: Sequence[str], to: str, **values: Any
    ) -> bool:
        """Set the status to `to` (and `values`) only while it is one of `from_statuses`; whether
        this call did it."""
        result = await self._session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status.in_(list(from_statuses)))
            .values(status=to, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def unfinished_starts(self, *, started_before: datetime) -> Sequence[int]:
        """Campaigns whose start claimed them before `started_before` but never recorded its
        audience (the process choosing the recipients stopped half-way), oldest first."""
        statement = (
            select(Campaign.id)
            .where(Campaign.started_at <= started_before, Campaign.audience_size.is_(None))
            .order_by(Campaign.id)
        )
        return (await self._session.scalars(statement)).all()

    async def status_for_start(self, campaign_id: int) -> str | None:
        """The campaign's status, read fresh and held (FOR SHARE on PostgreSQL) until this
        transaction ends, so a cancel waits for the recipients being written, never misses them."""
        statement = select(Campaign.status).where(Campaign.id == campaign_id).with_for_update(read=True)
        return await self._session.scalar(statement)

    async def last_recipient_id(self, campaign_id: int) -> int:
        """The highest member id among the campaign's recipients (0: none yet)."""
        statement = select(func.coalesce(func.max(CampaignRecipient.member_id), 0)).where(
            CampaignRecipient.campaign_id == campaign_id
        )
        return int(await self._session.scalar(statement) or 0)

    async def record_start(self, campaign_id: int) -> int | None:
        """Record the audience chosen (the campaign's recipient rows) once: the size, or None
        when a start had already recorded it."""
        size = select(func.count()).where(CampaignRecipient.campaign_id == campaign_id).scalar_subquery()
        result = await self._session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.audience_size.is_(None))
            .values(audience_size=size)
            .returning(Campaign.audience_size)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def has_open_rows(self, campaign_id: int) -> bool:
        """Whether the sender still has a row of the campaign to act on."""
        statement = select(
            exists().where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status.in_(OPEN_STATUSES))
        )
        return bool(await self._session.scalar(statement))

    async def finish_if_drained(self, campaign_id: int, *, now: datetime) -> bool:
        """sending -> done when no row is left to send, in one statement; whether it did."""
        open_rows = exists().where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status.in_(OPEN_STATUSES)
        )
        result = await self._session.execute(
            update(Campaign)
            # A campaign whose audience is not recorded is still being started: more rows come.
            .where(Campaign.id == campaign_id, Campaign.status == "sending", Campaign.audience_size.is_not(None),
                   ~open_rows)
            .values(status="done", finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    # --- recipients -----------------------------------------------------------------------------

    async def add_recipients(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert recipient rows (dicts of CampaignRecipient's columns) in multi-row batches; a
        member who already has a row in the campaign keeps it (a start resumed, or run twice)."""
        statement = dialect_insert(self._session, CampaignRecipient).on_conflict_do_nothing(
            index_elements=[CampaignRecipient.campaign_id, CampaignRecipient.member_id]
        )
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            await self._session.execute(statement, list(rows[start : start + ROWS_PER_STATEMENT]))

    async def refresh_recipient_statistics(self) -> None:
        """Let PostgreSQL's planner see a campaign's rows, inserted moments before the sender
        claims them: without statistics it takes a new campaign for a handful of rows and plans
        the sender's lookups as scans of all of them (a claim of 250 at 20,000 rows: 35 ms
        without, 12 ms with, and the gap grows with the audience). Autovacuum would analyse only
        once a tenth of the table changed. A sample, so it costs about the same at any size;
        SQLite needs none."""
        if on_postgres(self._session):
            await self._session.execute(text("ANALYZE campaign_recipients"))

    async def cancel_pending(self, campaign_id: int) -> int:
        """Every row not yet claimed by a sender -> cancelled; how many."""
        result = await self._session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "pending")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def status_counts(self, campaign_id: int, *, sent_after: datetime) -> list[StatusCount]:
        """Rows per status (skipped ones per reason), with how many of them quiet hours
        deferred and how many were sent after `sent_after`: one grouped statement."""
        reason = case((CampaignRecipient.status == "skipped", CampaignRecipient.reason), else_=None)
        deferred = func.sum(case((CampaignRecipient.deferred.is_(True), 1), else_=0))
        recent = func.sum(case((CampaignRecipient.sent_at > sent_after, 1), else_=0))
        statement = (
            select(CampaignRecipient.status, reason, func.count(), deferred, recent)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status, reason)
        )
        rows = (await self._session.execute(statement)).all()
        return [StatusCount(row[0], row[1], int(row[2]), int(row[3] or 0), int(row[4] or 0)) for row in rows]

    # --- audiences --------------------------------------------------------------------------------

    async def stream_audience(
        self, members: MemberFilter, *, chunk: int, after_member_id: int = 0
    ) -> AsyncIterator[list[AudienceRow]]:
        """The audience in member id order (ids above `after_member_id`), `chunk` members at a
        time, from one streamed statement (a server-side cursor on PostgreSQL): memory stays
        flat however many match. The caller may write (other tables) between chunks on the
        same session."""
        muted = exists().where(MemberMute.member_id == Member.id, MemberMute.topic == OFFERS_TOPIC)
        statement = (
            select(Member.id, _reachable(), muted.label("muted"), Member.timezone)
            .where(Member.id > after_member_id, *self._conditions(members))
            .order_by(Member.id)
            .execution_options(yield_per=chunk)
        )
        result = await self._session.stream(statement)
        try:
            async for partition in result.partitions(chunk):
                yield [AudienceRow(row[0], bool(row[1]), bool(row[2]), row[3]) for row in partition]
        finally:
            await result.close()

    async def audience_counts(self, members: MemberFilter) -> tuple[int, int, int]:
        """(total, opted out, unreachable) of the audience, in one pass."""
        muted = exists().where(MemberMute.member_id == Member.id, MemberMute.topic == OFFERS_TOPIC)
        reachable = _reachable()
        statement = select(
            func.count(),
            func.sum(case((and_(reachable, muted), 1), else_=0)),
            func.sum(case((reachable, 0), else_=1)),
        ).where(*self._conditions(members))
        row = (await self._session.execute(statement)).one()
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)

    async def audience_buyers(self, members: MemberFilter, *, since: datetime, currency: str) -> int:
        """Members of the audience with a purchase in [since, now] counted as a campaign report
        counts one (in `currency`, not refunded in full): the audience's usual conversion."""
        bought = exists().where(
            Purchase.member_id == Member.id,
            Purchase.purchased_at.between(since, members.now),
            Purchase.currency == currency,
            Purchase.amount_minor > Purchase.refunded_minor,
        )
        statement = select(func.count()).where(*self._conditions(members), bought)
        return int(await self._session.scalar(statement) or 0)

    async def sample_members(self, members: MemberFilter, *, limit: int) -> list[SampleMember]:
        """The first `limit` members of the audience (by id) a campaign would reach: with a
        chat, not blocked, offers not muted."""
        muted = exists().where(MemberMute.member_id == Member.id, MemberMute.topic == OFFERS_TOPIC)
        statement = (
            select(Member.member_number, Member.locale, Member.points_balance, Tier.names, Member.first_name_encrypted)
            .join(Tier, Tier.id == Member.tier_id)
            .where(*self._conditions(members), _reachable(), ~muted)
            .order_by(Member.id)
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).all()
        return [SampleMember(row[0], row[1], int(row[2]), dict(row[3]), row[4]) for row in rows]

    def _conditions(self, members: MemberFilter) -> list[ColumnElement[bool]]:
        # Erased members are nobody's audience (they have no chat either: not even "unreachable").
        conditions: list[ColumnElement[bool]] = [Member.erased_at.is_(None)]
        if members.tier_ids:
            conditions.append(Member.tier_id.in_(members.tier_ids))
        if members.cities:
            conditions.append(func.lower(Member.city).in_(members.cities))
        if members.near_store_id is not None:
            bought_there = exists().where(
                Purchase.member_id == Member.id,
                Purchase.store_id == members.near_store_id,
                Purchase.purchased_at > members.near_since,
            )
            if members.near_store_city:
                conditions.append(or_(bought_there, func.lower(Member.city) == members.near_store_city))
            else:
                conditions.append(bought_there)
        if members.segments:
            scored = _rfm_scores(members.rfm, members.now)
            in_segments = select(scored.c.member_id).where(_segment(scored).in_(members.segments))
            conditions.append(Member.id.in_(in_segments))
        if members.tags:
            conditions.append(
                exists().where(MemberTag.member_id == Member.id, MemberTag.tag.in_(members.tags))
            )
        if members.last_purchase_after is not None:
            conditions.append(
                exists().where(Purchase.member_id == Member.id, Purchase.purchased_at >= members.last_purchase_after)
            )
        if members.last_purchase_before is not None:
            before = members.last_purchase_before
            conditions.append(
                exists().where(Purchase.member_id == Member.id, Purchase.purchased_at < before)
            )
            conditions.append(~exists().where(Purchase.member_id == Member.id, Purchase.purchased_at >= before))
        if members.birthday_month is not None:
            conditions.append(Member.birthday_month == members.birthday_month)
        if members.has_unused_coupon is not None:
            unused = exists().where(
                Coupon.member_id == Member.id, Coupon.status == "issued", Coupon.valid_until >= members.today
            )
            conditions.append(unused if members.has_unused_coupon else ~unused)
        return conditions

    # --- RFM ----------------------------------------------------------------------------------------

    async def rfm_counts(self, cutoffs: RfmCutoffs, *, now: datetime) -> dict[str, int]:
        """Buyers per RFM segment."""
        scored = _rfm_scores(cutoffs, now)
        segment = _segment(scored)
        rows = (await self._session.execute(select(segment, func.count()).group_by(segment))).all()
        return {row[0]: int(row[1]) for row in rows}

    async def rfm_scores(
        self, member_ids: Sequence[int], cutoffs: RfmCutoffs, *, now: datetime
    ) -> dict[int, tuple[int, int, int, str]]:
        """(R, F, M, segment) of these members (those who bought in the window)."""
        scored = _rfm_scores(cutoffs, now)
        statement = select(scored.c.member_id, scored.c.r, scored.c.f, scored.c.m, _segment(scored)).where(
            scored.c.member_id.in_(list(member_ids))
        )
        rows = (await self._session.execute(statement)).all()
        return {row[0]: (int(row[1]), int(row[2]), int(row[3]), row[4]) for row in rows}


def _reachable() -> ColumnElement[bool]:
    return and_(Member.telegram_id.is_not(None), Member.chat_blocked_at.is_(None))


def _rfm_scores(cutoffs: RfmCutoffs, now: datetime) -> Any:
    """member_id, r, f, m: scores 1..5 of the members who bought in (since, now]. Higher is
    better: the most recent, most frequent, biggest spenders score 5. Quintile ties are split by
    member id, so the scores are the same every time they are computed."""
    buyers = (
        select(
            Purchase.member_id.label("member_id"),
            func.max(Purchase.purchased_at).label("last_at"),
            func.count().label("purchases"),
            func.sum(Purchase.amount_minor - Purchase.refunded_minor).label("spend"),
        )
        .where(Purchase.purchased_at > cutoffs.since, Purchase.purchased_at <= now)
        .group_by(Purchase.member_id)
        .subquery("rfm_buyers")
    )
    ranked = func.count().over() >= cutoffs.quintiles_from

    def quintile(column: Any) -> Any:
        return func.ntile(literal(5, Integer)).over(order_by=(column, buyers.c.member_id))

    def graded(column: Any, thresholds: Sequence[Any], above: Any) -> Any:
        """5 for the first threshold `above` holds, 4 for the next, ..., 1 for none."""
        return case(*((above(column, t), 5 - n) for n, t in enumerate(thresholds)), else_=1)

    return select(
        buyers.c.member_id,
        case(
            (ranked, quintile(buyers.c.last_at)),
            else_=graded(buyers.c.last_at, cutoffs.recent_after, lambda c, t: c > t),
        ).label("r"),
        case(
            (ranked, quintile(buyers.c.purchases)),
            else_=graded(buyers.c.purchases, cutoffs.frequent_from, lambda c, t: c >= t),
        ).label("f"),
        # Spend has no scale that fits every currency and trade: always ranked.
        quintile(buyers.c.spend).label("m"),
    ).subquery("rfm_scores")


def _segment(scored: Any) -> ColumnElement[str]:
    """The segment named by R and F (loyalty/campaigns/rfm.py); the first rule that holds."""
    r, f = scored.c.r, scored.c.f
    return case(
        (and_(r >= 4, f >= 4), "champions"),
        (and_(r >= 3, f >= 3), "loyal"),
        (and_(r >= 4, f == 1), "new"),
        (r >= 3, "potential"),
        (f >= 3, "at_risk"),
        else_="hibernating",
    )
