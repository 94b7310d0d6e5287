"""Members. Personal fields are encrypted here and only here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.crypto import FieldCipher
from db.models import Member, MemberTag


class MemberRepository:
    def __init__(self, session: AsyncSession, cipher: FieldCipher) -> None:
        self._session = session
        self._cipher = cipher

    async def add(self, member: Member) -> Member:
        self._session.add(member)
        await self._session.flush()
        return member

    async def by_id(self, member_id: int) -> Member | None:
        return await self._session.get(Member, member_id)

    async def by_number(self, member_number: str, *, lock: bool = False) -> Member | None:
        return await self._one(select(Member).where(Member.member_number == member_number), lock)

    async def by_telegram_id(self, telegram_id: int, *, lock: bool = False) -> Member | None:
        return await self._one(select(Member).where(Member.telegram_id == telegram_id), lock)

    async def by_phone(self, e164: str, *, lock: bool = False) -> Member | None:
        # While keys rotate a member may still be indexed under an old key: look under each.
        indexes = self._cipher.blind_indexes(e164)
        where = Member.phone_index == indexes[0] if len(indexes) == 1 else Member.phone_index.in_(indexes)
        return await self._one(select(Member).where(where), lock)

    async def phones_taken(self, e164s: Sequence[str]) -> set[str]:
        """Which of these phone numbers belong to a member already: one query per 500 numbers."""
        by_index = {index: e164 for e164 in e164s for index in self._cipher.blind_indexes(e164)}
        indexes = list(by_index)
        taken: set[str] = set()
        for start in range(0, len(indexes), 500):
            found = await self._session.scalars(
                select(Member.phone_index).where(Member.phone_index.in_(indexes[start : start + 500]))
            )
            taken.update(by_index[index] for index in found if index is not None)
        return taken

    async def number_taken(self, member_number: str) -> bool:
        return await self.by_number(member_number) is not None

    def set_phone(self, member: Member, e164: str) -> None:
        member.phone_index = self._cipher.blind_index(e164)
        member.phone_encrypted = self._cipher.encrypt(e164)

    def phone_of(self, member: Member) -> str | None:
        if member.phone_encrypted is None:
            return None
        return self._cipher.decrypt(member.phone_encrypted)

    def set_birthday(self, member: Member, born: date | None) -> None:
        """Month and day in plain, for the birthday sweep and audiences; the full date (the
        year tells the age) only encrypted, and without a blind index: nothing looks it up."""
        member.birthday_month = born.month if born else None
        member.birthday_day = born.day if born else None
        member.birthday_encrypted = self._cipher.encrypt(born.isoformat()) if born else None

    def birthday_of(self, member: Member) -> date | None:
        if member.birthday_encrypted is None:
            return None
        return date.fromisoformat(self._cipher.decrypt(member.birthday_encrypted))

    def set_first_name(self, member: Member, name: str | None) -> bool:
        """Keep the Telegram first name they go by now; whether it changed (so the caller knows
        whether there is anything to commit). Without a blind index: nothing looks it up."""
        name = name.strip() if name else None
        if self.first_name_of(member) == (name or None):
            return False
        member.first_name_encrypted = self._cipher.encrypt(name) if name else None
        return True

    def first_name_of(self, member: Member) -> str | None:
        return self.name_of(member.first_name_encrypted)

    def name_of(self, token: str | None) -> str | None:
        """A first name read as a column among others (a campaign's recipients), decrypted."""
        return self._cipher.decrypt(token) if token is not None else None

    def forget_personal_fields(self, member: Member) -> None:
        """Every personal field of the row, gone for good (loyalty/erasure.py): the phone and its
        index (so the number can join again), the chat, the birthday, the first name, the city,
        where they came from and where they were last seen."""
        member.phone_index = None
        member.phone_encrypted = None
        member.telegram_id = None
        self.set_birthday(member, None)
        member.first_name_encrypted = None
        member.city = None
        member.start_payload = None
        member.timezone = None
        member.chat_blocked_at = None
        member.tier_at_risk_since = None

    async def page(self, *, offset: int, limit: int) -> tuple[Sequence[Member], int]:
        """Members whose data was not erased, oldest first."""
        current = Member.erased_at.is_(None)
        total = await self._session.scalar(select(func.count()).select_from(Member).where(current))
        rows = await self._session.scalars(
            select(Member).where(current).order_by(Member.id).offset(offset).limit(limit)
        )
        return rows.all(), int(total or 0)

    async def tags_of(self, member_id: int) -> list[str]:
        rows = await self._session.scalars(
            select(MemberTag.tag).where(MemberTag.member_id == member_id).order_by(MemberTag.tag)
        )
        return list(rows)

    async def replace_tags(self, member_id: int, tags: Sequence[str], *, at: datetime) -> None:
        """Make the member's tags exactly `tags`; tags kept keep when they were first given."""
        wanted = set(tags)
        current = set(await self.tags_of(member_id))
        gone = current - wanted
        if gone:
            await self._session.execute(
                delete(MemberTag).where(MemberTag.member_id == member_id, MemberTag.tag.in_(gone))
            )
        self._session.add_all(
            MemberTag(member_id=member_id, tag=tag, created_at=at) for tag in sorted(wanted - current)
        )
        await self._session.flush()

    async def _one(self, statement: Select[Member], lock: bool) -> Member | None:
        if lock:
            # The same lock as UnitOfWork.lock_member, taken by the lookup itself.
            statement = statement.with_for_update(key_share=True).execution_options(populate_existing=True)
        return (await self._session.scalars(statement)).one_or_none()
