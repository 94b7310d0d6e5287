"""The reward catalogue and members' redemptions of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Member, Reward, RewardRedemption, Store


def _on_offer(now: datetime) -> ColumnElement[bool]:
    """Active and inside its window. The window is half-open: from `active_from` (included)
    until `active_until` (excluded), so back-to-back windows never overlap."""
    return and_(
        Reward.active.is_(True),
        or_(Reward.active_from.is_(None), Reward.active_from <= now),
        or_(Reward.active_until.is_(None), Reward.active_until > now),
    )


class RewardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- the catalogue ---------------------------------------------------------------------

    async def add(self, reward: Reward) -> Reward:
        self._session.add(reward)
        await self._session.flush()
        return reward

    async def by_id(self, reward_id: int) -> Reward | None:
        # Fresh from the database even if this session read it before: stock and prices change.
        return await self._session.get(Reward, reward_id, populate_existing=True)

    async def by_code(self, code: str) -> Reward | None:
        return (await self._session.scalars(select(Reward).where(Reward.code == code))).one_or_none()

    async def page(
        self, *, offset: int, limit: int, active: bool | None = None
    ) -> tuple[Sequence[Reward], int]:
        """Every reward (the merchant's view), oldest first."""
        where = [] if active is None else [Reward.active.is_(active)]
        total = await self._session.scalar(select(func.count()).select_from(Reward).where(*where))
        rows = await self._session.scalars(
            select(Reward).where(*where).order_by(Reward.id).offset(offset).limit(limit)
        )
        return rows.all(), int(total or 0)

    async def on_offer(
        self, *, now: datetime, offset: int = 0, limit: int | None = None, max_price: int | None = None
    ) -> tuple[Sequence[Reward], int]:
        """Rewards members can see now, cheapest first, and how many there are in all."""
        where = [_on_offer(now)]
        if max_price is not None:
            where.append(Reward.points_price <= max_price)
        total = await self._session.scalar(select(func.count()).select_from(Reward).where(*where))
        rows = await self._session.scalars(
            select(Reward).where(*where).order_by(Reward.points_price, Reward.id).offset(offset).limit(limit)
        )
        return rows.all(), int(total or 0)

    async def take_one(self, reward_id: int) -> bool:
        """Decrement a limited stock by one, only if some is left.

        A single conditional UPDATE: on PostgreSQL a second transaction waits on the row lock and
        then re-checks `stock > 0` against the committed value, so two members racing for the
        last unit get exactly one success; SQLite serialises writers anyway."""
        result = await self._session.execute(
            update(Reward)
            .where(Reward.id == reward_id, Reward.stock > 0)
            .values(stock=Reward.stock - 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def refresh(self, reward: Reward) -> None:
        await self._session.refresh(reward)

    # --- redemptions -----------------------------------------------------------------------

    async def add_redemption(self, redemption: RewardRedemption) -> bool:
        """Insert in a savepoint; False (and nothing kept) when the code is already taken, so
        the caller can retry with a new code without losing its transaction."""
        try:
            async with self._session.begin_nested():
                self._session.add(redemption)
        except IntegrityError:
            return False
        return True

    async def redemption(self, redemption_id: int) -> RewardRedemption | None:
        return await self._session.get(RewardRedemption, redemption_id)

    async def redemption_by_code(self, code: str) -> RewardRedemption | None:
        statement = select(RewardRedemption).where(RewardRedemption.code == code)
        return (await self._session.scalars(statement)).one_or_none()

    async def details_by_code(self, code: str) -> tuple[RewardRedemption, Reward, str, str | None] | None:
        """A redemption with its reward, the member's number and the store it was used in."""
        statement = (
            select(RewardRedemption, Reward, Member.member_number, Store.code)
            .join(Reward, Reward.id == RewardRedemption.reward_id)
            .join(Member, Member.id == RewardRedemption.member_id)
            .outerjoin(Store, Store.id == RewardRedemption.used_store_id)
            .where(RewardRedemption.code == code)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1], row[2], row[3])

    async def mark_used(self, redemption_id: int, *, at: datetime, store_id: int | None) -> bool:
        """issued -> used, atomically: two tills confirming one code at once get one success."""
        result = await self._session.execute(
            update(RewardRedemption)
            .where(RewardRedemption.id == redemption_id, RewardRedemption.status == "issued")
            .values(status="used", used_at=at, used_store_id=store_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def refresh_redemption(self, redemption: RewardRedemption) -> None:
        await self._session.refresh(redemption)

    async def for_member(
        self, member_id: int, *, status: str | None = None, limit: int = 20
    ) -> Sequence[tuple[RewardRedemption, Reward]]:
        """A member's redemptions with their rewards, newest first."""
        statement = (
            select(RewardRedemption, Reward)
            .join(Reward, Reward.id == RewardRedemption.reward_id)
            .where(RewardRedemption.member_id == member_id)
            .order_by(RewardRedemption.id.desc())
            .limit(limit)
        )
        if status is not None:
            statement = statement.where(RewardRedemption.status == status)
        return [(row[0], row[1]) for row in (await self._session.execute(statement)).all()]

    async def redeemed_reward_ids(self, member_id: int) -> set[int]:
        statement = select(RewardRedemption.reward_id).where(
            RewardRedemption.member_id == member_id, RewardRedemption.status != "cancelled"
        ).distinct()
        return set((await self._session.scalars(statement)).all())
