"""Messages owed to members (the outbox the bot drains)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
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
