"""Messages owed to members (the outbox the bot drains)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
