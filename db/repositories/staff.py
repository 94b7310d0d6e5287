"""Staff accounts: Telegram users the owner granted a role in the chat."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
