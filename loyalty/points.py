"""A member's points as they and the merchant see them, and manual adjustments by staff."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from db.models import LedgerEntry, Member, Tier
from db.uow import UnitOfWork
from loyalty import ledger, tiers
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey, StoredAnswer, previous_answer, remember
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
) -> tuple[StoredAnswer, bool]:
    """Goodwill points or a correction by staff: audited, idempotent, never below zero."""
    now = clock.now()
    member = await uow.lock_member((await find_member(uow, member_number=member_number)).id)
    replay = await previous_answer(uow, idempotency)
    if replay is not None:
        return replay, True
    if points > 0:
        await ledger.credit(
            uow, member, points=points, kind="adjust", at=now, actor=actor, reason=reason, input_field="points",
            expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
        )
    else:
        await ledger.debit(uow, member, points=-points, kind="adjust", at=now, actor=actor, reason=reason)
    uow.audit.record(at=now, actor=actor, action="points.adjust", member_id=member.id, detail=f"{points:+d}: {reason}")
    answer = StoredAnswer(201, asdict(AdjustmentOutcome(member.member_number, points, member.points_balance)))
    remember(uow, idempotency, answer, at=now, member_id=member.id)
    await uow.commit()
    log.info("member %s adjusted by %+d points by %s", member.member_number, points, actor)
    return answer, False
