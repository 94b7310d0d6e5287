"""Reads of members' personal data through the API, in the audit trail: who read whose data.

The consent text promises members that their data is looked after; the audit trail answers "who
looked at this member, when, and how". One row per request, written in the request's own
transaction (one INSERT and the commit it already ends with, no extra round trip to open a
second one): a till's lookup before a purchase costs one small insert. A page of the member list
is one row naming the page, not a row per member on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from db.uow import UnitOfWork
from loyalty.clock import Clock

MEMBER_READ = "member.read"
MEMBERS_LISTED = "members.list"


async def record_member_read(uow: UnitOfWork, clock: Clock, *, actor: str, member_id: int | None, what: str) -> None:
    """`actor` read `what` of one member ("lookup by phone", "points"); no member: a miss."""
    uow.audit.record(at=clock.now(), actor=actor, action=MEMBER_READ, member_id=member_id, detail=what)
    await uow.commit()


async def record_members_listed(
    uow: UnitOfWork, clock: Clock, *, actor: str, page: int, page_size: int, numbers: Sequence[str]
) -> None:
    """`actor` read a page of the member list: the event names the member numbers it held."""
    detail = f"page {page} of {page_size}: " + (" ".join(numbers) or "none")
    uow.audit.record(at=clock.now(), actor=actor, action=MEMBERS_LISTED, detail=detail)
    await uow.commit()
