"""API keys: stored hashed, looked up by the hash of the presented key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
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

    async def active_by_raw_key(self, raw_key: str) -> ApiKey | None:
        statement = select(ApiKey).where(
            ApiKey.key_hash == hash_api_key(raw_key), ApiKey.revoked_at.is_(None)
        )
        return (await self._session.scalars(statement)).one_or_none()

    async def all(self) -> Sequence[ApiKey]:
        return (await self._session.scalars(select(ApiKey).order_by(ApiKey.name))).all()
