"""Member tags: labels the merchant puts on members ("vip", "office-lunch") so campaigns can
choose audiences by them.

A member's tags are replaced as a whole, never edited one by one, so a back office that keeps
its own list can simply send it again: the same list twice changes nothing and audits nothing.
Tags are short ASCII words, compared exactly: "VIP" from a back office is stored as "vip", so a
campaign for "vip" finds every member however the tag was typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidTag

TAG = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_TAGS = 20


def clean_tags(tags: Sequence[str]) -> list[str]:
    """The tags as stored: trimmed, lower case, each once, sorted. Refuses the whole list when
    one tag is bad, naming it (tags are the merchant's words, never personal data)."""
    cleaned: set[str] = set()
    for index, raw in enumerate(tags):
        tag = raw.strip().lower()
        if not TAG.match(tag):
            raise InvalidTag(
                f"tag {raw!r} is not valid: use 1-32 of a-z 0-9 - _", field=f"tags.{index}"
            )
        cleaned.add(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidTag(f"a member has at most {MAX_TAGS} tags, not {len(cleaned)}", field="tags")
    return sorted(cleaned)


async def member_tags(uow: UnitOfWork, member: Member) -> list[str]:
    return await uow.members.tags_of(member.id)


async def set_member_tags(
    uow: UnitOfWork, clock: Clock, member: Member, tags: Sequence[str], *, actor: str
) -> list[str]:
    """Replace the member's tags and commit; audited when they changed. Checks every tag
    before writing any."""
    wanted = clean_tags(tags)
    # Two back offices replacing one member's tags at once queue here, so the last one wins
    # whole instead of the two lists mixing.
    await uow.lock_member(member.id)
    current = await uow.members.tags_of(member.id)
    if current != wanted:
        now = clock.now()
        await uow.members.replace_tags(member.id, wanted, at=now)
        uow.audit.record(
            at=now,
            actor=actor,
            action="member.tags",
            member_id=member.id,
            detail=" ".join(wanted) or "(none)",
        )
    await uow.commit()
    return wanted
