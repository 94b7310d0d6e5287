"""Nudges owed the way the sweeps owe them (a pending row with its natural key, a stale_after and
no deliver_after), and nudges already sent, for the weekly cap to count."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from db.models import Member, Notification
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.nudges.kinds import KINDS, dedupe_key

_subjects = itertools.count(1)


def payload_for(kind: str, **values: Any) -> dict[str, Any]:
    """The payload a sweep writes for `kind`, with sample values unless given."""
    defaults: dict[str, dict[str, Any]] = {
        "points_expiring": {"points": 1200, "expires_at": "2027-01-01T00:00:00+08:00", "lead_days": 30},
        "coupon_expiring": {"coupon_id": 1},
        "birthday": {"year": 2026},
        "anniversary": {"years": 2},
        "tier_at_risk": {"tier": "gold", "at_risk_since": "2026-11-01T00:00:00+00:00"},
        "win_back": {"last_purchase_at": "2026-09-01T10:00:00+00:00"},
    }
    return {**defaults.get(kind, {}), **values}


def nudge(
    member: Member,
    kind: str,
    *,
    now: datetime,
    stale_in: timedelta | None = timedelta(days=3),
    subject: str | None = None,
    **payload: Any,
) -> Notification:
    """A nudge as a sweep writes it, not yet added anywhere."""
    return Notification(
        member_id=member.id,
        kind=kind,
        dedupe_key=dedupe_key(kind, member.id, subject or f"s{next(_subjects)}"),
        payload=payload_for(kind, **payload),
        status="pending",
        attempts=0,
        created_at=now,
        stale_after=now + stale_in if stale_in is not None else None,
    )


async def owe(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    member: Member,
    kind: str,
    *,
    stale_in: timedelta | None = timedelta(days=3),
    **payload: Any,
) -> Notification:
    """Write one pending nudge now; the row as stored."""
    row = nudge(member, kind, now=clock.now(), stale_in=stale_in, **payload)
    async with uow_factory() as uow:
        uow.notifications.add(row)
        await uow.commit()
    return row


async def already_sent(
    uow_factory: UnitOfWorkFactory, member: Member, kind: str, *, at: datetime, **payload: Any
) -> Notification:
    """A nudge (or receipt) that went out at `at`."""
    row = nudge(member, kind, now=at, **payload) if kind in KINDS else Notification(
        member_id=member.id, kind=kind, payload=payload, status="pending", attempts=0, created_at=at
    )
    row.status, row.sent_at, row.attempts = "sent", at, 1
    async with uow_factory() as uow:
        uow.notifications.add(row)
        await uow.commit()
    return row


async def set_member(uow_factory: UnitOfWorkFactory, member: Member, **values: Any) -> None:
    """Change columns of a member row directly (its time zone, say)."""
    async with uow_factory() as uow:
        await uow.session.execute(update(Member).where(Member.id == member.id).values(**values))
        await uow.commit()


async def stored(uow_factory: UnitOfWorkFactory, notification_id: int) -> Notification:
    async with uow_factory() as uow:
        row = await uow.session.scalar(select(Notification).where(Notification.id == notification_id))
        assert row is not None, notification_id
        return row

