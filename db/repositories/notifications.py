"""Messages owed to members (the outbox the bot drains)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Member, Notification


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, notification: Notification) -> None:
        self._session.add(notification)

    async def pending(self, *, limit: int) -> Sequence[tuple[Notification, Member]]:
        statement = (
            select(Notification, Member)
            .join(Member, Member.id == Notification.member_id)
            .where(Notification.status == "pending")
            .order_by(Notification.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await self._session.execute(statement)).all()]

    async def mark(
        self, notification_id: int, *, status: str, at: datetime, error: str | None = None
    ) -> None:
        await self._session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(
                status=status,
                sent_at=at if status == "sent" else None,
                attempts=Notification.attempts + 1,
                last_error=error[:300] if error else None,
            )
        )

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
