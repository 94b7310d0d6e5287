"""Campaigns ready to send, written straight to the tables in bulk (thousands of members in a
second), a clock that moves with real time, and what the sandbox's chats received."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from db.models import Campaign, CampaignRecipient, Coupon, Member, Tier
from db.uow import UnitOfWorkFactory
from loyalty.clock import Clock

_numbers = itertools.count(1)
CHUNK = 2_000
TEXTS = {"en": "Member day, {{ member_number }}: you hold {{ points }} points as {{ tier }}.",
         "zh_CN": "会员日 {{ member_number }}：您有 {{ points }} 积分（{{ tier }}）。"}


class RunningClock:
    """A clock that starts at a chosen moment and then moves with real time: the sender's
    retries and leases are measured in seconds that pass while the test waits for them."""

    def __init__(self, start: datetime) -> None:
        self._start = start.astimezone(UTC)
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)


@dataclass(frozen=True)
class SeededCampaign:
    campaign_id: int
    eligible: dict[int, int]  # member id -> chat id: the pending recipients
    held_out: dict[int, int]  # member id -> chat id
    coupons: dict[int, int]  # member id -> coupon id


async def seed_campaign(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    chats: Sequence[int],
    held_out: Sequence[int] = (),
    texts: dict[str, str] | None = None,
    image_url: str | None = None,
    buttons: Sequence[dict[str, object]] = (),
    coupon_template_id: int | None = None,
    locales: Sequence[str] = ("en",),
    status: str = "sending",
    deliver_after: datetime | None = None,
) -> SeededCampaign:
    """A started campaign: one member per chat in `chats` (pending, due at `deliver_after`, now
    by default) and per chat in `held_out` (held_out), each with a coupon of the template when
    given. Members' locales cycle through `locales`; balances are their index times 10."""
    now = clock.now()
    due = deliver_after or now
    batch = next(_numbers)
    async with uow_factory() as uow:
        session = uow.session
        tier_id = await session.scalar(select(Tier.id).order_by(Tier.rank).limit(1))
        campaign_id = await session.scalar(
            insert(Campaign)
            .values(
                name=f"Member day {batch}", status=status, texts=texts or TEXTS, image_url=image_url,
                coupon_template_id=coupon_template_id, buttons=list(buttons), audience={}, send_at=now,
                holdout_pct=10, seed=f"seed{batch}", attribution_days=7, created_by="staff:1", created_at=now,
                started_at=now if status != "scheduled" else None, audience_size=len(chats) + len(held_out),
            )
            .returning(Campaign.id)
        )
        assert campaign_id is not None
        everyone = [*chats, *held_out]
        member_ids: list[int] = []
        for start in range(0, len(everyone), CHUNK):
            rows = [
                {
                    "member_number": f"T{batch:03d}{index:07d}", "telegram_id": chat,
                    "locale": locales[index % len(locales)], "enrolled_via": "chat", "consent_version": "test",
                    "consented_at": now, "points_balance": index * 10, "tier_id": tier_id, "tier_since": now,
                    "created_at": now, "updated_at": now,
                }
                for index, chat in enumerate(everyone[start:start + CHUNK], start=start)
            ]
            member_ids.extend((await session.scalars(insert(Member).returning(Member.id, sort_by_parameter_order=True), rows)).all())
        chat_of = dict(zip(member_ids, everyone, strict=True))
        eligible_ids = member_ids[: len(chats)]
        coupons: dict[int, int] = {}
        if coupon_template_id is not None:
            day = now.date()
            rows = [
                {
                    "template_id": coupon_template_id, "member_id": member_id, "code": f"CP{batch:03d}{member_id:09d}",
                    "status": "issued", "source": "campaign", "issue_key": f"campaign:{campaign_id}:{member_id}",
                    "issued_at": now, "valid_from": day, "valid_until": day + timedelta(days=30),
                }
                for member_id in eligible_ids
            ]
            ids = (await session.scalars(insert(Coupon).returning(Coupon.id, sort_by_parameter_order=True), rows)).all()
            coupons = dict(zip(eligible_ids, ids, strict=True))
        recipients = [
            {
                "campaign_id": campaign_id, "member_id": member_id, "deliver_after": due, "attempts": 0,
                "deferred": False, "status": "pending" if index < len(chats) else "held_out",
                "coupon_id": coupons.get(member_id),
            }
            for index, member_id in enumerate(member_ids)
        ]
        for start in range(0, len(recipients), CHUNK):
            await session.execute(insert(CampaignRecipient), recipients[start:start + CHUNK])
        await uow.commit()
    return SeededCampaign(
        campaign_id=campaign_id,
        eligible={member_id: chat_of[member_id] for member_id in eligible_ids},
        held_out={member_id: chat_of[member_id] for member_id in member_ids[len(chats):]},
        coupons=coupons,
    )


async def statuses(uow_factory: UnitOfWorkFactory, campaign_id: int) -> Counter[str]:
    async with uow_factory() as uow:
        return Counter(await uow.campaign_outbox.counts(campaign_id))


async def recipients(uow_factory: UnitOfWorkFactory, campaign_id: int) -> dict[int, CampaignRecipient]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id))
        return {row.member_id: row for row in rows}


async def campaign(uow_factory: UnitOfWorkFactory, campaign_id: int) -> Campaign:
    async with uow_factory() as uow:
        found = await uow.session.get(Campaign, campaign_id)
        assert found is not None
        return found
