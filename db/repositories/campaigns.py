"""Campaigns and who they reach: creating, reading and changing campaigns, and choosing their audiences (loyalty/campaigns)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
