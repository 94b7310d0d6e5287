"""Answers to earlier writes, replayed for repeated idempotency keys."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
