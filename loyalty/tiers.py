"""Tiers that move up and down with a member's spend and visits over a rolling window.

A member qualifies for a tier above rank 0 by net spend OR by visits within the last
`tier_window_months`. A threshold of 0 on such a tier means "not by this measure" (a spend-only
tier), never "everyone". Upgrades happen at once, when a purchase is recorded, possibly several
ranks at a time. Downgrades are gentle: the scheduled review marks a member who no longer
qualifies as at risk, and only after the grace period steps them down one rank.

The merchant's rules for the tier ladder itself (ranks, thresholds) are at the end.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from db.models import Member, Notification, NotificationKind, NotificationStatus, Tier
from db.repositories.program import TierValue
from db.uow import IntegrityError, UnitOfWork, UnitOfWorkFactory
from loyalty import coupons
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.earning import MAX_MULTIPLIER_PCT, PCT
from loyalty.errors import (
    InvalidInput,
    TierNotFound,
    TierRankTaken,
)

log = logging.getLogger(__name__)

TIER_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
ENTRY_RANK = 0
MAX_RANK = 1_000
MAX_SPEND_MINOR = 10**15
MAX_VISITS = 1_000_000
NAME_MAX_LENGTH = 40
BENEFIT_MAX_LENGTH = 120
MAX_BENEFITS = 20



# --- the rolling window ---------------------------------------------------------------------------


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def shift_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months away. A day the target month lacks
    (31 January + 1 month) becomes the first instant of the month after it, so the result never
    goes backwards as `moment` moves forwards."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if moment.day <= calendar.monthrange(year, month)[1]:
        return moment.replace(year=year, month=month)
    year, month = _month_after(year, month)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def window_start(now: datetime, months: int) -> datetime:
    """Purchases count towards tiers while window_start(now) < purchased_at <= now."""
    return shift_months(now, -months)


def leaves_window_at(purchased_at: datetime, months: int) -> datetime:
    """The first moment at which a purchase no longer counts (with no purchases after it)."""
    leaves = shift_months(purchased_at, months)
    # A purchase at the very first instant of a month is also the window start of the days the
    # month before lacks (29-31 March minus one month is 1 March 00:00), so it can leave earlier.
    first_instant = purchased_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if purchased_at == first_instant:
        before = shift_months(purchased_at, -1)
        days_before = calendar.monthrange(before.year, before.month)[1]
        target = shift_months(before, months)
        if days_before < calendar.monthrange(target.year, target.month)[1]:
            leaves = min(leaves, target.replace(day=days_before + 1))
    return leaves


# --- who qualifies for what -----------------------------------------------------------------------


@dataclass(frozen=True)
class QualifyingStats:
    spend_minor: int
    visits: int


# Read-only members: the cached TierValue is frozen, and the rules only read a tier.
class Thresholds(Protocol):
    @property
    def rank(self) -> int: ...
    @property
    def min_spend_minor(self) -> int: ...
    @property
    def min_visits(self) -> int: ...


class LadderTier(Thresholds, Protocol):
    """A tier row or its cached value (db.repositories.program.TierValue)."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...


AnyTier = TypeVar("AnyTier", bound=LadderTier)


def qualifies(tier: Thresholds, stats: QualifyingStats) -> bool:
    if tier.rank == ENTRY_RANK:
        return True
    return (0 < tier.min_spend_minor <= stats.spend_minor) or (0 < tier.min_visits <= stats.visits)


def qualified_tier(tiers: Sequence[AnyTier], stats: QualifyingStats) -> AnyTier:
    """The highest-ranked tier the stats qualify for (the entry tier at least)."""
    eligible = [tier for tier in tiers if qualifies(tier, stats)]
    if not eligible:
        raise LookupError("no entry tier (rank 0) is configured")
    return max(eligible, key=lambda tier: tier.rank)


async def qualifying_stats(
    uow: UnitOfWork, member_id: int, *, now: datetime, months: int
) -> QualifyingStats:
    """Net spend (amount - refunded) and visits (purchases with something left after refunds)
    with purchased_at in (now - months, now]."""
    spend, visits = await uow.program.qualifying_totals(
        member_id, since=window_start(now, months), until=now
    )
    return QualifyingStats(spend_minor=spend, visits=visits)


