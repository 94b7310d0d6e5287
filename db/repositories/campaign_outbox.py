"""The campaign outbox (campaign_recipients) as the broadcast sender sees it: claiming due rows, recording what became of them, handing back rows a dead sender left."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class CampaignOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
