"""Which topics of nudges a member does not want (/settings in the chat).

Muting is per topic (loyalty.nudges.kinds.TOPICS), not per kind: members think in "points
reminders" and "offers", not in our kinds. Receipts of what the member did (points earned, a new
tier) have no topic and cannot be muted. The sender reads the mutes when it is about to send,
so muting also stops nudges already owed.
"""

from __future__ import annotations

from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidInput
from loyalty.nudges.kinds import TOPICS


async def mutes(uow: UnitOfWork, member: Member) -> frozenset[str]:
    """The topics the member muted."""
    return await uow.notifications.muted_topics(member.id)


async def set_muted(uow: UnitOfWork, clock: Clock, member: Member, topic: str, muted: bool) -> frozenset[str]:
    """Mute or unmute one topic and commit; the topics muted afterwards. Setting what is already
    set changes nothing (a double tap, an old message pressed again). An unknown topic is
    refused (InvalidInput), writes nothing and ends the transaction."""
    if topic not in TOPICS:
        await uow.rollback()  # the caller answers next: no transaction waits on it
        raise InvalidInput(f"topic is one of {', '.join(TOPICS)}", field="topic")
    if muted:
        await uow.notifications.mute(member.id, topic, at=clock.now())
    else:
        await uow.notifications.unmute(member.id, topic)
    await uow.commit()
    return await mutes(uow, member)
