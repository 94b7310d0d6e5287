"""The reward catalogue and members' redemptions of it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class RewardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
