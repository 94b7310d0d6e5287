"""The member a member screen acts for: always the caller's own membership, from the signed
init data, never an id from the query or the body."""

from __future__ import annotations

from api.webapp.auth import AppCaller
from db.models import Member


def member_of(caller: AppCaller) -> Member:
    """The caller's membership; `MemberCaller` lets only members through to the routes."""
    if caller.member is None:  # pragma: no cover - member_caller refused them already
        raise RuntimeError("a member screen reached without a member")
    return caller.member