def _tier_of(tiers: Sequence[AnyTier], member: Member) -> AnyTier:
    for tier in tiers:
        if tier.id == member.tier_id:
            return tier
    raise LookupError(f"member {member.id} is in unknown tier {member.tier_id}")


def _notify(
    uow: UnitOfWork,
    member: Member,
    kind: NotificationKind,
    old: LadderTier,
    new: LadderTier,
    now: datetime,
    *,
    coupon_ids: Sequence[int] | None = None,
) -> None:
    payload: dict[str, object] = {"old": old.code, "new": new.code}
    if coupon_ids is not None:  # an upgrade's gifts
        payload["coupon_ids"] = list(coupon_ids)
    uow.notifications.add(
        Notification(
            member_id=member.id,
            kind=kind,
            payload=payload,
            status=NotificationStatus.PENDING,
            created_at=now,
        )
    )


def _move(
    uow: UnitOfWork, member: Member, old: LadderTier, tier: LadderTier, *, now: datetime, at_risk_since: datetime | None
) -> None:
    """Every move between tiers goes through here, so each one is recorded (the tier-moves chart
    of loyalty/kpis reads them)."""
    uow.kpis.add_tier_change(member_id=member.id, from_rank=old.rank, to_rank=tier.rank, at=now)
    member.tier_id = tier.id
    member.tier_since = now
    member.tier_at_risk_since = at_risk_since
    member.updated_at = now


@dataclass(frozen=True)
class TierChange:
    old: TierValue
    new: TierValue


async def upgrade_if_qualified(
    uow: UnitOfWork,
    member: Member,
    *,
    now: datetime,
    months: int,
    zone: ZoneInfo,
    tiers: Sequence[TierValue] | None = None,
) -> TierChange | None:
    """After a purchase (flushed, member locked): move up to the highest tier the member now
    qualifies for, ranks skipped included, with the coupons each tier reached gives (its day of
    issue read in `zone`). A member at risk who qualifies again is cleared. Never moves down
    (that is the review's job, after a grace period). No commit.
    `tiers`: the ladder, when the caller has already read it."""
    if tiers is None:
        tiers = await uow.program.ladder()
    current = _tier_of(tiers, member)
    stats = await qualifying_stats(uow, member.id, now=now, months=months)
    target = qualified_tier(tiers, stats)
    if target.rank > current.rank:
        _move(uow, member, current, target, now=now, at_risk_since=None)
        gifts = await coupons.issue_automatic(
            uow, member, event="tier", now=now, zone=zone, ranks=(current.rank, target.rank)
        )
        _notify(
            uow, member, NotificationKind.TIER_UPGRADED, current, target, now,
            coupon_ids=[gift.coupon.id for gift in gifts],
        )
        log.info("member %s up from %s to %s", member.member_number, current.code, target.code)
        return TierChange(old=current, new=target)
    if member.tier_at_risk_since is not None and target.rank == current.rank:
        member.tier_at_risk_since = None
        member.updated_at = now
    return None


# --- the scheduled review -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewReport:
    reviewed: int = 0
    at_risk: int = 0  # newly marked
    downgraded: int = 0
    cleared: int = 0  # were at risk, qualify again
    failed: int = 0


async def review_member(
    uow: UnitOfWork, member: Member, *, now: datetime, months: int, grace: timedelta
) -> str:
    """One member's review: "unchanged", "at_risk", "downgraded" or "cleared". No commit.

    A step down is one rank, and the next one needs another full grace period: the member is
    marked at risk again at once if they do not qualify for the lower tier either."""
    tiers = await uow.program.ladder()
    current = _tier_of(tiers, member)
    if current.rank == ENTRY_RANK:
        return "unchanged"
    stats = await qualifying_stats(uow, member.id, now=now, months=months)
    if qualifies(current, stats):
        if member.tier_at_risk_since is None:
            return "unchanged"
        member.tier_at_risk_since = None
        member.updated_at = now
        return "cleared"
    if member.tier_at_risk_since is None:
        member.tier_at_risk_since = now
        member.updated_at = now
        return "at_risk"
    if now - member.tier_at_risk_since < grace:
        return "unchanged"
    lower = max((tier for tier in tiers if tier.rank < current.rank), key=lambda tier: tier.rank)
    _move(uow, member, current, lower, now=now, at_risk_since=None if qualifies(lower, stats) else now)
    _notify(uow, member, NotificationKind.TIER_DOWNGRADED, current, lower, now)
    log.info("member %s down from %s to %s", member.member_number, current.code, lower.code)
    return "downgraded"


