"""Helpers for referral tests: the program's terms, a friend joining by a link, purchases and
refunds through the real use cases, and the referrals as stored."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from db.models import Member, Referral
from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, RefundRequest, record_purchase, record_refund
from tests.utils.members import chat_member

_orders = itertools.count(1)
_telegram_ids = itertools.count(7_000_000)


async def set_terms(uow_factory: UnitOfWorkFactory, clock: Clock, **fields: Any) -> referrals.Terms:
    terms = referrals.Terms(**{"active": True, "reward_points": 300, **fields})
    async with uow_factory() as uow:
        return await referrals.set_terms(uow, clock, terms, actor="test")


async def link_of(uow_factory: UnitOfWorkFactory, member: Member) -> str:
    """The /start payload of the member's invite link."""
    async with uow_factory() as uow:
        stored = await uow.lock_member(member.id)
        return referrals.PAYLOAD_PREFIX + await referrals.code_for(uow, stored)


async def friend_joins(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, payload: str | None, *,
    telegram_id: int | None = None, phone: str | None = None,
) -> tuple[Member, referrals.Joined | None]:
    """A new member signs up in the chat by `payload`, as bot/routers/start.py does it."""
    member = await chat_member(uow_factory, clock, telegram_id=telegram_id or next(_telegram_ids), phone=phone)
    async with uow_factory() as uow:
        joined = await referrals.join(
            uow, clock, settings, friend_id=member.id, payload=payload, linked_existing=False
        )
    return member, joined


async def buy(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, member: Member, amount_minor: int) -> str:
    order = f"R-{next(_orders)}"
    async with uow_factory() as uow:
        await record_purchase(
            uow, clock, settings,
            PurchaseRequest(MemberRef(member_number=member.member_number), order, "online", amount_minor, "CNY"),
            actor="test", idempotency=IdempotencyKey("test", order, order),
        )
    return order


async def refund(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, order: str, amount_minor: int
) -> None:
    refund_id = f"{order}-refund-{next(_orders)}"
    async with uow_factory() as uow:
        await record_refund(
            uow, clock, settings, RefundRequest(order, "online", refund_id, amount_minor, "CNY"),
            actor="test", idempotency=IdempotencyKey("test", refund_id, refund_id),
        )


async def stored_referrals(uow_factory: UnitOfWorkFactory) -> list[Referral]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(Referral).order_by(Referral.id)))


async def points_of(uow_factory: UnitOfWorkFactory, member: Member) -> int:
    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None
        await uow.session.refresh(stored)
        return stored.points_balance
