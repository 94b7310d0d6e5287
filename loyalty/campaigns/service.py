"""Campaigns as the merchant runs them: create, preview, pause, resume, cancel; and the
scheduler's part, starting the ones whose time came.

Starting chooses the recipients once: every member of the audience gets one row in
campaign_recipients (the outbox the sender drains), which says what becomes of them:

- held_out: in the hold-out group, chosen by a keyed hash of the member id (`holdout`), so the
  same campaign always holds out the same members, whoever starts it and however often;
- skipped: unreachable (no chat, blocked the bot) or opted out (muted offers);
- pending: to be sent not before `deliver_after`, the send time (or the local time in the
  member's zone), moved to the end of their quiet hours when it falls in them (`deferred`).

The hold-out is drawn before anything else, from the whole audience, so the two groups are
alike: members who cannot be reached are held out as often as the others.

Starting is claimed with one conditional UPDATE (scheduled -> sending); only the process that
wins it chooses recipients. It reads the audience from one snapshot over a connection of its
own (a long read that takes no write lock) and writes a row and a coupon per member. On SQLite,
where every transaction holds the database's write lock (one transaction for an audience of
100,000 stopped every purchase for seconds), the claim is committed at once and the rows
START_CHUNK members at a time, one short transaction each, so purchases get in between and rows
go out as soon as their chunk commits. On PostgreSQL, where a purchase never waits for a start,
it is all one transaction, as one commit per chunk would only cost. The start ends by recording
the audience size, once (a conditional UPDATE), in the transaction that creates a recurring
campaign's next occurrence; until then the sender never calls the campaign finished. A start
that stopped half-way on SQLite (a crash) is resumed by a later scheduler run
START_RESUME_AFTER after it began, from the member after the last one written: a recipient row
is unique per member and a coupon per issue key, so a chunk written twice by two processes is
written once. (On PostgreSQL a crash rolls the whole start back, claim included.)

State changes commit themselves (the sender reads the status from its own transactions), and
leave the transaction rolled back when they refuse; `create_campaign` does not commit, so the
caller can keep it with whatever else it writes, while `create_campaign_once` commits it, once
per idempotency key.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from db.models import Campaign, CampaignStatus, CouponTemplate, RecipientStatus
from db.repositories.campaigns import AudienceRow, CampaignRepository
from db.uow import IntegrityError, UnitOfWork, UnitOfWorkFactory
from loyalty import coupons
from loyalty.campaigns.audience import Audience, AudienceSize, audience_size, member_filter
from loyalty.campaigns.messages import Addressee, check_plain, check_texts, render
from loyalty.campaigns.power import Readability, readability
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.errors import CampaignNotFound, CampaignStateConflict, InvalidCampaign, LoyaltyError, StaffOnly
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.quiet_hours import is_quiet
from loyalty.staff import Role

log = logging.getLogger(__name__)

NAME_MAX_LENGTH = 120
MAX_BUTTONS = 3
BUTTON_LABEL_MAX_LENGTH = 64
URL_MAX_LENGTH = 500
HOLDOUT_MAX_PCT = 50
ATTRIBUTION_MAX_DAYS = 90
# A send time a little in the past is "now" typed slowly; more is a mistake.
SEND_AT_GRACE = timedelta(minutes=5)
# A recurring campaign repeats on the same day of the month, which every month must have.
RECURRING_MAX_DAY = 28
RECURRENCE_MONTHS = {"monthly": 1, "quarterly": 3}
# The first and last places on Earth to reach a local time: UTC+14 (Kiribati), UTC-12.
FIRST_ZONE = timezone(timedelta(hours=14))
LAST_ZONE = timezone(timedelta(hours=-12))
# Members read and written per transaction when a campaign starts, which bounds what a purchase
# waits for on SQLite: at 100,000 members a purchase waited 18 ms (at worst 82) with 1,000, 135
# ms (at worst 408) with 5,000, and up to 2.6 s when the start was one transaction.
START_CHUNK = 1_000
# Members read and written per round trip where a start is one transaction (PostgreSQL).
START_BATCH = 5_000
# A start that has not recorded its audience this long after it began stopped half-way.
START_RESUME_AFTER = timedelta(minutes=10)
# The hold-out hash is read as a number 0..HOLDOUT_SCALE-1: hundredths of a percent.
HOLDOUT_SCALE = 10_000
RATE_WINDOW = timedelta(seconds=10)
LIVE_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)  # may still send


# --- what callers pass and get -------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    texts: dict[str, str]  # {locale: label}
    url: str


@dataclass(frozen=True)
class Actor:
    """Who acts: "staff:<telegram id>" or "apikey:<id>" (API keys act as owners)."""

    ref: str
    # A cashier never gets here (the chat's staff filter and the console refuse them); if one
    # did, they would act as a marketer does, on their own campaigns only.
    role: Role


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    texts: dict[str, str]
    audience: Audience
    image_url: str | None = None
    coupon_template: str | None = None  # a coupon template's code
    buttons: tuple[Button, ...] = ()
    send_at: datetime | None = None  # None and no local time: now
    local_date: date | None = None  # with local_time: "10:00 in each member's zone"
    local_time: time | None = None
    recurrence: Literal["monthly", "quarterly"] | None = None
    holdout_pct: int | None = None  # None: settings.campaign_holdout_pct
    attribution_days: int | None = None  # None: settings.campaign_attribution_days


@dataclass(frozen=True)
class Sample:
    member_number: str
    locale: str
    text: str


@dataclass(frozen=True)
class Expected:
    """What starting now would most likely do with the audience, in the order start does it:
    the hold-out is drawn from everyone first, then the rest are sent to or skipped. The four
    add up to the audience, and the report counts the same four."""

    sent: int
    held_out: int
    opted_out: int
    unreachable: int

    @classmethod
    def of(cls, size: AudienceSize, holdout_pct: int) -> Expected:
        held_out = round(size.total * holdout_pct / 100)
        kept = (100 - holdout_pct) / 100
        sent = round(size.reachable * kept)
        opted_out = min(round(size.opted_out * kept), size.total - held_out - sent)
        return cls(sent, held_out, opted_out, size.total - held_out - sent - opted_out)


# A coupon template's rules that a campaign does not apply: the merchant chose the audience,
# and a monthly member day gives its coupon every month (coupons.issue_for_campaign).
CouponRule = Literal["min_tier", "per_member_limit"]
NOT_APPLIED_COUPON_RULES: tuple[CouponRule, ...] = ("min_tier", "per_member_limit")


@dataclass(frozen=True)
class Preview:
    audience: AudienceSize
    holdout: int  # members expected in the hold-out group
    samples: list[Sample]
    expected: Expected
    # Of NOT_APPLIED_COUPON_RULES, those the attached template sets: say so before sending.
    coupon_rules_not_applied: tuple[CouponRule, ...] = ()
    # Whether the hold-out comparison could be read (loyalty/campaigns/power.py); None only
    # where a Preview is built by hand.
    readability: Readability | None = None


@dataclass(frozen=True)
class Progress:
    campaign_id: int
    status: str
    total: int
    pending: int
    sending: int
    sent: int
    failed: int
    skipped: int  # opted_out + unreachable
    opted_out: int
    unreachable: int
    held_out: int
    cancelled: int
    deferred: int  # rows quiet hours moved (whatever became of them since)
    started_at: datetime | None
    finished_at: datetime | None
    rate: float  # messages a second over the last 10 s
    eta_seconds: float | None  # (pending + sending) / rate; None while nothing is being sent

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped + self.cancelled


@dataclass(frozen=True)
class Created:
    campaign_id: int
    replayed: bool  # an earlier request with the same key created it; this one wrote nothing


@dataclass
class _Started:
    """What one start chose, for the log and the scheduler."""

    campaign: Campaign
    counts: Counter[str] = field(default_factory=Counter)
    deferred: int = 0
    coupons: int = 0
    next_id: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# --- creating and reading ------------------------------------------------------------------------


async def create_campaign(
    uow: UnitOfWork, clock: Clock, settings: Settings, draft: CampaignDraft, *, actor: Actor
) -> Campaign:
    """A scheduled campaign from a draft checked in full (InvalidCampaign names the field).
    Does not commit."""
    now = clock.now()
    values = await _validated(uow, settings, draft, now=now)
    campaign = Campaign(
        **values,
        status=CampaignStatus.SCHEDULED,
        seed=secrets.token_hex(8),
        created_by=actor.ref,
        created_at=now,
    )
    await uow.campaigns.add(campaign)
    uow.audit.record(
        at=now, actor=actor.ref, action="campaign.create",
        detail=f"{campaign.id} {campaign.name!r}: {draft.audience.describe()}",
    )
    log.info("campaign %s %r created by %s for %s", campaign.id, campaign.name, actor.ref, draft.audience.describe())
    return campaign


async def create_campaign_once(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    draft: CampaignDraft,
    *,
    actor: Actor,
    key: IdempotencyKey | None,
) -> Created:
    """`create_campaign`, committed. With a key, once per key: a repeat, or a request racing
    the first with the same key, gets the campaign the first one created (IdempotencyConflict
    when the key comes with another draft). Without one, every call is a new campaign."""
    if key is not None and (replay := await previous_answer(uow, key)) is not None:
        return _replayed(replay)
    campaign = await create_campaign(uow, clock, settings, draft, actor=actor)
    if key is not None:
        # The id is all a replay needs: it shows the campaign as it is by then.
        remember(uow, key, StoredAnswer(Outcome.created, {"id": campaign.id}), at=clock.now(), member_id=None)
    try:
        await uow.commit()
    except IntegrityError:
        if key is None:
            raise
        # The same key raced in from a second request that committed first: this campaign is
        # rolled back and the first one is the answer.
        await uow.rollback()
        replay = await previous_answer(uow, key)
        if replay is None:
            raise
        log.info("campaign %s rolled back: the same idempotency key created campaign %s first",
                 campaign.id, replay.body["id"])
        return _replayed(replay)
    return Created(campaign.id, replayed=False)


def _replayed(answer: StoredAnswer) -> Created:
    # Answers stored earlier hold the whole campaign as the API showed it: its id is all that is read.
    return Created(int(answer.body["id"]), replayed=True)


async def preview(
    uow: UnitOfWork, clock: Clock, settings: Settings, draft: CampaignDraft, *, samples: int = 3
) -> Preview:
    """What a draft would reach and say, before anything is written: the audience's size, the
    expected hold-out, the text rendered for the first few members it would reach, and whether
    its hold-out test could be read: the audience's usual conversion (members who bought in the
    last attribution_days), the smallest lift detectable and the share that would do. The
    draft is checked as create_campaign checks it. Writes nothing."""
    now = clock.now()
    values = await _validated(uow, settings, draft, now=now)
    size = await audience_size(uow, draft.audience, now=now, zone=settings.zone)
    members = await member_filter(uow, draft.audience, now=now, zone=settings.zone)
    rendered = [
        Sample(
            member.member_number,
            member.locale,
            render(
                draft.texts,
                Addressee(
                    member.locale, member.points, member.tier_names, member.member_number,
                    uow.members.name_of(member.first_name_encrypted),
                ),
                default_locale=settings.default_locale,
            ),
        )
        for member in await uow.campaigns.sample_members(members, limit=max(samples, 0))
    ]
    expected = Expected.of(size, values["holdout_pct"])
    template = await uow.coupons.template(values["coupon_template_id"]) if values["coupon_template_id"] else None
    buyers = await uow.campaigns.audience_buyers(
        members, since=now - timedelta(days=values["attribution_days"]), currency=settings.currency
    )
    test = readability(buyers, size.total, values["holdout_pct"], max_pct=HOLDOUT_MAX_PCT)
    return Preview(size, expected.held_out, rendered, expected, _rules_not_applied(template), test)


def _rules_not_applied(template: CouponTemplate | None) -> tuple[CouponRule, ...]:
    if template is None:
        return ()
    # Every template has a per-member limit (1 unless set): a campaign's coupon comes on top of it.
    sets = {"min_tier": template.min_tier_rank > 0, "per_member_limit": True}
    return tuple(rule for rule in NOT_APPLIED_COUPON_RULES if sets[rule])


async def get_campaign(uow: UnitOfWork, campaign_id: int) -> Campaign:
    campaign = await uow.campaigns.get(campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return campaign


async def list_campaigns(uow: UnitOfWork, *, limit: int = 20) -> list[Campaign]:
    """The latest campaigns, newest first."""
    return list(await uow.campaigns.latest(limit=limit))


async def followed_campaigns(uow: UnitOfWork, clock: Clock) -> list[Campaign]:
    """Campaigns whose progress message a staff chat follows and whose numbers may still move:
    not over yet, or over but within the longest attribution window (the caller checks each
    campaign's own)."""
    started_after = clock.now() - timedelta(days=ATTRIBUTION_MAX_DAYS)
    return list(await uow.campaigns.followed(live=LIVE_STATUSES, started_after=started_after))


# --- pausing, resuming, cancelling ---------------------------------------------------------------


async def pause(uow: UnitOfWork, clock: Clock, campaign_id: int, *, actor: Actor) -> Campaign:
    """scheduled | sending -> paused: nothing more goes out until it is resumed. Commits."""
    return await _move(
        uow, clock, campaign_id, actor, (CampaignStatus.SCHEDULED, CampaignStatus.SENDING), CampaignStatus.PAUSED,
        "pause",
    )


async def resume(uow: UnitOfWork, clock: Clock, campaign_id: int, *, actor: Actor) -> Campaign:
    """paused -> sending, or back to scheduled if it never started (its time may still be to
    come; if it passed, the scheduler starts it at once). Commits."""
    async with _refusal_keeps_nothing(uow):
        campaign = await get_campaign(uow, campaign_id)
    to = CampaignStatus.SENDING if campaign.started_at is not None else CampaignStatus.SCHEDULED
    return await _move(uow, clock, campaign_id, actor, (CampaignStatus.PAUSED,), to, "resume")


async def cancel(uow: UnitOfWork, clock: Clock, campaign_id: int, *, actor: Actor) -> Campaign:
    """scheduled | sending | paused -> cancelled, and every recipient not yet claimed by the
    sender with it (messages being sent at that instant still go). A recurring campaign
    cancelled before it starts has no next occurrence. Commits."""
    return await _move(
        uow, clock, campaign_id, actor, LIVE_STATUSES, CampaignStatus.CANCELLED, "cancel",
        finished_at=clock.now(),
    )


async def cancellable(uow: UnitOfWork, campaign_id: int, *, actor: Actor) -> Campaign:
    """The campaign, if `actor` may cancel it now; refuses as cancel would (not found, not
    theirs, over already). Writes nothing: asked before a cancel is confirmed."""
    async with _refusal_keeps_nothing(uow):
        campaign = await get_campaign(uow, campaign_id)
        _may_change(campaign, actor)
        if campaign.status not in LIVE_STATUSES:
            raise CampaignStateConflict(f"campaign {campaign_id} is {campaign.status}; it cannot cancel",
                                        reason=campaign.status)
    await uow.release()
    return campaign


def _may_change(campaign: Campaign, actor: Actor) -> None:
    if actor.role != "owner" and campaign.created_by != actor.ref:
        raise StaffOnly("only an owner can change a campaign someone else created")


async def _move(
    uow: UnitOfWork,
    clock: Clock,
    campaign_id: int,
    actor: Actor,
    from_statuses: tuple[CampaignStatus, ...],
    to: CampaignStatus,
    action: str,
    **values: Any,
) -> Campaign:
    async with _refusal_keeps_nothing(uow):
        campaign = await get_campaign(uow, campaign_id)
        _may_change(campaign, actor)
        if not await uow.campaigns.move(campaign_id, from_statuses=from_statuses, to=to, **values):
            status = (await get_campaign(uow, campaign_id)).status
            raise CampaignStateConflict(f"campaign {campaign_id} is {status}; it cannot {action}", reason=status)
    cancelled = await uow.campaigns.cancel_pending(campaign_id) if to == CampaignStatus.CANCELLED else 0
    uow.audit.record(
        at=clock.now(), actor=actor.ref, action=f"campaign.{action}",
        detail=f"{campaign_id} {campaign.name!r}" + (f": {cancelled} unsent" if cancelled else ""),
    )
    await uow.commit()
    log.info("campaign %s %r: %s by %s, now %s", campaign_id, campaign.name, action, actor.ref, to)
    moved = await get_campaign(uow, campaign_id)
    await uow.release()  # the caller answers next (a Telegram call): no transaction waits on it
    return moved


@contextlib.asynccontextmanager
async def _refusal_keeps_nothing(uow: UnitOfWork) -> AsyncIterator[None]:
    """A refused change writes nothing, and its transaction is over before the caller answers."""
    try:
        yield
    except LoyaltyError:
        await uow.rollback()
        raise


# --- starting ------------------------------------------------------------------------------------


def holdout(seed: str, member_id: int) -> float:
    """The member's place in the campaign's draw, 0 <= x < 100 in hundredths: HMAC-SHA256 of
    the member id keyed by the campaign's seed. Held out when below the hold-out percentage."""
    return _draw(seed, member_id) / 100


def held_out(seed: str, member_id: int, holdout_pct: int) -> bool:
    # Compared in whole hundredths, so no float rounding moves a member across the line.
    return _draw(seed, member_id) < holdout_pct * 100


def _draw(seed: str, member_id: int) -> int:
    digest = hmac.new(seed.encode(), str(member_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_SCALE


async def start(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int) -> int:
    """Choose the campaign's recipients and set it sending; how many recipient rows this call
    wrote (0: it was not scheduled, e.g. already started by another process). Commits."""
    started = await _start(uow, clock, settings, campaign_id)
    return started.total if started is not None else 0


async def start_due(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> list[int]:
    """The scheduler's job: start every scheduled campaign whose time came, and finish the
    starts that stopped half-way; the ids this run started or finished. A local-time campaign
    is due when the first zone on Earth reaches its local time. Safe to run in several
    processes at once."""
    now = clock.now()
    async with uow_factory() as uow:
        due = [campaign.id for campaign in await uow.campaigns.scheduled_before(now) if due_at(campaign) <= now]
        unfinished = await uow.campaigns.unfinished_starts(started_before=now - START_RESUME_AFTER)
    started = []
    for campaign_id, begin in [*((id_, _start) for id_ in due), *((id_, _resume) for id_ in unfinished)]:
        try:
            async with uow_factory() as uow:
                if await begin(uow, clock, settings, campaign_id) is not None:
                    started.append(campaign_id)
        except Exception:
            # One campaign's failure must not keep the others from starting; it stays
            # scheduled (or half-started) and a later run tries again.
            log.exception("campaign %s could not start; a later run tries again", campaign_id)
    return started


def due_at(campaign: Campaign) -> datetime:
    """When a campaign is due to start: its send time, or the first moment any zone reaches
    its local date and time."""
    if campaign.send_at is not None:
        return campaign.send_at
    assert campaign.local_date is not None and campaign.local_time is not None
    return datetime.combine(campaign.local_date, time.fromisoformat(campaign.local_time), tzinfo=FIRST_ZONE)


async def _start(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int) -> _Started | None:
    """Claim the start (committed at once on SQLite), then choose the recipients
    (`_choose_recipients`); None when another start had claimed it."""
    now = clock.now()
    await get_campaign(uow, campaign_id)
    if not await uow.campaigns.move(
        campaign_id, from_statuses=(CampaignStatus.SCHEDULED,), to=CampaignStatus.SENDING, started_at=now
    ):
        await uow.rollback()
        return None
    if uow.writes_exclusively:
        await uow.commit()  # the chunks follow in transactions of their own
    return await _choose_recipients(uow, clock, settings, campaign_id)


async def _resume(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int) -> _Started | None:
    """Finish a start that stopped half-way, from the member after the last one written."""
    log.warning("campaign %s: its start stopped half-way; resuming it", campaign_id)
    return await _choose_recipients(uow, clock, settings, campaign_id)


async def _choose_recipients(
    uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int
) -> _Started | None:
    """Every member of the audience after the last one written gets a row and their coupon (on
    SQLite committed START_CHUNK members at a time); then the size is recorded, a finished
    campaign marked done and a recurring one's next occurrence made, once. None when a start had
    recorded it already.

    The audience is read as of the claim (`started_at`: its RFM window, its "today"), from one
    snapshot over a connection of its own; delivery times are worked out from now."""
    now = clock.now()
    campaign = await get_campaign(uow, campaign_id)
    assert campaign.started_at is not None
    started = _Started(campaign)
    template = await uow.coupons.template(campaign.coupon_template_id) if campaign.coupon_template_id else None
    audience = Audience.model_validate(campaign.audience)
    members = await member_filter(uow, audience, now=campaign.started_at, zone=settings.zone)
    after = await uow.campaigns.last_recipient_id(campaign_id)
    in_chunks = uow.writes_exclusively
    if in_chunks:
        await uow.release()
    deliveries: dict[str | None, tuple[datetime, bool]] = {}
    async with uow.reading_aside() as reader:
        audience_rows = CampaignRepository(reader).stream_audience(
            members, chunk=START_CHUNK if in_chunks else START_BATCH, after_member_id=after
        )
        async for chunk in audience_rows:
            if await uow.campaigns.status_for_start(campaign_id) == CampaignStatus.CANCELLED:
                break  # nothing more to choose; what was chosen is cancelled already
            rows = []
            for member in chunk:
                row = _recipient(campaign, member, now, settings, deliveries)
                started.counts[row["status"] if row["status"] != "skipped" else row["reason"]] += 1
                started.deferred += row["deferred"]
                rows.append(row)
            if template is not None:
                await _attach_coupons(uow, template, campaign, rows, now=now, zone=settings.zone, started=started)
            await uow.campaigns.add_recipients(rows)
            if in_chunks:
                await uow.commit()
    size = await uow.campaigns.record_start(campaign_id)
    if size is None:
        await uow.rollback()
        return None
    pending = await uow.campaigns.has_open_rows(campaign_id)
    if not pending:
        await uow.campaigns.move(
            campaign_id, from_statuses=(CampaignStatus.SENDING,), to=CampaignStatus.DONE, finished_at=now
        )
    if campaign.recurrence:
        started.next_id = (await uow.campaigns.add(_next_occurrence(campaign, settings, now))).id
    await uow.commit()
    if pending:
        await uow.campaigns.refresh_recipient_statistics()
        await uow.commit()
    log.info("%s", _start_line(started, size=size, pending=pending))
    return started


def _recipient(
    campaign: Campaign,
    member: AudienceRow,
    now: datetime,
    settings: Settings,
    deliveries: dict[str | None, tuple[datetime, bool]],
) -> dict[str, Any]:
    """One member's recipient row. `deliveries` caches (deliver_after, deferred) per zone."""
    row: dict[str, Any] = {
        "campaign_id": campaign.id,
        "member_id": member.member_id,
        "status": "pending",
        "reason": None,
        "deliver_after": now,
        "deferred": False,
        "attempts": 0,
        "coupon_id": None,
    }
    if held_out(campaign.seed, member.member_id, campaign.holdout_pct):
        row["status"] = "held_out"
    elif not member.reachable:
        row["status"], row["reason"] = "skipped", "unreachable"
    elif member.opted_out:
        row["status"], row["reason"] = "skipped", "opted_out"
    else:
        if member.timezone not in deliveries:
            deliveries[member.timezone] = delivery(campaign, _member_zone(member.timezone, settings), now, settings)
        row["deliver_after"], row["deferred"] = deliveries[member.timezone]
    return row


def delivery(campaign: Campaign, zone: ZoneInfo, now: datetime, settings: Settings) -> tuple[datetime, bool]:
    """(deliver_after, deferred) for a member in `zone`: the send time, or the campaign's local
    date and time in the zone (now if that passed), moved to the end of quiet hours when it
    falls in them (deferred)."""
    if campaign.send_at is not None:
        moment = campaign.send_at
    else:
        assert campaign.local_date is not None and campaign.local_time is not None
        local = datetime.combine(campaign.local_date, time.fromisoformat(campaign.local_time), tzinfo=zone)
        moment = local.astimezone(UTC)
    moment = max(moment, now)
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    if not is_quiet(moment, zone, start, end):
        return moment, False
    return quiet_hours_end(moment, zone, end), True


def quiet_hours_end(moment: datetime, zone: ZoneInfo, end: time) -> datetime:
    """The first instant at or after `moment` whose local time in `zone` is `end`, in UTC."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate.astimezone(UTC) <= moment:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return candidate.astimezone(UTC)


async def _attach_coupons(
    uow: UnitOfWork,
    template: CouponTemplate,
    campaign: Campaign,
    rows: list[dict[str, Any]],
    *,
    now: datetime,
    zone: ZoneInfo,
    started: _Started,
) -> None:
    pending = [row for row in rows if row["status"] == "pending"]
    issued = await coupons.issue_for_campaign(
        uow, template, [row["member_id"] for row in pending], campaign_id=campaign.id, now=now, zone=zone
    )
    for row in rows:
        row["coupon_id"] = issued.get(row["member_id"])
    started.coupons += len(issued)


def _next_occurrence(campaign: Campaign, settings: Settings, now: datetime) -> Campaign:
    """The next occurrence of a recurring campaign: a copy a month (or a quarter) later, on the
    same day of the month at the same wall-clock time, with its own seed. Occurrences whose
    time already passed (the scheduler was down) are skipped, not sent late in a burst."""
    assert campaign.recurrence is not None
    months = RECURRENCE_MONTHS[campaign.recurrence]
    send_at, local_date = campaign.send_at, campaign.local_date
    step = 0
    while True:
        step += months
        if send_at is not None:
            local = send_at.astimezone(settings.zone)
            moved = datetime.combine(_add_months(local.date(), step), local.time(), tzinfo=settings.zone)
            next_send_at, next_local_date = moved.astimezone(UTC), None
            if next_send_at > now:
                break
        else:
            assert local_date is not None and campaign.local_time is not None
            next_send_at, next_local_date = None, _add_months(local_date, step)
            moment = datetime.combine(next_local_date, time.fromisoformat(campaign.local_time), tzinfo=FIRST_ZONE)
            if moment > now:
                break
    return Campaign(
        name=campaign.name,
        status=CampaignStatus.SCHEDULED,
        texts=dict(campaign.texts),
        image_url=campaign.image_url,
        coupon_template_id=campaign.coupon_template_id,
        buttons=list(campaign.buttons),
        audience=dict(campaign.audience),
        send_at=next_send_at,
        local_date=next_local_date,
        local_time=campaign.local_time,
        recurrence=campaign.recurrence,
        parent_id=campaign.parent_id or campaign.id,
        holdout_pct=campaign.holdout_pct,
        seed=secrets.token_hex(8),
        attribution_days=campaign.attribution_days,
        created_by=campaign.created_by,
        created_at=now,
    )


def can_recur_on(day_of_month: int) -> bool:
    """Whether a campaign on this day of the month may repeat monthly or quarterly: only on a
    day every month has."""
    return day_of_month <= RECURRING_MAX_DAY


def _add_months(day: date, months: int) -> date:
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _start_line(started: _Started, *, size: int, pending: bool) -> str:
    """"campaign 7 'Member day' started: 12,034 recipients, 1,198 held out, 310 skipped ..."
    (what this run chose: a resumed start counts the members after the stop), then the
    audience's size."""
    counts = started.counts
    campaign = started.campaign
    line = (
        f"campaign {campaign.id} {campaign.name!r} started: {counts['pending']:,} recipients, "
        f"{counts['held_out']:,} held out, {counts['unreachable'] + counts['opted_out']:,} skipped "
        f"({counts['unreachable']:,} unreachable, {counts['opted_out']:,} opted out)"
    )
    if size != started.total:
        line += f", {size:,} in the audience in all"
    if started.deferred:
        line += f", {started.deferred:,} deferred by quiet hours"
    if started.coupons:
        line += f", {started.coupons:,} coupons issued"
    if not pending:
        line += "; nothing to send, done"
    if started.next_id is not None:
        line += f"; next occurrence: campaign {started.next_id}"
    return line


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _member_zone(key: str | None, settings: Settings) -> ZoneInfo:
    """The member's zone, or the program's when they have none (or an unknown one)."""
    return (_zone(key) if key else None) or settings.zone


# --- progress ------------------------------------------------------------------------------------


async def progress(uow: UnitOfWork, clock: Clock, campaign_id: int) -> Progress:
    """Where the campaign's sending stands: rows per status and the sending rate now."""
    campaign = await get_campaign(uow, campaign_id)
    now = clock.now()
    counts: Counter[str] = Counter()
    deferred = recent = 0
    for row in await uow.campaigns.status_counts(campaign_id, sent_after=now - RATE_WINDOW):
        counts[row.status] += row.count
        if row.status == "skipped" and row.reason in ("opted_out", "unreachable"):
            counts[row.reason] += row.count
        deferred += row.deferred
        recent += row.recent
    # Over the last 10 s, or since the start when that is more recent.
    window = RATE_WINDOW.total_seconds()
    if campaign.started_at is not None:
        window = min(window, (now - campaign.started_at).total_seconds())
    rate = recent / window if window > 0 else 0.0
    open_rows = counts["pending"] + counts["sending"]
    return Progress(
        campaign_id=campaign_id,
        status=campaign.status,
        total=sum(counts[status] for status in _ROW_STATUSES),
        pending=counts["pending"],
        sending=counts["sending"],
        sent=counts["sent"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        opted_out=counts["opted_out"],
        unreachable=counts["unreachable"],
        held_out=counts["held_out"],
        cancelled=counts["cancelled"],
        deferred=deferred,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        rate=rate,
        eta_seconds=open_rows / rate if rate > 0 else None,
    )


_ROW_STATUSES = tuple(RecipientStatus)


async def finish_if_drained(uow: UnitOfWork, clock: Clock, campaign_id: int) -> bool:
    """sending -> done (finished_at now) once no row is pending or being sent; whether this
    call did it. One conditional UPDATE, so two senders finishing at once finish it once.
    Commits."""
    finished = await uow.campaigns.finish_if_drained(campaign_id, now=clock.now())
    await uow.commit()
    if finished:
        log.info("campaign %s done", campaign_id)
    return finished


# --- checking a draft ----------------------------------------------------------------------------


async def _validated(uow: UnitOfWork, settings: Settings, draft: CampaignDraft, *, now: datetime) -> dict[str, Any]:
    """The draft as Campaign columns, or InvalidCampaign naming the first field that is wrong."""
    name = draft.name.strip() if isinstance(draft.name, str) else ""
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidCampaign(f"a name is 1-{NAME_MAX_LENGTH} characters", field="name", problem="length")
    check_plain(name, "name")
    image_url = _https(draft.image_url, "image_url") if draft.image_url is not None else None
    check_texts(draft.texts, supported_locales=SUPPORTED_LOCALES, with_image=image_url is not None)
    buttons = _buttons(draft.buttons)
    # Codes in the audience must exist (audience_size resolves them, refusing unknown ones).
    await member_filter(uow, draft.audience, now=now, zone=settings.zone)
    template_id = None
    if draft.coupon_template is not None:
        template = await uow.coupons.template_by_code(draft.coupon_template)
        if template is None or not template.active:
            raise InvalidCampaign(
                f"no active coupon template {draft.coupon_template!r}", field="coupon_template",
                problem="unknown" if template is None else "inactive",
            )
        template_id = template.id
    send_at, local_date, local_time = _send_time(draft, now)
    if draft.recurrence is not None:
        if draft.recurrence not in RECURRENCE_MONTHS:
            raise InvalidCampaign("recurrence is monthly or quarterly", field="recurrence", problem="unknown")
        # The day in the program's zone; send_at is set whenever local_date is not.
        day = local_date.day if local_date else send_at.astimezone(settings.zone).day  # type: ignore[union-attr]
        if not can_recur_on(day):
            raise InvalidCampaign(
                f"a recurring campaign is on a day every month has: 1-{RECURRING_MAX_DAY}", field="recurrence",
                problem="day_of_month",
            )
    holdout_pct = settings.campaign_holdout_pct if draft.holdout_pct is None else draft.holdout_pct
    if not _whole(holdout_pct, 0, HOLDOUT_MAX_PCT):
        raise InvalidCampaign(
            f"the hold-out is 0-{HOLDOUT_MAX_PCT} % of the audience", field="holdout_pct", problem="range"
        )
    attribution = draft.attribution_days
    if attribution is None:
        attribution = settings.campaign_attribution_days
    if not _whole(attribution, 1, ATTRIBUTION_MAX_DAYS):
        raise InvalidCampaign(
            f"the attribution window is 1-{ATTRIBUTION_MAX_DAYS} days", field="attribution_days", problem="range"
        )
    return {
        "name": name,
        "texts": dict(draft.texts),
        "image_url": image_url,
        "coupon_template_id": template_id,
        "buttons": buttons,
        "audience": draft.audience.model_dump(mode="json"),
        "send_at": send_at,
        "local_date": local_date,
        "local_time": local_time,
        "recurrence": draft.recurrence,
        "parent_id": None,
        "holdout_pct": holdout_pct,
        "attribution_days": attribution,
    }


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _send_time(draft: CampaignDraft, now: datetime) -> tuple[datetime | None, date | None, str | None]:
    """(send_at, local_date, "HH:MM"): one instant, or a local date and time, or now."""
    local = draft.local_date is not None or draft.local_time is not None
    if draft.send_at is not None and local:
        raise InvalidCampaign(
            "a campaign goes at one moment (send_at) or at a local time (local_date and local_time), not both",
            field="send_at", problem="both",
        )
    if local:
        if draft.local_date is None or draft.local_time is None:
            missing = "local_date" if draft.local_date is None else "local_time"
            raise InvalidCampaign(
                "a local send time needs both local_date and local_time", field=missing, problem="missing"
            )
        if draft.local_time.tzinfo is not None:
            raise InvalidCampaign(
                "local_time is a wall-clock time, without a zone", field="local_time", problem="zoned"
            )
        # Past everywhere: even the last zone to reach it (UTC-12) has.
        last = datetime.combine(draft.local_date, draft.local_time, tzinfo=LAST_ZONE)
        if last < now - SEND_AT_GRACE:
            raise InvalidCampaign("that local time has passed everywhere", field="local_date", problem="past")
        return None, draft.local_date, f"{draft.local_time:%H:%M}"
    if draft.send_at is None:
        return now, None, None
    if draft.send_at.tzinfo is None:
        raise InvalidCampaign("send_at needs a time zone", field="send_at", problem="naive")
    if draft.send_at < now - SEND_AT_GRACE:
        raise InvalidCampaign("send_at is in the past", field="send_at", problem="past")
    return draft.send_at.astimezone(UTC), None, None


def _https(url: str, field_name: str) -> str:
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme != "https"
        or not parts.hostname
        or len(url) > URL_MAX_LENGTH
        or any(character.isspace() or not character.isprintable() for character in url.strip())
    ):
        raise InvalidCampaign(
            f"{field_name} is an https:// address of at most {URL_MAX_LENGTH} characters", field=field_name,
            problem="url",
        )
    return url.strip()


def _buttons(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    if len(buttons) > MAX_BUTTONS:
        raise InvalidCampaign(f"at most {MAX_BUTTONS} buttons", field="buttons", problem="too_many")
    clean = []
    for index, button in enumerate(buttons):
        url = _https(button.url, f"buttons.{index}.url")
        if not button.texts:
            raise InvalidCampaign("a button needs a label", field=f"buttons.{index}.texts", problem="empty")
        labels = {}
        for locale, label in button.texts.items():
            field_name = f"buttons.{index}.texts.{locale}"
            if locale not in SUPPORTED_LOCALES:
                raise InvalidCampaign(
                    f"unknown language {locale!r}; use one of {', '.join(SUPPORTED_LOCALES)}", field=field_name,
                    problem="unknown_locale",
                )
            text = label.strip() if isinstance(label, str) else ""
            if not 1 <= len(text) <= BUTTON_LABEL_MAX_LENGTH:
                raise InvalidCampaign(
                    f"a button label is 1-{BUTTON_LABEL_MAX_LENGTH} characters", field=field_name, problem="length"
                )
            check_plain(text, field_name)
            labels[locale] = text
        clean.append({"texts": labels, "url": url})
    return clean