async def review_tiers(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, *, batch: int = 500
) -> ReviewReport:
    """The scheduled downgrade evaluation over every member above the entry tier, one
    transaction per member so a long run never holds many locks. Idempotent for a given now."""
    now = clock.now()
    grace = timedelta(days=settings.tier_grace_days)
    counts = {"reviewed": 0, "at_risk": 0, "downgraded": 0, "cleared": 0, "failed": 0}
    after_id = 0
    while True:
        async with uow_factory() as uow:
            member_ids = await uow.program.members_above_entry(after_id=after_id, limit=batch)
        if not member_ids:
            break
        after_id = member_ids[-1]
        for member_id in member_ids:
            try:
                async with uow_factory() as uow:
                    member = await uow.lock_member(member_id)
                    outcome = await review_member(
                        uow, member, now=now, months=settings.tier_window_months, grace=grace
                    )
                    if outcome != "unchanged":
                        await uow.commit()
            except Exception:  # one member's failure must not stop everyone's review
                log.exception("tier review of member %s failed", member_id)
                counts["failed"] += 1
                continue
            counts["reviewed"] += 1
            if outcome != "unchanged":
                counts[outcome] += 1
    report = ReviewReport(**counts)
    log.info("tier review: %s", report)
    return report


# --- what the member sees -------------------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    tier: Tier
    next_tier: Tier | None
    # What is missing for the next tier, by each measure it can be reached by (None: not by it).
    spend_to_next_minor: int | None
    visits_to_next: int | None
    # What the member must add before `keep_by`, by either measure, to keep the current tier:
    # keep_by is the earliest moment the tier can be lost (grace included), and what will have
    # left the window by then is not counted. None at the entry tier.
    keep_spend_minor: int | None
    keep_visits: int | None
    keep_by: datetime | None
    stats: QualifyingStats  # in the window now
    at_risk: bool  # marked by a review and still short


def _missing(threshold: int, have: int) -> int | None:
    return max(threshold - have, 0) if threshold > 0 else None


def _leaving(purchases: Sequence[tuple[datetime, int]], months: int) -> list[tuple[datetime, int]]:
    """(when it leaves the window, net amount) of each purchase, first to leave first."""
    return sorted((leaves_window_at(at, months), net) for at, net in purchases)


def _without(stats: QualifyingStats, nets: Sequence[int]) -> QualifyingStats:
    return QualifyingStats(
        stats.spend_minor - sum(nets), stats.visits - sum(1 for net in nets if net > 0)
    )


def first_shortfall(
    tier: Thresholds,
    stats: QualifyingStats,
    purchases: Sequence[tuple[datetime, int]],
    *,
    now: datetime,
    months: int,
) -> tuple[datetime, QualifyingStats]:
    """When, with no new purchases, the in-window stats first stop qualifying for `tier`, and
    what they are then: the purchases age out of the window one by one, oldest first."""
    if not qualifies(tier, stats):
        return now, stats
    leaving = _leaving(purchases, months)
    for index, (leaves, _) in enumerate(leaving):
        if index + 1 < len(leaving) and leaving[index + 1][0] == leaves:
            continue  # purchases that leave together are counted out together
        remaining = _without(stats, [net for _, net in leaving[: index + 1]])
        if not qualifies(tier, remaining):
            return leaves, remaining
    raise ValueError("stats that qualify without any in-window purchase")


def stats_at(
    stats: QualifyingStats,
    purchases: Sequence[tuple[datetime, int]],
    moment: datetime,
    *,
    months: int,
) -> QualifyingStats:
    """The stats at a later `moment` if nothing is bought meanwhile."""
    return _without(stats, [net for leaves, net in _leaving(purchases, months) if leaves <= moment])


