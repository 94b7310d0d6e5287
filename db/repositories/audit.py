"""The audit trail of staff and API actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEvent


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def record(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        member_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        self._session.add(
            AuditEvent(at=at, actor=actor, action=action, member_id=member_id, detail=detail)
        )

    async def for_member(self, member_id: int) -> Sequence[AuditEvent]:
        statement = select(AuditEvent).where(AuditEvent.member_id == member_id).order_by(AuditEvent.id)
        return (await self._session.scalars(statement)).all()
