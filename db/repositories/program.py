"""The program's configuration as data: tiers, earning rules, stores."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Tier


class ProgramRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def tiers(self) -> Sequence[Tier]:
        """All tiers, lowest rank first."""
        return (await self._session.scalars(select(Tier).order_by(Tier.rank))).all()

    async def entry_tier(self) -> Tier:
        tier = await self._session.scalar(select(Tier).where(Tier.rank == 0))
        if tier is None:
            raise LookupError("no entry tier (rank 0) is configured")
        return tier

    async def tier(self, tier_id: int) -> Tier | None:
        return await self._session.get(Tier, tier_id)
