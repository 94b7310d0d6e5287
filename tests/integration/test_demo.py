"""The sample program of `loyalty demo`, on the real database: what it writes obeys the rules
(the ledger agrees with every balance), a newcomer's member has a receipt in value terms, the
segments and tiers are populated, and a database that holds a program is refused untouched."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.render import region_of, texts_for
from db.models import (
    Base,
    CampaignRecipient,
    CouponTemplate,
    EarningRule,
    LedgerEntry,
    Member,
    Notification,
    Purchase,
    Reward,
    Store,
)
from db.uow import UnitOfWorkFactory
from loyalty import demo, ledger
from loyalty.campaigns.report import campaign_report
from loyalty.campaigns.rfm import rfm_counts
from loyalty.campaigns.service import get_campaign
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.notifications import message_context
from tests.utils.append_only import guard_lifted

MEMBERS = 24


async def counts(uow_factory: UnitOfWorkFactory) -> dict[str, int]:
    async with uow_factory() as uow:
        return {
            model.__tablename__: int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Store, Reward, CouponTemplate, EarningRule, Member, Purchase, LedgerEntry, Notification)
        }


async def test_the_demo_fills_an_empty_database_with_a_program_a_newcomer_can_read(
    uow_factory: UnitOfWorkFactory, settings: Settings, clock: FixedClock
) -> None:
    report = await demo.build_demo(uow_factory, settings, now=clock.now(), seed=7, member_count=MEMBERS)

    written = await counts(uow_factory)
    assert written["stores"] == report.stores == len(demo.STORES) == 8
    assert written["rewards"] == report.rewards == 7
    assert written["coupon_templates"] == report.coupon_templates == 5
    assert written["earning_rules"] == report.earning_rules == 5  # the seeded base rate and four more
    assert written["members"] == report.members == MEMBERS
    assert written["purchases"] == report.purchases > MEMBERS
    assert report.rewards_redeemed > 0 and report.coupons_redeemed > 0
    async with uow_factory() as uow:
        stores = await uow.session.scalars(select(Store))
        assert all(store.latitude is not None and store.opening_hours for store in stores)
        for member_id in list(await uow.session.scalars(select(Member.id))):
            await ledger.check_consistency(uow, member_id)  # raises unless balances agree with the ledger
        # Every purchase happened in the past six months, none after `now`.
        first, last = (await uow.session.execute(
            select(func.min(Purchase.purchased_at), func.max(Purchase.purchased_at)))).one()
    assert clock.now() - timedelta(days=demo.HISTORY_DAYS + 1) <= first.replace(tzinfo=clock.now().tzinfo)
    assert last.replace(tzinfo=clock.now().tzinfo) < clock.now()
    # Purchases fall in opening hours: none at the office-district store at a weekend.
    shanghai = ZoneInfo("Asia/Shanghai")
    for order_id, _, purchased_at, _, store in await written_history(uow_factory):
        local = (purchased_at if purchased_at.tzinfo else purchased_at.replace(tzinfo=timezone.utc)).astimezone(shanghai)
        assert 9 <= local.hour < 20 or store == "SH-LJZ", (order_id, local)
        assert store != "BJ-GMO" or local.weekday() < 5, (order_id, local)

    # The member a newcomer becomes: a receipt in what the points buy, Latte first (redeemed before).
    async with uow_factory() as uow:
        showcase = await uow.members.by_phone(demo.SHOWCASE_PHONE)
        assert showcase is not None and showcase.member_number == report.showcase_member
        receipt = await uow.session.scalar(
            select(Notification).where(Notification.member_id == showcase.id, Notification.kind == "points_earned")
            .order_by(Notification.id.desc()).limit(1)
        )
        assert receipt is not None
        context = await message_context(uow, receipt, showcase, now=clock.now(), settings=settings)
        assert context is not None
        text = texts_for(showcase.locale, region_of(showcase.city))("notifications/points_earned", **context)
    assert "enough for 2 × Latte" in text, text
    assert 400 <= report.showcase_balance < 600

    # Tiers and segments have people in them.
    assert sum(report.tiers_reached.values()) == MEMBERS and len(report.tiers_reached) >= 2
    async with uow_factory() as uow:
        segments = await rfm_counts(uow, now=clock.now())
    assert sum(1 for count in segments.values() if count) >= 3, segments


async def test_the_demo_refuses_a_database_that_holds_a_program_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, settings: Settings, clock: FixedClock
) -> None:
    await demo.build_demo(uow_factory, settings, now=clock.now(), seed=1, member_count=2)
    before = await counts(uow_factory)
    with pytest.raises(demo.DatabaseNotEmpty) as refused:
        await demo.build_demo(uow_factory, settings, now=clock.now(), seed=2, member_count=2)
    assert "already holds a program (2 members, 8 stores, 7 rewards, 5 coupon templates" in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert await counts(uow_factory) == before


async def written_history(uow_factory: UnitOfWorkFactory) -> list[tuple[object, ...]]:
    """The demo's choices as they landed: every purchase in the order written, with its store."""
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            select(Purchase.order_id, Purchase.amount_minor, Purchase.purchased_at, Purchase.points_earned, Store.code)
            .join(Store, Store.id == Purchase.store_id).order_by(Purchase.id)
        )
        return [tuple(row) for row in rows]


async def test_a_seed_gives_the_same_program(
    engine: AsyncEngine, seed_rows: dict[str, list[dict[str, object]]], uow_factory: UnitOfWorkFactory,
    settings: Settings, clock: FixedClock,
) -> None:
    await demo.build_demo(uow_factory, settings, now=clock.now(), seed=3, member_count=6)
    first = await written_history(uow_factory)
    async with engine.begin() as connection:  # back to the fresh database, as the fixture left it
        async with guard_lifted(connection):
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            if table.name in seed_rows:
                await connection.execute(table.insert(), seed_rows[table.name])
    await demo.build_demo(uow_factory, settings, now=clock.now(), seed=3, member_count=6)
    assert await written_history(uow_factory) == first and len(first) > 6


async def test_the_demo_campaign_reports_on_an_audience_as_it_stood_at_launch(
    uow_factory: UnitOfWorkFactory, settings: Settings, clock: FixedClock
) -> None:
    report = await demo.build_demo(uow_factory, settings, now=clock.now(), seed=11, member_count=MEMBERS)
    async with uow_factory() as uow:
        campaign = await get_campaign(uow, report.campaign_id)
        effect = await campaign_report(uow, clock, settings, report.campaign_id)
        launch = clock.now() - timedelta(days=demo.CAMPAIGN_DAYS_AGO)
        recipients = (await uow.session.execute(
            select(func.count(), func.max(Member.created_at)).select_from(CampaignRecipient)
            .join(Member, Member.id == CampaignRecipient.member_id)
            .where(CampaignRecipient.campaign_id == campaign.id)
        )).one()
    assert campaign.status == "done" and campaign.started_at is not None
    # Only members who had joined by the launch, and none reached: the demo's members have no chat.
    assert recipients[0] > 0 and recipients[1].replace(tzinfo=launch.tzinfo) < launch
    assert effect.targeted.members + effect.holdout.members == recipients[0]
    assert effect.targeted.buyers > 0, effect
