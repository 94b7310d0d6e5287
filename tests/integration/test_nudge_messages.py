"""What each nudge says, built at send time (loyalty.notifications.message_context): points
expiring in what they buy, a coupon's worth and last days, what keeps a tier and what losing it
costs; and nothing at all once the reason went away (points spent, coupon used, tier safe, the
member back)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from bot.render import texts_for
from db.models import Coupon, Member, Notification, Purchase
from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import FixedClock
from loyalty.notifications import message_context
from sandbox.formatting import parse_html
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import TEST_SETTINGS, chat_member
from tests.utils.nudges import nudge, set_member
from tests.utils.rewards import make_reward, set_tier

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DECEMBER = datetime(2027, 1, 1, tzinfo=SHANGHAI)  # points valid through 31 December
END_OF_JANUARY = datetime(2027, 2, 1, tzinfo=SHANGHAI)


async def context_of(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, row: Notification) -> dict[str, Any] | None:
    async with uow_factory() as uow:
        fresh = await uow.members.by_id(member.id)
        assert fresh is not None
        return await message_context(uow, row, fresh, now=clock.now(), settings=TEST_SETTINGS)


async def credit(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, points: int, expires_at: datetime) -> None:
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await ledger.credit(uow, locked, points=points, kind="adjust", at=clock.now(), expires_at=expires_at, actor="test")
        await uow.commit()


async def spend(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, points: int) -> None:
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await ledger.debit(uow, locked, points=points, kind="adjust", at=clock.now(), actor="test")
        await uow.commit()


def text(kind: str, context: dict[str, Any], locale: str = "en") -> str:
    return parse_html(texts_for(locale)(f"notifications/{kind}", **context)).text


async def test_expiring_points_are_told_in_what_they_buy_and_spent_ones_are_not_counted(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await make_reward(uow_factory, clock, price=500, name="Latte", zh_name="拿铁")
    await make_reward(uow_factory, clock, price=1000, name="Mug", zh_name="马克杯")
    member = await chat_member(uow_factory, clock, telegram_id=801)
    await credit(uow_factory, clock, member, 1200, END_OF_DECEMBER)
    await credit(uow_factory, clock, member, 300, END_OF_JANUARY)
    row = nudge(member, "points_expiring", now=clock.now(), points=1200,
                expires_at=END_OF_DECEMBER.astimezone(timezone.utc).isoformat(), lead_days=30)

    context = await context_of(uow_factory, clock, member, row)
    assert context is not None
    assert (context["points"], context["expires_on"]) == (1200, date(2026, 12, 31))
    assert "Your 1,200 points expiring on Dec 31, 2026 are enough for 2 × Latte or 1 × Mug." in text(row.kind, context)
    assert "您的 1,200 积分有效期至 2026年12月31日，足够兑换 2 份Latte或 1 份Mug" in text(row.kind, context, "zh_CN"), \
        "names are the member's language (this member reads English)"

    await spend(uow_factory, clock, member, 900)  # the soonest-expiring points go first
    context = await context_of(uow_factory, clock, member, row)
    assert context is not None and context["points"] == 300 and context["buys"] == []
    assert "are part of your 600 — together enough for 1 × Latte." in text(row.kind, context)

    await spend(uow_factory, clock, member, 300)
    assert await context_of(uow_factory, clock, member, row) is None, "nothing of them is left to expire"


async def test_an_expiring_coupon_says_what_it_is_worth_and_where_until_it_is_used(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=802, locale="zh_CN")
    template = await make_template(uow_factory, clock, code="LAST", kind="amount_off", value=2000, min_spend_minor=5000,
                                   valid_days=3, cities=["Shanghai"])
    coupon = await give_coupon(uow_factory, clock, member, template)
    row = nudge(member, "coupon_expiring", now=clock.now(), coupon_id=coupon.id)

    context = await context_of(uow_factory, clock, member, row)
    assert context is not None and context["days_left"] == 3
    message = text(row.kind, context, "zh_CN")
    assert "优惠券 LAST" in message and "满¥50.00" in message and "减¥20.00" in message
    assert "还有 3 天到期" in message and "适用城市：Shanghai" in message

    clock.advance(timedelta(days=3))
    context = await context_of(uow_factory, clock, member, row)
    assert context is not None and "今天到期" in text(row.kind, context, "zh_CN")

    async with uow_factory() as uow:
        await uow.session.execute(update(Coupon).where(Coupon.id == coupon.id).values(status="used"))
        await uow.commit()
    assert await context_of(uow_factory, clock, member, row) is None


async def test_a_tier_at_risk_says_what_keeps_it_by_when_and_what_losing_it_costs(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=803)
    await set_tier(uow_factory, member, "gold")
    since = clock.now() - timedelta(days=5)
    await set_member(uow_factory, member, tier_at_risk_since=since)
    row = nudge(member, "tier_at_risk", now=clock.now(), tier="gold", at_risk_since=since.isoformat())

    context = await context_of(uow_factory, clock, member, row)
    assert context is not None
    # Gold takes ¥6,000 or 25 visits; the grace period of 30 days ends 25 days from now.
    assert "Spend ¥6,000.00 more or make 25 more visits by Dec 19, 2026 to keep Gold — you'd lose:" in text(row.kind, context)
    assert context["lose"] == ["25% more points", "Free delivery"], "what Silver, the tier below, does not give"

    await set_member(uow_factory, member, tier_at_risk_since=None)
    assert await context_of(uow_factory, clock, member, row) is None, "no longer at risk"
    await set_member(uow_factory, member, tier_at_risk_since=since)
    await set_tier(uow_factory, member, "silver")
    assert await context_of(uow_factory, clock, member, row) is None, "already stepped down"


async def test_a_win_back_has_nothing_to_say_once_the_member_is_back(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=804)
    last = (clock.now() - timedelta(days=70)).replace(microsecond=654321)

    async def bought(order_id: str, at: datetime) -> None:
        async with uow_factory() as uow:
            uow.session.add(Purchase(member_id=member.id, order_id=order_id, channel="online", amount_minor=100,
                                     currency="CNY", purchased_at=at, points_earned=0, refunded_minor=0,
                                     created_at=at))
            await uow.commit()

    await bought("LAST-1", last)
    # The sweep writes the last purchase to the second, as SQL formats it.
    row = nudge(member, "win_back", now=clock.now(), last_purchase_at=last.replace(microsecond=0).isoformat())
    context = await context_of(uow_factory, clock, member, row)
    assert context is not None and context["offer"] is None, "the purchase it is about is not a comeback"
    assert "We miss you! Your last visit was on Sep 15, 2026." in text(row.kind, context)

    await bought("BACK-1", clock.now() - timedelta(hours=1))
    assert await context_of(uow_factory, clock, member, row) is None


async def test_near_upgrade_says_what_is_left_and_nothing_once_the_member_got_there(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=805)
    await set_tier(uow_factory, member, "silver")
    async with uow_factory() as uow:
        gold = await uow.program.tier_by_code("gold")
        assert gold is not None
        uow.session.add(Purchase(member_id=member.id, order_id="NEAR-1", channel="online",
                                 amount_minor=gold.min_spend_minor - 20_000, currency="CNY",
                                 purchased_at=clock.now() - timedelta(days=3), points_earned=0, refunded_minor=0,
                                 created_at=clock.now()))
        await uow.commit()
    row = nudge(member, "near_upgrade", now=clock.now(), tier="gold")
    context = await context_of(uow_factory, clock, member, row)
    assert context is not None
    assert text(row.kind, context).startswith("🚀 Just ¥200.00 more")
    assert "Free delivery" in context["gains"]

    assert await context_of(uow_factory, clock, member, nudge(member, "near_upgrade", now=clock.now(), tier="black")) is None
    await set_tier(uow_factory, member, "gold")
    assert await context_of(uow_factory, clock, member, row) is None, "got there"
