"""Purchases in a known state, written straight to the table (no points, no ledger), for tests of
what reads purchase history: tier qualification and progress."""

from __future__ import annotations

import itertools
from datetime import datetime

from db.models import Member, Purchase
from db.uow import UnitOfWorkFactory

_orders = itertools.count(1)


async def add_purchase(
    uow_factory: UnitOfWorkFactory,
    member: Member,
    *,
    amount_minor: int,
    at: datetime,
    refunded_minor: int = 0,
    currency: str = "CNY",
) -> Purchase:
    async with uow_factory() as uow:
        purchase = Purchase(
            member_id=member.id,
            order_id=f"T-{next(_orders)}",
            channel="online",
            amount_minor=amount_minor,
            currency=currency,
            purchased_at=at,
            points_earned=0,
            refunded_minor=refunded_minor,
            created_at=at,
        )
        uow.session.add(purchase)
        await uow.commit()
        return purchase


async def refund(uow_factory: UnitOfWorkFactory, purchase: Purchase, amount_minor: int) -> None:
    """Mark part of a purchase refunded, as the refund use case leaves it."""
    async with uow_factory() as uow:
        stored = await uow.session.get(Purchase, purchase.id)
        assert stored is not None
        stored.refunded_minor += amount_minor
        await uow.commit()
