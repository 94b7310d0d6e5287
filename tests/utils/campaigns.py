"""Campaigns and the members they reach, in a known state: members written straight to the
table (no sign-up bonus or gift coupons, many at once when a test needs a crowd), campaigns
created and started the way the scheduler does it, and what a campaign wrote."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from db.crypto import FieldCipher
from db.models import Campaign, CampaignRecipient, Coupon, Member, MemberMute, MemberTag, Purchase
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience
from loyalty.campaigns.service import Actor, CampaignDraft
from loyalty.clock import Clock
from loyalty.config import Settings
from tests.conftest import TEST_SECRET

OWNER = Actor("apikey:1", "owner")
MARKETER = Actor("staff:5001", "marketer")

_numbers = itertools.count(1)
_telegram_ids = itertools.count(8_000_000)
_orders = itertools.count(1)


def member_row(now: datetime, tier_id: int, *, chat: bool = True, **fields: Any) -> dict[str, Any]:
    """A members row as a dict: a chat member of `tier_id` in English unless `fields` say
    otherwise (city, timezone, birthday, chat_blocked_at, locale, points_balance ...)."""
    row: dict[str, Any] = {
        "member_number": f"8{next(_numbers):09d}",
        "telegram_id": next(_telegram_ids) if chat else None,
        "locale": "en",
        "enrolled_via": "chat",
        "consent_version": "test",
        "consented_at": now,
        "points_balance": 0,
        "tier_id": tier_id,
        "tier_since": now,
        "created_at": now,
        "updated_at": now,
    }
    born = fields.pop("birthday", None)
    if born is not None:  # stored as the program stores it (db/repositories/members.py)
        row |= {
            "birthday_month": born.month,
            "birthday_day": born.day,
            "birthday_encrypted": FieldCipher(TEST_SECRET).encrypt(born.isoformat()),
        }
    row.update(fields)
    return row


async def add_member(
    uow_factory: UnitOfWorkFactory, clock: Clock, *, tier: str = "member", chat: bool = True, **fields: Any
) -> int:
    """One member straight to the table; its id."""
    [member_id] = await add_members(uow_factory, clock, 1, tier=tier, chat=chat, **fields)
    return member_id


async def add_members(
    uow_factory: UnitOfWorkFactory, clock: Clock, count: int, *, tier: str = "member", chat: bool = True, **fields: Any
) -> list[int]:
    """`count` alike members in a few multi-row statements; their ids, in order."""
    async with uow_factory() as uow:
        tiers = {item.code: item.id for item in await uow.program.tiers()}
        rows = [member_row(clock.now(), tiers[tier], chat=chat, **fields) for _ in range(count)]
        for start in range(0, count, 2_000):
            await uow.session.execute(insert(Member), rows[start : start + 2_000])
        numbers = [row["member_number"] for row in rows]
        found: dict[str, int] = {}
        for start in range(0, count, 2_000):
            chunk = numbers[start : start + 2_000]
            found.update(
                (row[0], row[1])
                for row in await uow.session.execute(
                    select(Member.member_number, Member.id).where(Member.member_number.in_(chunk))
                )
            )
        await uow.commit()
    return [found[number] for number in numbers]


async def mute_offers(uow_factory: UnitOfWorkFactory, clock: Clock, member_id: int) -> None:
    async with uow_factory() as uow:
        uow.session.add(MemberMute(member_id=member_id, topic="offers", created_at=clock.now()))
        await uow.commit()


async def tag(uow_factory: UnitOfWorkFactory, clock: Clock, member_id: int, *tags: str) -> None:
    async with uow_factory() as uow:
        uow.session.add_all(MemberTag(member_id=member_id, tag=name, created_at=clock.now()) for name in tags)
        await uow.commit()


async def bought(
    uow_factory: UnitOfWorkFactory,
    member_id: int,
    *,
    at: datetime,
    amount_minor: int = 5_000,
    refunded_minor: int = 0,
    store_id: int | None = None,
) -> None:
    """A purchase straight to the table (no points)."""
    async with uow_factory() as uow:
        uow.session.add(
            Purchase(
                member_id=member_id, order_id=f"C-{next(_orders)}", channel="store" if store_id else "online",
                store_id=store_id, amount_minor=amount_minor, currency="CNY", purchased_at=at, points_earned=0,
                refunded_minor=refunded_minor, created_at=at,
            )
        )
        await uow.commit()


def draft(**fields: Any) -> CampaignDraft:
    """A valid draft: "Member day" to every member now, unless `fields` say otherwise."""
    base = CampaignDraft(name="Member day", texts={"en": "Hello {{ tier }}: {{ points }} points"}, audience=Audience())
    return replace(base, **fields)


async def make_campaign(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, *, actor: Actor = OWNER, **draft_fields: Any
) -> int:
    """A scheduled campaign from `draft(**draft_fields)`, committed; its id."""
    async with uow_factory() as uow:
        campaign = await service.create_campaign(uow, clock, settings, draft(**draft_fields), actor=actor)
        await uow.commit()
        return campaign.id


async def started_campaign(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, *, actor: Actor = OWNER, **draft_fields: Any
) -> int:
    """A campaign created and started (its recipients chosen, sending); its id."""
    campaign_id = await make_campaign(uow_factory, clock, settings, actor=actor, **draft_fields)
    async with uow_factory() as uow:
        await service.start(uow, clock, settings, campaign_id)
    return campaign_id


async def campaign(uow_factory: UnitOfWorkFactory, campaign_id: int) -> Campaign:
    async with uow_factory() as uow:
        return await service.get_campaign(uow, campaign_id)


async def recipients(uow_factory: UnitOfWorkFactory, campaign_id: int) -> dict[int, CampaignRecipient]:
    """The campaign's recipient rows by member id."""
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        )
        return {row.member_id: row for row in rows}


async def campaign_coupons(uow_factory: UnitOfWorkFactory, campaign_id: int) -> list[Coupon]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(Coupon).where(Coupon.issue_key.like(f"campaign:{campaign_id}:%")).order_by(Coupon.id)
        )
        return list(rows)
