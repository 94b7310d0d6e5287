"""Purchases, their lines and refunds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class PurchaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
