"""Sign-in links and sessions of the web console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ConsoleLink, ConsoleSession, Staff


class ConsoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add_link(self, link: ConsoleLink) -> None:
        self._session.add(link)

    async def link(self, token_hash: str) -> ConsoleLink | None:
        statement = select(ConsoleLink).where(ConsoleLink.token_hash == token_hash).execution_options(
            populate_existing=True
        )
        return (await self._session.scalars(statement)).one_or_none()

    async def use_link(self, token_hash: str, now: datetime) -> bool:
        """Mark the link used, if it is unused and unexpired, in one statement: of two
        redemptions at once, the database lets exactly one change the row."""
        result = await self._session.execute(
            update(ConsoleLink)
            .where(ConsoleLink.token_hash == token_hash, ConsoleLink.used_at.is_(None), ConsoleLink.expires_at > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def add_session(self, console_session: ConsoleSession) -> None:
        self._session.add(console_session)

    async def session_with_staff(self, id_hash: str) -> tuple[ConsoleSession, Staff] | None:
        """The session and its staff member as they are now (never from the identity map: a
        role changed by another process counts at once)."""
        statement = (
            select(ConsoleSession, Staff)
            .join(Staff, Staff.id == ConsoleSession.staff_id)
            .where(ConsoleSession.id_hash == id_hash)
            .execution_options(populate_existing=True)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def touch(self, id_hash: str, now: datetime) -> None:
        await self._session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id_hash == id_hash)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )

    async def set_locale(self, id_hash: str, locale: str) -> None:
        await self._session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id_hash == id_hash)
            .values(locale=locale)
            .execution_options(synchronize_session=False)
        )

    async def end_session(self, id_hash: str) -> bool:
        result = await self._session.execute(
            delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash).execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def end_sessions_of(self, staff_id: int) -> int:
        """Sign a staff member out everywhere, and void the links they have not used yet."""
        await self._session.execute(
            delete(ConsoleLink).where(ConsoleLink.staff_id == staff_id).execution_options(synchronize_session=False)
        )
        result = await self._session.execute(
            delete(ConsoleSession).where(ConsoleSession.staff_id == staff_id).execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_ended(self, now: datetime, idle_since: datetime) -> tuple[int, int]:
        """Delete links past their expiry (used or not) and sessions past either expiry; how many
        of each."""
        links = await self._session.execute(
            delete(ConsoleLink).where(ConsoleLink.expires_at <= now).execution_options(synchronize_session=False)
        )
        sessions = await self._session.execute(
            delete(ConsoleSession)
            .where((ConsoleSession.expires_at <= now) | (ConsoleSession.last_seen_at <= idle_since))
            .execution_options(synchronize_session=False)
        )
        return int(links.rowcount), int(sessions.rowcount)  # type: ignore[attr-defined]
