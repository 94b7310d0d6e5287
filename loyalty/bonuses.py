"""Points for actions: signing up, the first purchase, completing the profile.

Each is granted at most once per member, whatever path triggers it (a till enrolment and a later
chat link both mean "signed up"): the grant is recorded under the idempotency table's unique
(scope, key), so a repeat, even a concurrent one, finds it there.
"""

from __future__ import annotations

import logging
from datetime import datetime

from db.models import LedgerKind, Member
from db.uow import UnitOfWork
from loyalty import earning, ledger
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember

log = logging.getLogger(__name__)

EVENTS = ("signup", "first_purchase", "profile_complete")


async def grant_event_bonus(
    uow: UnitOfWork,
    settings: Settings,
    member: Member,
    *,
    event: str,
    now: datetime,
    actor: str,
    input_field: str | None = None,
) -> int:
    """Credit the active bonus rule for `event` once; returns the points granted (0 if none).
    The caller holds the member's lock and commits. `input_field`: the request's field to name
    should the bonus take the member past the most points a member may hold."""
    if event not in EVENTS:
        raise ValueError(f"unknown bonus event {event!r}")
    key = IdempotencyKey(scope=f"bonus:{member.id}", key=event, fingerprint=event)
    if await previous_answer(uow, key) is not None:
        return 0
    rule = await earning.bonus_rule(uow, event=event, at=now)
    points = rule.points if rule is not None and rule.points else 0
    if points:
        await ledger.credit(
            uow, member, points=points, kind=LedgerKind.BONUS, at=now, actor=actor, reason=rule.name if rule else event,
            input_field=input_field,
            expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
        )
        log.info("member %s got %d bonus points for %s", member.member_number, points, event)
    # Remembered even when no rule paid out, so a rule created later does not pay members
    # retroactively for something they did before it existed.
    remember(uow, key, StoredAnswer(Outcome.done, {"points": points}), at=now, member_id=member.id)
    return points
