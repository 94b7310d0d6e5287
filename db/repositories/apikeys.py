"""API keys: stored hashed, looked up by the hash of the presented key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.crypto import hash_api_key
from db.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        self._session.add(key)
        await self._session.flush()

    async def by_name(self, name: str) -> ApiKey | None:
        return (await self._session.scalars(select(ApiKey).where(ApiKey.name == name))).one_or_none()

    async def by_raw_key(self, raw_key: str) -> ApiKey | None:
        """The key with this secret, revoked or expired ones included (the caller decides)."""
        statement = select(ApiKey).where(ApiKey.key_hash == hash_api_key(raw_key))
        return (await self._session.scalars(statement)).one_or_none()

    async def touch(self, key_id: int, at: datetime, *, unless_since: datetime) -> bool:
        """Note a use at `at` unless one after `unless_since` is noted already; whether it
        wrote. Conditional, so processes racing on one key write it once."""
        result = await self._session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= unless_since),
            )
            .values(last_used_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def lock(self, key_id: int) -> None:
        """Serialise what one key does against a shared budget (the daily adjustment cap): a row
        lock on PostgreSQL; SQLite's transactions hold the database write lock already."""
        await self._session.execute(select(ApiKey.id).where(ApiKey.id == key_id).with_for_update())

    async def all(self) -> Sequence[ApiKey]:
        return (await self._session.scalars(select(ApiKey).order_by(ApiKey.name))).all()
