"""Factories for coupon templates, coupons and the stores that redeem them, and a snapshot of
everything a refused coupon request must leave unchanged."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date

from sqlalchemy import delete, func, select

from db.models import AuditEvent, Coupon, CouponTemplate, LedgerEntry, Member, Notification, NotificationKind, Store
from db.uow import UnitOfWorkFactory
from loyalty import coupons
from loyalty.clock import Clock
from tests.utils.members import TEST_SETTINGS
from tests.utils.stores import add_stores, located_store

_codes = itertools.count(1)


async def make_template(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    code: str | None = None,
    name: str | None = None,
    kind: str = "amount_off",
    value: int = 1000,
    min_spend_minor: int = 0,
    valid_from: date | None = None,
    valid_until: date | None = None,
    valid_days: int | None = 30,
    stores: Sequence[str] = (),
    cities: Sequence[str] = (),
    min_tier: str | None = None,
    per_member_limit: int = 1,
    total_quantity: int | None = None,
    auto_issue: str | None = None,
    active: bool = True,
) -> CouponTemplate:
    code = code or f"C{next(_codes)}"
    spec = coupons.TemplateSpec(
        code=code,
        names={"en": name or f"Coupon {code}", "zh_CN": name or f"优惠券 {code}"},
        kind=kind,
        value=value,
        min_spend_minor=min_spend_minor,
        valid_from=valid_from,
        valid_until=valid_until,
        valid_days=valid_days,
        stores=stores,
        cities=cities,
        min_tier=min_tier,
        per_member_limit=per_member_limit,
        total_quantity=total_quantity,
        auto_issue=auto_issue,
        active=active,
    )
    async with uow_factory() as uow:
        definition = await coupons.create_template(uow, clock, TEST_SETTINGS, spec, actor="test")
        return definition.template


async def give_coupon(
    uow_factory: UnitOfWorkFactory, clock: Clock, member: Member, template: CouponTemplate
) -> Coupon:
    """Issue one coupon of `template` to `member` as the API would, without the "a coupon for
    you" message it queues (tests/e2e/test_nudges.py follows that one): the callers test what
    comes after, and count their own messages."""
    async with uow_factory() as uow:
        issued = await coupons.issue(
            uow, clock, TEST_SETTINGS, member_id=member.id, template_code=template.code, actor="test"
        )
        await uow.session.execute(
            delete(Notification).where(Notification.member_id == member.id, Notification.kind == NotificationKind.COUPON_ISSUED)
        )
        await uow.commit()
        return issued.coupon


async def add_store(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    code: str,
    *,
    city: str | None = None,
    timezone: str = "Asia/Shanghai",
    active: bool = True,
) -> Store:
    store = located_store(code, None, None, clock, timezone=timezone, active=active)
    store.city = city
    [added] = await add_stores(uow_factory, [store])
    return added


async def stored_coupon(uow_factory: UnitOfWorkFactory, code: str) -> Coupon:
    async with uow_factory() as uow:
        coupon = await uow.session.scalar(select(Coupon).where(Coupon.code == code))
        assert coupon is not None, code
        return coupon


async def written(uow_factory: UnitOfWorkFactory) -> dict[str, object]:
    """Everything a refused coupon request must leave as it was: the templates and how many were
    issued of each, every coupon's state, the ledger and the audit trail."""
    async with uow_factory() as uow:
        session = uow.session
        templates = (await session.execute(select(CouponTemplate.code, CouponTemplate.issued_count))).all()
        coupon_rows = (
            await session.execute(select(Coupon.code, Coupon.status, Coupon.used_order_id).order_by(Coupon.id))
        ).all()
        return {
            "templates": sorted(map(tuple, templates)),
            "coupons": [tuple(row) for row in coupon_rows],
            "ledger": int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0),
            "audit": int(
                await session.scalar(
                    select(func.count()).select_from(AuditEvent).where(~AuditEvent.action.startswith("apikey."))
                )
                or 0
            ),
        }
