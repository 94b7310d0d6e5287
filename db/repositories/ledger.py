"""The points ledger: entries, lots and the debits that consume lots."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
