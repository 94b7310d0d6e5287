"""Coupon templates and members' coupons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import dialect_insert
from db.models import Coupon, CouponTemplate, Member

# Rows (or keys) one statement carries at most: under every backend's bound-parameter limit.
ROWS_PER_STATEMENT = 2_000


class CouponRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- templates ---------------------------------------------------------------------------

    async def add_template(self, template: CouponTemplate) -> CouponTemplate:
        self._session.add(template)
        await self._session.flush()
        return template

    async def template(self, template_id: int) -> CouponTemplate | None:
        return await self._session.get(CouponTemplate, template_id, populate_existing=True)

    async def template_by_code(self, code: str) -> CouponTemplate | None:
        statement = select(CouponTemplate).where(CouponTemplate.code == code)
        return (await self._session.scalars(statement)).one_or_none()

    async def templates(self, *, offset: int, limit: int) -> tuple[Sequence[CouponTemplate], int]:
        total = await self._session.scalar(select(func.count()).select_from(CouponTemplate))
        rows = await self._session.scalars(
            select(CouponTemplate).order_by(CouponTemplate.id).offset(offset).limit(limit)
        )
        return rows.all(), int(total or 0)

    async def auto_templates(self, event: str) -> Sequence[CouponTemplate]:
        statement = (
            select(CouponTemplate)
            .where(CouponTemplate.auto_issue == event, CouponTemplate.active.is_(True))
            .order_by(CouponTemplate.id)
        )
        return (await self._session.scalars(statement)).all()

    async def take_one(self, template_id: int) -> bool:
        """Count one more issued, only while the total quantity allows: a conditional UPDATE,
        so members racing for the last coupon get exactly one."""
        result = await self._session.execute(
            update(CouponTemplate)
            .where(
                CouponTemplate.id == template_id,
                (CouponTemplate.total_quantity.is_(None))
                | (CouponTemplate.issued_count < CouponTemplate.total_quantity),
            )
            .values(issued_count=CouponTemplate.issued_count + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def take_up_to(self, template_id: int, wanted: int) -> int:
        """Count up to `wanted` more issued, as many as the total quantity allows; how many.
        The same conditional UPDATE as take_one, for a batch: when the whole batch does not
        fit, it asks again for what is left, so concurrent batches never overshoot."""
        asked = wanted
        while asked > 0:
            result = await self._session.execute(
                update(CouponTemplate)
                .where(
                    CouponTemplate.id == template_id,
                    (CouponTemplate.total_quantity.is_(None))
                    | (CouponTemplate.issued_count + asked <= CouponTemplate.total_quantity),
                )
                .values(issued_count=CouponTemplate.issued_count + asked)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return asked
            row = (
                await self._session.execute(
                    select(CouponTemplate.total_quantity, CouponTemplate.issued_count).where(
                        CouponTemplate.id == template_id
                    )
                )
            ).one()
            asked = min(wanted, int(row[0] or 0) - int(row[1]))
        return 0

    # --- coupons -----------------------------------------------------------------------------

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert coupons (dicts of the table's columns) in batches; a row whose code or issue
        key is taken is skipped (the caller reads back what went in by issue key)."""
        statement = dialect_insert(self._session, Coupon)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            batch = list(rows[start : start + ROWS_PER_STATEMENT])
            await self._session.execute(statement.on_conflict_do_nothing(), batch)

    async def ids_by_issue_keys(self, issue_keys: Sequence[str]) -> dict[str, int]:
        """{issue key: coupon id} of the coupons issued under these keys."""
        found: dict[str, int] = {}
        for start in range(0, len(issue_keys), ROWS_PER_STATEMENT):
            chunk = list(issue_keys[start : start + ROWS_PER_STATEMENT])
            rows = await self._session.execute(select(Coupon.issue_key, Coupon.id).where(Coupon.issue_key.in_(chunk)))
            # Only coupons issued under a key were asked for: none of these keys is NULL.
            found.update((key, coupon_id) for key, coupon_id in rows if key is not None)
        return found

    async def add(self, coupon: Coupon) -> bool:
        """Insert in a savepoint; False (nothing kept) when the code or issue key is taken."""
        try:
            async with self._session.begin_nested():
                self._session.add(coupon)
        except IntegrityError:
            return False
        return True

    async def by_issue_key(self, issue_key: str) -> Coupon | None:
        statement = select(Coupon).where(Coupon.issue_key == issue_key)
        return (await self._session.scalars(statement)).one_or_none()

    async def count_for_member(self, template_id: int, member_id: int) -> int:
        statement = select(func.count()).select_from(Coupon).where(
            Coupon.template_id == template_id, Coupon.member_id == member_id
        )
        return int(await self._session.scalar(statement) or 0)

    async def get(self, coupon_id: int) -> tuple[Coupon, CouponTemplate] | None:
        statement = (
            select(Coupon, CouponTemplate)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(Coupon.id == coupon_id)
            .execution_options(populate_existing=True)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def by_code(self, code: str) -> tuple[Coupon, CouponTemplate, Member] | None:
        statement = (
            select(Coupon, CouponTemplate, Member)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .join(Member, Member.id == Coupon.member_id)
            .where(Coupon.code == code)
            .execution_options(populate_existing=True)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    async def issued_for_member(
        self, member_id: int, *, until_from: date, limit: int | None = None
    ) -> Sequence[tuple[Coupon, CouponTemplate]]:
        """The member's unused coupons whose last day is `until_from` or later, soonest-ending
        first."""
        statement = (
            select(Coupon, CouponTemplate)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(Coupon.member_id == member_id, Coupon.status == "issued", Coupon.valid_until >= until_from)
            .order_by(Coupon.valid_until, Coupon.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await self._session.execute(statement)).all()]

    async def for_member(self, member_id: int, *, limit: int) -> Sequence[tuple[Coupon, CouponTemplate]]:
        """All the member's coupons (the merchant's view), newest first."""
        statement = (
            select(Coupon, CouponTemplate)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(Coupon.member_id == member_id)
            .order_by(Coupon.id.desc())
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await self._session.execute(statement)).all()]

    async def mark_used(
        self,
        coupon_id: int,
        *,
        at: datetime,
        store_id: int,
        order_id: str,
        discount_minor: int | None,
        bonus_points: int | None,
        request_hash: str,
    ) -> bool:
        """issued -> used, atomically: two tills redeeming one code at once get one success."""
        result = await self._session.execute(
            update(Coupon)
            .where(Coupon.id == coupon_id, Coupon.status == "issued")
            .values(
                status="used",
                used_at=at,
                used_store_id=store_id,
                used_order_id=order_id,
                discount_minor=discount_minor,
                bonus_points=bonus_points,
                used_request_hash=request_hash,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
