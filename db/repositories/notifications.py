"""Messages owed to members (the outbox the bot drains), and the topics members muted.

A row goes pending -> sending (claimed by one sender) -> sent | skipped | failed, or back to
pending with `deliver_after` when it is held (quiet hours, the weekly cap) or retried. Every
move out of `sending` names the claim it ends (`claimed_at`), so a sender that lost its claim
(recovered as crashed) cannot overwrite what happened to the row since.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import MemberMute, Notification

ERROR_MAX_LENGTH = 300


def _clip(error: str | None) -> str | None:
    return error[:ERROR_MAX_LENGTH] if error else None


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, notification: Notification) -> None:
        self._session.add(notification)

    # --- the sender's side ----------------------------------------------------------------------

    async def get(self, notification_id: int) -> Notification | None:
        return await self._session.get(Notification, notification_id, populate_existing=True)

    async def due(self, *, now: datetime, limit: int) -> Sequence[int]:
        """Ids of the rows ready to go: pending and not held until later, oldest first."""
        statement = (
            select(Notification.id)
            .where(
                Notification.status == "pending",
                or_(Notification.deliver_after.is_(None), Notification.deliver_after <= now),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
        return list(await self._session.scalars(statement))

    async def claim(self, notification_id: int, *, now: datetime) -> Notification | None:
        """pending -> sending for this sender only: a conditional UPDATE, so of two senders
        racing for one row exactly one gets it (the other's UPDATE matches nothing). The row as
        claimed, or None when another sender took it or it is no longer due."""
        result = await self._session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "pending",
                or_(Notification.deliver_after.is_(None), Notification.deliver_after <= now),
            )
            .values(status="sending", claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await self._session.get(Notification, notification_id, populate_existing=True)

    async def finish(
        self,
        notification_id: int,
        *,
        claimed_at: datetime,
        status: str,
        at: datetime,
        error: str | None = None,
    ) -> bool:
        """End a claim: sent, skipped or failed, one attempt more. False when the claim was
        already ended by someone else (recovered after looking crashed)."""
        result = await self._session.execute(
            update(Notification)
            .where(*_still_claimed(notification_id, claimed_at))
            .values(
                status=status,
                sent_at=at if status == "sent" else None,
                attempts=Notification.attempts + 1,
                last_error=_clip(error),
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def hold(
        self,
        notification_id: int,
        *,
        claimed_at: datetime,
        until: datetime | None,
        error: str | None = None,
        attempted: bool = False,
    ) -> bool:
        """Give a claimed row back to the outbox, not before `until` (None: at once). A hold for
        quiet hours or the cap is no attempt; a retry after an error is."""
        values: dict[str, object] = {
            "status": "pending", "deliver_after": until, "last_error": _clip(error)
        }
        if attempted:
            values["attempts"] = Notification.attempts + 1
        result = await self._session.execute(
            update(Notification)
            .where(*_still_claimed(notification_id, claimed_at))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def fail_abandoned(self, *, claimed_before: datetime, error: str) -> int:
        """Rows left in `sending` by a sender that crashed (claimed before `claimed_before`):
        failed, never sent again. How many."""
        result = await self._session.execute(
            update(Notification)
            .where(Notification.status == "sending", Notification.claimed_at < claimed_before)
            .values(status="failed", last_error=_clip(error))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def sent_times(
        self, member_id: int, *, kinds: Collection[str], since: datetime, besides: int | None = None
    ) -> list[datetime]:
        """When messages of `kinds` went to the member after `since`, oldest first: what the
        weekly cap counts. A row another sender is sending right now counts as sent when it was
        claimed, so two senders deciding for one member cannot both take the last place (the
        caller holds the member's lock); `besides` is the row being decided."""
        went = func.coalesce(Notification.sent_at, Notification.claimed_at)
        statement = (
            select(went)
            .where(
                Notification.member_id == member_id,
                or_(
                    (Notification.status == "sent") & (Notification.sent_at > since),
                    (Notification.status == "sending") & (Notification.claimed_at > since),
                ),
                Notification.kind.in_(sorted(kinds)),
            )
            .order_by(went)
        )
        if besides is not None:
            statement = statement.where(Notification.id != besides)
        return [moment for moment in await self._session.scalars(statement) if moment is not None]

    # --- what rules read and write ----------------------------------------------------------------

    async def for_member(self, member_id: int) -> Sequence[Notification]:
        statement = select(Notification).where(Notification.member_id == member_id).order_by(Notification.id)
        return (await self._session.scalars(statement)).all()

    async def exists(self, dedupe_key: str) -> bool:
        statement = select(Notification.id).where(Notification.dedupe_key == dedupe_key)
        return (await self._session.scalar(statement)) is not None

    async def count_since(self, member_id: int, kind: str, *, since: datetime) -> int:
        """How many messages of `kind` were owed to the member from `since` on (any status:
        a push the member was already given counts, whether or not it has gone out yet)."""
        statement = select(func.count()).select_from(Notification).where(
            Notification.member_id == member_id, Notification.kind == kind, Notification.created_at >= since
        )
        return int(await self._session.scalar(statement) or 0)

    async def add_once(self, notification: Notification) -> bool:
        """Add a message with a dedupe key in a savepoint; False when that key is already owed."""
        try:
            async with self._session.begin_nested():
                self._session.add(notification)
        except IntegrityError:
            return False
        return True

    # --- topics a member muted (/settings) --------------------------------------------------------

    async def muted_topics(self, member_id: int) -> frozenset[str]:
        statement = select(MemberMute.topic).where(MemberMute.member_id == member_id)
        return frozenset(await self._session.scalars(statement))

    async def mute(self, member_id: int, topic: str, *, at: datetime) -> None:
        """Mute a topic; already muted (a double tap, another process) is fine."""
        try:
            async with self._session.begin_nested():
                self._session.add(MemberMute(member_id=member_id, topic=topic, created_at=at))
        except IntegrityError:
            pass

    async def unmute(self, member_id: int, topic: str) -> None:
        await self._session.execute(
            delete(MemberMute).where(MemberMute.member_id == member_id, MemberMute.topic == topic)
        )


def _still_claimed(notification_id: int, claimed_at: datetime) -> tuple[ColumnElement[bool], ...]:
    """The row is still in the claim this sender made (not ended, nor recovered by another)."""
    return (
        Notification.id == notification_id,
        Notification.status == "sending",
        Notification.claimed_at == claimed_at,
    )