async def tier_progress(
    uow: UnitOfWork, member: Member, *, now: datetime, settings: Settings
) -> TierProgress:
    """Where the member stands. What keeps the tier is counted at `keep_by`, the moment the
    tier can go at the earliest: what must be bought before then, given what will have left
    the window by then."""
    tiers = await uow.program.tiers()
    current = _tier_of(tiers, member)
    months = settings.tier_window_months
    stats = await qualifying_stats(uow, member.id, now=now, months=months)
    higher = [tier for tier in tiers if tier.rank > current.rank]
    next_tier = min(higher, key=lambda tier: tier.rank) if higher else None
    progress = TierProgress(
        tier=current,
        next_tier=next_tier,
        spend_to_next_minor=_missing(next_tier.min_spend_minor, stats.spend_minor)
        if next_tier
        else None,
        visits_to_next=_missing(next_tier.min_visits, stats.visits) if next_tier else None,
        keep_spend_minor=None,
        keep_visits=None,
        keep_by=None,
        stats=stats,
        at_risk=False,
    )
    if current.rank == ENTRY_RANK:
        return progress
    grace = timedelta(days=settings.tier_grace_days)
    purchases = await uow.program.qualifying_purchases(
        member.id, since=window_start(now, months), until=now
    )
    at_risk = member.tier_at_risk_since is not None and not qualifies(current, stats)
    if at_risk:
        assert member.tier_at_risk_since is not None
        keep_by = member.tier_at_risk_since + grace
    else:
        keep_by = first_shortfall(current, stats, purchases, now=now, months=months)[0] + grace
    then = stats_at(stats, purchases, keep_by, months=months)
    return replace(
        progress,
        keep_spend_minor=_missing(current.min_spend_minor, then.spend_minor),
        keep_visits=_missing(current.min_visits, then.visits),
        keep_by=keep_by,
        at_risk=at_risk,
    )


# --- the merchant's tier ladder -------------------------------------------------------------------


@dataclass(frozen=True)
class TierSpec:
    rank: int
    names: Mapping[str, str]
    min_spend_minor: int = 0
    min_visits: int = 0
    earn_multiplier_pct: int = PCT
    birthday_multiplier_pct: int = PCT
    benefits: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rung:
    """A tier's place on the ladder, for checking thresholds before anything is written."""

    code: str
    rank: int
    min_spend_minor: int
    min_visits: int


THRESHOLDS = ("min_spend_minor", "min_visits")


def check_spec(code: str, spec: TierSpec) -> None:
    if not TIER_CODE.match(code):
        raise InvalidInput(
            "a tier code is 2-32 of a-z, 0-9 and _, starting with a letter", field="code"
        )
    if not 0 <= spec.rank <= MAX_RANK:
        raise InvalidInput(f"rank is 0-{MAX_RANK}", field="rank")
    for locale in SUPPORTED_LOCALES:
        name = spec.names.get(locale) or ""
        if not name.strip() or len(name) > NAME_MAX_LENGTH:
            raise InvalidInput(
                f"the tier needs a name of 1-{NAME_MAX_LENGTH} characters in {locale}",
                field="names",
            )
    for label, mapping in (("names", spec.names), ("benefits", spec.benefits)):
        unknown = sorted(set(mapping) - set(SUPPORTED_LOCALES))
        if unknown:
            raise InvalidInput(f"unsupported locale {unknown[0]!r}", field=label)
    for items in spec.benefits.values():
        if len(items) > MAX_BENEFITS or any(
            not item.strip() or len(item) > BENEFIT_MAX_LENGTH for item in items
        ):
            raise InvalidInput(
                f"up to {MAX_BENEFITS} benefits per locale, each 1-{BENEFIT_MAX_LENGTH} characters",
                field="benefits",
            )
    for name, limit in (("min_spend_minor", MAX_SPEND_MINOR), ("min_visits", MAX_VISITS)):
        if not 0 <= getattr(spec, name) <= limit:
            raise InvalidInput(f"{name} is 0-{limit}", field=name)
    for name in ("earn_multiplier_pct", "birthday_multiplier_pct"):
        if not PCT <= getattr(spec, name) <= MAX_MULTIPLIER_PCT:
            raise InvalidInput(f"{name} is {PCT} (x1) to {MAX_MULTIPLIER_PCT}", field=name)


