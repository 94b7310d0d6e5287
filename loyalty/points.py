"""A member's points as they and the merchant see them, and manual adjustments by staff."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from db.models import LedgerEntry, LedgerKind, Member, Notification, NotificationKind, NotificationStatus, Tier
from db.repositories.ledger import HistoryLine
from db.uow import UnitOfWork
from loyalty import ledger, tiers
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import AdjustmentCapExceeded
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.members import find_member

log = logging.getLogger(__name__)

RECENT_ENTRIES = 20


@dataclass(frozen=True)
class PointsSummary:
    member: Member
    balance: int
    available: int
    expiring: list[ledger.ExpiringPoints]
    progress: tiers.TierProgress
    recent: list[LedgerEntry]

    @property
    def tier(self) -> Tier:
        return self.progress.tier

    @property
    def next_expiry(self) -> ledger.ExpiringPoints | None:
        return self.expiring[0] if self.expiring else None


async def points_summary(uow: UnitOfWork, member: Member, *, now: datetime, settings: Settings) -> PointsSummary:
    return PointsSummary(
        member=member,
        balance=member.points_balance,
        available=await ledger.available(uow, member.id, at=now),
        expiring=await ledger.expiry_schedule(uow, member.id, at=now),
        progress=await tiers.tier_progress(uow, member, now=now, settings=settings),
        recent=list(await uow.ledger.recent(member.id, limit=RECENT_ENTRIES)),
    )


@dataclass(frozen=True)
class DailyCap:
    """At most `points` adjusted (absolute values added up) by one API key, or one staff member
    in the console, per local day."""

    points: int
    api_key_id: int | None = None
    staff_id: int | None = None


async def _check_cap(uow: UnitOfWork, cap: DailyCap, *, actor: str, points: int, now: datetime, zone: ZoneInfo) -> None:
    today = now.astimezone(zone).date()
    since = datetime.combine(today, time(0), tzinfo=zone)
    until = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
    used = await uow.ledger.adjusted_by(actor, since=since, until=until)
    if used + abs(points) > cap.points:
        raise AdjustmentCapExceeded(
            f"{'this API key' if cap.api_key_id is not None else 'one staff member'} may adjust at most {cap.points:,} points a day ({zone.key}); "
            f"{used:,} adjusted today, {abs(points):,} more asked",
            reason="daily_cap",
            cap=cap.points,
            used=used,
            requested=abs(points),
        )


@dataclass(frozen=True)
class AdjustmentOutcome:
    member_number: str
    points: int
    balance: int


async def adjust_points(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    *,
    member_number: str,
    points: int,
    reason: str,
    actor: str,
    idempotency: IdempotencyKey,
    cap: DailyCap | None = None,
    tell_member: bool = False,
) -> tuple[StoredAnswer, bool]:
    """Goodwill points or a correction by staff: audited, idempotent, never below zero, and
    within the caller's daily cap when it has one."""
    now = clock.now()
    if cap is not None:
        # Taken before the member's lock, always in this order: two adjustments by one key on
        # different members queue here, so together they cannot pass the cap.
        if cap.api_key_id is not None:
            await uow.api_keys.lock(cap.api_key_id)
        if cap.staff_id is not None:
            await uow.staff.lock(cap.staff_id)
    member = await uow.lock_member((await find_member(uow, member_number=member_number)).id)
    replay = await previous_answer(uow, idempotency)
    if replay is not None:
        return replay, True
    if cap is not None:
        await _check_cap(uow, cap, actor=actor, points=points, now=now, zone=settings.zone)
    await _post_adjustment(uow, settings, member, points=points, reason=reason, actor=actor, now=now)
    if tell_member:
        uow.notifications.add(
            Notification(
                member_id=member.id, kind=NotificationKind.POINTS_ADJUSTED,
                payload={"points": points, "balance": member.points_balance},
                status=NotificationStatus.PENDING, created_at=now,
            )
        )
    answer = StoredAnswer(Outcome.created, asdict(AdjustmentOutcome(member.member_number, points, member.points_balance)))
    remember(uow, idempotency, answer, at=now, member_id=member.id)
    await uow.commit()
    log.info("member %s adjusted by %+d points by %s", member.member_number, points, actor)
    return answer, False


async def _post_adjustment(
    uow: UnitOfWork, settings: Settings, member: Member, *, points: int, reason: str, actor: str, now: datetime
) -> None:
    if points > 0:
        await ledger.credit(
            uow, member, points=points, kind=LedgerKind.ADJUST, at=now, actor=actor, reason=reason,
            input_field="points",
            expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
        )
    else:
        await ledger.debit(uow, member, points=-points, kind=LedgerKind.ADJUST, at=now, actor=actor, reason=reason)
    uow.audit.record(at=now, actor=actor, action="points.adjust", member_id=member.id, detail=f"{points:+d}: {reason}")


async def apply_adjustment(
    uow: UnitOfWork, settings: Settings, *, member_number: str, points: int, reason: str, actor: str, now: datetime
) -> Member:
    """One adjustment of a bulk file, by the same rules as adjust_points (never below zero, never
    past the most a member may hold), in the caller's transaction: no commit, no idempotency
    record of its own (the file has one)."""
    member = await uow.lock_member((await find_member(uow, member_number=member_number)).id)
    await _post_adjustment(uow, settings, member, points=points, reason=reason, actor=actor, now=now)
    return member


# --- a member's own history, a page at a time ---------------------------------------------------

HISTORY_PAGE = 20


@dataclass(frozen=True)
class HistoryPage:
    lines: list[HistoryLine]  # newest first
    reward_names: dict[str, dict[str, str]]  # per locale, by reward code, for the redeemed ones
    next_before: int | None  # the cursor of the next (older) page; None: this is the last


async def history_page(
    uow: UnitOfWork, member: Member, *, before_id: int | None, limit: int = HISTORY_PAGE
) -> HistoryPage:
    """The member's movements older than entry `before_id` (the newest without it), with what
    each points at, as the console's member page shows them. A keyset page: entries posted
    meanwhile never shift a page the member is reading."""
    lines = await uow.ledger.history(member.id, limit=limit + 1, before_id=before_id)
    more = len(lines) > limit
    lines = lines[:limit]
    names: dict[str, dict[str, str]] = {}
    for code in {line.reward_code for line in lines if line.reward_code is not None}:
        reward = await uow.rewards.by_code(code)
        if reward is not None:
            names[code] = dict(reward.names)
    return HistoryPage(lines, names, lines[-1].entry.id if more else None)
