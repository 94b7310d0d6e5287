"""Members blocked by staff: a blocked member earns and redeems nothing (a till's purchase, a
reward, a coupon are refused with MemberBlocked) until unblocked; their points, history and
chat stay as they were."""

from __future__ import annotations

import logging

from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import MemberBlocked

log = logging.getLogger(__name__)


def refuse_if_blocked(member: Member) -> None:
    if member.blocked_at is not None:
        raise MemberBlocked(f"member {member.member_number} is blocked: they earn and redeem nothing until unblocked")


async def set_blocked(uow: UnitOfWork, clock: Clock, member_id: int, *, blocked: bool, actor: str) -> Member:
    """Block or unblock the member; audited under `actor`. Asking for the state the member is
    already in writes nothing. Commits."""
    now = clock.now()
    member = await uow.lock_member(member_id)
    if (member.blocked_at is not None) == blocked:
        return member
    member.blocked_at = now if blocked else None
    member.updated_at = now
    uow.audit.record(at=now, actor=actor, action="member.block" if blocked else "member.unblock", member_id=member.id)
    await uow.commit()
    log.info("member %s %s by %s", member.member_number, "blocked" if blocked else "unblocked", actor)
    return member