def check_ladder(changed: Rung, others: Sequence[Rung]) -> None:
    """The entry tier has no thresholds; every other tier has one at least; and going up the
    ranks, each threshold in use is at least the one below (0 is "not by this measure")."""
    for name in THRESHOLDS:
        value = getattr(changed, name)
        if changed.rank == ENTRY_RANK:
            if value != 0:
                raise InvalidInput(
                    "the entry tier (rank 0) has no thresholds: it must be 0", field=name
                )
            continue
        if value == 0:
            continue
        for other in sorted(others, key=lambda rung: rung.rank):
            theirs = getattr(other, name)
            if other.rank == ENTRY_RANK or theirs == 0:
                continue
            if other.rank < changed.rank and value < theirs:
                raise InvalidInput(
                    f"{name} must be at least {theirs}, the threshold of {other.code} (rank {other.rank})",
                    field=name,
                )
            if other.rank > changed.rank and value > theirs:
                raise InvalidInput(
                    f"{name} must be at most {theirs}, the threshold of {other.code} (rank {other.rank})",
                    field=name,
                )
    if changed.rank != ENTRY_RANK and changed.min_spend_minor == 0 and changed.min_visits == 0:
        raise InvalidInput(
            "a tier above rank 0 needs a spend or a visits threshold", field="min_spend_minor"
        )


def _rung(code: str, tier: Tier | TierSpec) -> Rung:
    return Rung(
        code=code, rank=tier.rank, min_spend_minor=tier.min_spend_minor, min_visits=tier.min_visits
    )


@contextlib.asynccontextmanager
async def _rank_unique(uow: UnitOfWork, rank: int) -> AsyncIterator[None]:
    # Two merchants saving a tier at the same rank at once race past the check; the unique
    # constraint decides.
    try:
        yield
    except IntegrityError as exc:
        await uow.rollback()
        raise TierRankTaken(
            f"another tier has rank {rank}, or the tier was created meanwhile"
        ) from exc


async def list_tiers(uow: UnitOfWork) -> Sequence[Tier]:
    return await uow.program.tiers()


async def find_tier(uow: UnitOfWork, code: str) -> Tier:
    tier = await uow.program.tier_by_code(code)
    if tier is None:
        raise TierNotFound(f"no tier {code!r}")
    return tier


async def put_tier(
    uow: UnitOfWork, clock: Clock, code: str, spec: TierSpec, *, actor: str
) -> tuple[Tier, bool]:
    """Create the tier `code` or replace its settings. Returns the tier and whether it is new.
    Members keep their tier when the ladder changes; the next purchase or review moves them."""
    check_spec(code, spec)
    tiers = await uow.program.tiers()
    existing = next((tier for tier in tiers if tier.code == code), None)
    if existing is not None and existing.rank == ENTRY_RANK and spec.rank != ENTRY_RANK:
        raise InvalidInput("the entry tier stays at rank 0", field="rank")
    holder = next((tier for tier in tiers if tier.rank == spec.rank and tier.code != code), None)
    if holder is not None:
        raise TierRankTaken(f"rank {spec.rank} is taken by tier {holder.code!r}")
    check_ladder(_rung(code, spec), [_rung(tier.code, tier) for tier in tiers if tier.code != code])

    async with _rank_unique(uow, spec.rank):
        tier = await _save(uow, existing, code, spec, now=clock.now(), actor=actor)
        await uow.commit()
    return tier, existing is None


async def _save(uow: UnitOfWork, existing: Tier | None, code: str, spec: TierSpec, *, now: datetime, actor: str) -> Tier:
    """Write one checked tier and audit it; no commit."""
    values = {
        "rank": spec.rank,
        "names": dict(spec.names),
        "min_spend_minor": spec.min_spend_minor,
        "min_visits": spec.min_visits,
        "earn_multiplier_pct": spec.earn_multiplier_pct,
        "birthday_multiplier_pct": spec.birthday_multiplier_pct,
        "benefits": {locale: list(items) for locale, items in spec.benefits.items()},
    }
    async with _rank_unique(uow, spec.rank):
        if existing is None:
            tier = await uow.program.add_tier(
                Tier(code=code, **values, created_at=now, updated_at=now)
            )
        else:
            tier = existing
            changed = {
                name: value for name, value in values.items() if getattr(tier, name) != value
            }
            if not changed:
                return tier
            for name, value in changed.items():
                setattr(tier, name, value)
            tier.updated_at = now
            await uow.flush()
        uow.audit.record(
            at=now,
            actor=actor,
            action="tier.create" if existing is None else "tier.update",
            detail=json.dumps({"code": code, **values}, ensure_ascii=False),
        )
    return tier


# --- the whole ladder at once (the console's table) ----------------------------------------------


