"""Staff accounts: Telegram users the owner granted a role in the chat."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Staff


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_telegram_id(self, telegram_id: int) -> Staff | None:
        # populate_existing: a role changed by another process is read fresh, never from the
        # session's identity map.
        statement = select(Staff).where(Staff.telegram_id == telegram_id).execution_options(populate_existing=True)
        return (await self._session.scalars(statement)).one_or_none()

    async def lock(self, staff_id: int) -> None:
        """Serialise what one staff member does against a shared budget (the daily adjustment
        cap), as ApiKeyRepository.lock does for a key."""
        await self._session.execute(select(Staff.id).where(Staff.id == staff_id).with_for_update())

    async def lock_owners(self) -> int:
        """How many owners there are, their rows locked until the transaction ends: two owners
        demoting or removing each other at once are served one after the other, and the second
        sees that the first left them the last one."""
        rows = await self._session.scalars(select(Staff.id).where(Staff.role == "owner").with_for_update())
        return len(rows.all())

    async def by_id(self, staff_id: int) -> Staff | None:
        statement = select(Staff).where(Staff.id == staff_id).execution_options(populate_existing=True)
        return (await self._session.scalars(statement)).one_or_none()

    async def all(self) -> Sequence[Staff]:
        return (await self._session.scalars(select(Staff).order_by(Staff.role, Staff.name, Staff.id))).all()

    async def add(self, staff: Staff) -> bool:
        """Insert in a savepoint; False (nothing kept) when the Telegram id is already staff."""
        try:
            async with self._session.begin_nested():
                self._session.add(staff)
        except IntegrityError:
            return False
        return True

    async def remove(self, telegram_id: int) -> bool:
        result = await self._session.execute(delete(Staff).where(Staff.telegram_id == telegram_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
