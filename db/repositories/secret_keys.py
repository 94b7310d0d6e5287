"""What the database knows of SECRET_KEY (the fingerprints it is written with) and the
encrypted values themselves, read and rewritten in batches for a key rotation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from db.encrypted_columns import EncryptedColumn
from db.engine import on_postgres
from db.models import SecretKeyFingerprint

# The key of the PostgreSQL advisory lock that serialises deciding which keys the database is
# written with (the ASCII of "keycheck").
KEY_CHECK_LOCK_KEY = 0x6B6579636865636B


@dataclass(frozen=True)
class EncryptedValue:
    id: int
    token: str


@dataclass(frozen=True)
class Rewrite:
    id: int
    old_token: str
    new_token: str
    new_index: str | None


class SecretKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self) -> None:
        """Hold the key decision for the rest of this transaction: two processes opening an empty
        database with different keys must not both record theirs. PostgreSQL: an advisory
        transaction lock; SQLite: every write transaction already holds the write lock."""
        if on_postgres(self._session):
            await self._session.execute(select(func.pg_advisory_xact_lock(KEY_CHECK_LOCK_KEY)))

    async def fingerprints(self) -> frozenset[str]:
        rows = await self._session.scalars(select(SecretKeyFingerprint.fingerprint))
        return frozenset(rows)

    async def record(self, fingerprints: Iterable[str], *, at: datetime) -> None:
        known = await self.fingerprints()
        self._session.add_all(
            SecretKeyFingerprint(fingerprint=each, recorded_at=at) for each in sorted(set(fingerprints) - known)
        )
        await self._session.flush()

    async def keep_only(self, fingerprint: str, *, at: datetime) -> None:
        await self.record([fingerprint], at=at)
        await self._session.execute(
            delete(SecretKeyFingerprint).where(SecretKeyFingerprint.fingerprint != fingerprint)
        )

    async def sample(self, column: EncryptedColumn) -> str | None:
        """One stored value of the column (the first row's), or None when it holds none."""
        key, value, _ = column.sql_columns()
        return await self._session.scalar(select(value).where(value.is_not(None)).order_by(key).limit(1))

    async def count(self, column: EncryptedColumn) -> int:
        _, value, _ = column.sql_columns()
        return int(await self._session.scalar(select(func.count()).where(value.is_not(None))) or 0)

    async def batch(self, column: EncryptedColumn, *, after_id: int, limit: int) -> Sequence[EncryptedValue]:
        """The next `limit` stored values of the column by primary key, after `after_id`."""
        key, value, _ = column.sql_columns()
        rows = await self._session.execute(
            select(key, value).where(key > after_id, value.is_not(None)).order_by(key).limit(limit)
        )
        return [EncryptedValue(id=row[0], token=row[1]) for row in rows]

    async def rewrite(self, column: EncryptedColumn, rewrites: Sequence[Rewrite]) -> None:
        """Store each new value (and its index) in one UPDATE per row, only where the row still
        holds the value that was read: a value the program wrote since is already current and
        must not be replaced by an old one."""
        if not rewrites:
            return
        key, value, index = column.sql_columns()
        values: dict[str, BindParameter[Any]] = {value.name: bindparam("new_token")}
        if index is not None:
            values[index.name] = bindparam("new_index")
        statement = (
            column.sql_table()
            .update()
            .where(key == bindparam("row_id"), value == bindparam("old_token"))
            .values(values)
        )
        connection = await self._session.connection()
        await connection.execute(
            statement,
            [
                {"row_id": each.id, "old_token": each.old_token, "new_token": each.new_token,
                 "new_index": each.new_index}
                for each in rewrites
            ],
        )