def ladder_problems(ladder: Mapping[str, TierSpec]) -> dict[str, InvalidInput]:
    """What is wrong with a whole proposed ladder, by tier code (the first problem of each):
    the checks put_tier makes of one tier, made of every tier against the others proposed."""
    problems: dict[str, InvalidInput] = {}
    ranks: dict[int, str] = {}
    for code, spec in ladder.items():
        try:
            check_spec(code, spec)
            if spec.rank in ranks:
                raise InvalidInput(f"rank {spec.rank} is taken by tier {ranks[spec.rank]!r}", field="rank")
            ranks[spec.rank] = code
        except InvalidInput as problem:
            problems[code] = problem
    if ladder and ENTRY_RANK not in ranks and not problems:
        lowest = min(ladder, key=lambda code: ladder[code].rank)
        problems[lowest] = InvalidInput("the ladder needs an entry tier at rank 0", field="rank")
    for code, spec in ladder.items():
        if code in problems:
            continue
        try:
            check_ladder(_rung(code, spec), [_rung(other, theirs) for other, theirs in ladder.items() if other != code])
        except InvalidInput as problem:
            problems[code] = problem
    return problems


@dataclass(frozen=True)
class LadderPreview:
    members: int
    up: int  # would qualify, under the proposed ladder, for a tier above the one they hold
    down: int  # hold a tier they would no longer qualify for (at risk, then one rank down)


async def preview_ladder(uow: UnitOfWork, clock: Clock, settings: Settings, ladder: Mapping[str, TierSpec]) -> LadderPreview:
    """How members' tiers would move if the proposed ladder were saved, from their qualifying
    stats now. Members keep their tier when the ladder changes; this counts who the next
    purchase would lift and who the next review would mark at risk. A member whose tier the
    proposal drops is counted against the entry tier."""
    now = clock.now()
    codes = {tier.id: tier.code for tier in await uow.program.tiers()}
    proposed = [Rung(code, spec.rank, spec.min_spend_minor, spec.min_visits) for code, spec in ladder.items()]
    by_code = {rung.code: rung for rung in proposed}
    entry = next((rung for rung in proposed if rung.rank == ENTRY_RANK), None)
    members = up = down = 0
    rows = await uow.program.standing_of_members(since=window_start(now, settings.tier_window_months), until=now)
    for tier_id, spend, visits in rows:
        members += 1
        held = by_code.get(codes.get(tier_id, ""), entry)
        if held is None or entry is None:
            continue
        stats = QualifyingStats(spend_minor=spend, visits=visits)
        if not qualifies(held, stats):
            down += 1
        elif max(rung.rank for rung in proposed if qualifies(rung, stats)) > held.rank:
            up += 1
    return LadderPreview(members=members, up=up, down=down)


async def put_ladder(uow: UnitOfWork, clock: Clock, ladder: Mapping[str, TierSpec], *, actor: str) -> list[Tier]:
    """Save a whole ladder in one transaction: the tiers named are created or replaced (tiers
    not named stay as they are and are checked with the others). Nothing is written when any
    tier is refused: the first problem is raised, its field prefixed with the tier's code."""
    current = {tier.code: tier for tier in await uow.program.tiers()}
    whole = {code: _spec_of(tier) for code, tier in current.items()} | dict(ladder)
    for code, spec in ladder.items():
        existing = current.get(code)
        if existing is not None and existing.rank == ENTRY_RANK and spec.rank != ENTRY_RANK:
            raise InvalidInput("the entry tier stays at rank 0", field=f"{code}.rank")
    problems = ladder_problems(whole)
    if problems:
        code, problem = next(iter(problems.items()))
        raise InvalidInput(str(problem), field=f"{code}.{problem.field}")
    now = clock.now()
    saved = []
    # Two tiers trading ranks would meet mid-way on the unique rank: refused as taken.
    async with _rank_unique(uow, 0):
        for code in ladder:
            saved.append(await _save(uow, current.get(code), code, ladder[code], now=now, actor=actor))
        await uow.commit()
    return saved


def _spec_of(tier: Tier) -> TierSpec:
    return TierSpec(
        rank=tier.rank,
        names=dict(tier.names),
        min_spend_minor=tier.min_spend_minor,
        min_visits=tier.min_visits,
        earn_multiplier_pct=tier.earn_multiplier_pct,
        birthday_multiplier_pct=tier.birthday_multiplier_pct,
        benefits={locale: list(items) for locale, items in (tier.benefits or {}).items()},
    )
