"""Whether a nudge goes now, later or never (loyalty.nudges.delivery.decide) with an injected
clock: quiet hours at their exact edges in the member's own zone, the weekly cap across kinds,
stale and muted nudges dropped, receipts never held; and the gift coupon of a greeting issued
once, from the best template for the member's tier."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from db.models import Member, Notification
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.coupons import issue_gift
from loyalty.nudges import preferences
from loyalty.nudges.delivery import SEND, Decision, decide, defer, drop, prepare
from tests.utils.coupons import make_template
from tests.utils.members import TEST_SETTINGS, chat_member, till_member
from tests.utils.nudges import already_sent, nudge, set_member
from tests.utils.rewards import set_tier

SETTINGS = TEST_SETTINGS.model_copy(update={"nudges_per_week": 3})
LONDON = ZoneInfo("Europe/London")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(zone: ZoneInfo, month: int, day: int, hour: int, minute: int = 0, second: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(timezone.utc)


async def member_in(uow_factory: UnitOfWorkFactory, clock: FixedClock, zone: str | None, telegram_id: int = 700) -> Member:
    member = await chat_member(uow_factory, clock, telegram_id=telegram_id)
    if zone is not None:
        await set_member(uow_factory, member, timezone=zone)
    return member


async def decision(
    uow_factory: UnitOfWorkFactory, member: Member, row: Notification, now: datetime, settings: Settings = SETTINGS
) -> Decision:
    async with uow_factory() as uow:
        fresh = await uow.members.by_id(member.id)
        assert fresh is not None
        return await decide(uow, row, fresh, now=now, settings=settings)


# --- quiet hours ---------------------------------------------------------------------------------

MORNING_LONDON = defer(at(LONDON, 11, 25, 8, 0), "quiet hours")
MORNING_SHANGHAI = defer(at(SHANGHAI, 11, 25, 8, 0), "quiet hours")
# (the moment, what a member in London gets, what a member in the program's Shanghai gets);
# London is 8 hours behind Shanghai in November.
EDGES = [
    (at(LONDON, 11, 24, 21, 59, 59), SEND, MORNING_SHANGHAI),  # 05:59:59 in Shanghai
    (at(LONDON, 11, 24, 22, 0), MORNING_LONDON, MORNING_SHANGHAI),
    (at(LONDON, 11, 25, 7, 59, 59), MORNING_LONDON, SEND),
    (at(LONDON, 11, 25, 8, 0), SEND, SEND),
    (at(SHANGHAI, 11, 24, 21, 59, 59), SEND, SEND),
    (at(SHANGHAI, 11, 24, 22, 0), SEND, MORNING_SHANGHAI),  # 14:00 in London
    (at(SHANGHAI, 11, 25, 7, 59, 59), MORNING_LONDON, MORNING_SHANGHAI),  # 23:59:59 in London
    (at(SHANGHAI, 11, 25, 8, 0), MORNING_LONDON, SEND),  # midnight in London
]


@pytest.mark.parametrize(("moment", "in_london", "in_shanghai"), EDGES)
async def test_quiet_hours_are_the_members_own_from_start_included_to_end_excluded(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, moment: datetime, in_london: Decision, in_shanghai: Decision
) -> None:
    londoner = await member_in(uow_factory, clock, "Europe/London", telegram_id=701)
    local = await member_in(uow_factory, clock, None, telegram_id=702)  # the program's zone applies
    for member, expected in ((londoner, in_london), (local, in_shanghai)):
        row = nudge(member, "points_expiring", now=moment, stale_in=timedelta(days=5))
        assert await decision(uow_factory, member, row, moment) == expected


async def test_a_hold_lands_on_eight_local_even_across_a_clock_change(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await member_in(uow_factory, clock, "Europe/London")
    # London moves to summer time at 01:00 on 28 March 2027: 08:00 that morning is 07:00 UTC.
    moment = at(LONDON, 3, 27, 23, 0, year=2027)
    row = nudge(member, "birthday", now=moment)
    result = await decision(uow_factory, member, row, moment)
    assert result == defer(datetime(2027, 3, 28, 7, 0, tzinfo=timezone.utc), "quiet hours")
    assert result.until is not None and result.until.astimezone(LONDON).hour == 8


async def test_a_hold_past_stale_after_drops_the_nudge_instead(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await member_in(uow_factory, clock, None)
    moment = at(SHANGHAI, 11, 24, 23, 0)
    stale_at_seven = nudge(member, "coupon_expiring", now=moment, stale_in=timedelta(hours=8))
    assert (await decision(uow_factory, member, stale_at_seven, moment)).action == "drop"
    stale_at_eight = nudge(member, "coupon_expiring", now=moment, stale_in=timedelta(hours=9))
    assert await decision(uow_factory, member, stale_at_eight, moment) == defer(at(SHANGHAI, 11, 25, 8), "quiet hours")


# --- stale, muted, unreachable, receipts ---------------------------------------------------------


async def test_a_stale_nudge_is_dropped_and_one_at_its_last_moment_still_goes(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await member_in(uow_factory, clock, None)
    row = nudge(member, "points_expiring", now=clock.now(), stale_in=timedelta(hours=1))
    assert row.stale_after is not None
    assert await decision(uow_factory, member, row, row.stale_after) == SEND
    assert await decision(uow_factory, member, row, row.stale_after + timedelta(seconds=1)) == drop("stale")


async def test_a_muted_topic_drops_its_nudges_and_the_live_location_push(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await member_in(uow_factory, clock, None)
    async with uow_factory() as uow:
        await preferences.set_muted(uow, clock, member, "points", True)
    async with uow_factory() as uow:
        await preferences.set_muted(uow, clock, member, "coupons", True)
    now = clock.now()
    assert await decision(uow_factory, member, nudge(member, "points_expiring", now=now), now) == drop("topic points muted")
    push = Notification(member_id=member.id, kind="coupon_nearby", payload={}, status="pending", created_at=now)
    assert await decision(uow_factory, member, push, now) == drop("topic coupons muted")
    assert await decision(uow_factory, member, nudge(member, "birthday", now=now), now) == SEND
    async with uow_factory() as uow:
        assert await preferences.set_muted(uow, clock, member, "points", False) == {"coupons"}
    assert await decision(uow_factory, member, nudge(member, "points_expiring", now=now), now) == SEND


async def test_receipts_and_the_live_push_are_never_held(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await member_in(uow_factory, clock, None)
    for topic in ("points", "tier", "greetings", "offers"):
        async with uow_factory() as uow:
            await preferences.set_muted(uow, clock, member, topic, True)
    night = at(SHANGHAI, 11, 24, 23, 0)
    for day in range(3):
        await already_sent(uow_factory, member, "win_back", at=night - timedelta(days=day + 1))
    for kind, payload in (("points_earned", {"points": 1, "balance": 1}), ("tier_upgraded", {"old": "member", "new": "silver"}),
                          ("coupon_nearby", {})):
        receipt = Notification(member_id=member.id, kind=kind, payload=payload, status="pending", created_at=night)
        assert await decision(uow_factory, member, receipt, night) == SEND, kind


async def test_nobody_is_sent_anything_without_a_chat_or_after_blocking_the_bot(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    blocked = await member_in(uow_factory, clock, None)
    await set_member(uow_factory, blocked, chat_blocked_at=clock.now())
    at_till = await till_member(uow_factory, clock)
    now = clock.now()
    receipt = Notification(member_id=blocked.id, kind="points_earned", payload={}, status="pending", created_at=now)
    assert await decision(uow_factory, blocked, receipt, now) == drop("member blocked the bot")
    assert await decision(uow_factory, at_till, nudge(at_till, "birthday", now=now), now) == drop("member has no chat")


# --- the weekly cap ------------------------------------------------------------------------------


async def test_the_fourth_nudge_in_seven_days_waits_until_the_oldest_is_a_week_old(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await member_in(uow_factory, clock, None)
    first = at(SHANGHAI, 11, 20, 10, 0)
    for offset, kind in enumerate(("points_expiring", "birthday", "win_back")):
        await already_sent(uow_factory, member, kind, at=first + timedelta(days=offset))
    # Receipts and live-location pushes are not counted.
    await already_sent(uow_factory, member, "points_earned", at=first + timedelta(days=1))
    await already_sent(uow_factory, member, "coupon_nearby", at=first + timedelta(days=2))

    now = at(SHANGHAI, 11, 23, 12, 0)
    fourth = nudge(member, "tier_at_risk", now=now, stale_in=timedelta(days=10))
    assert await decision(uow_factory, member, fourth, now) == defer(first + timedelta(days=7), "weekly cap")
    assert await decision(uow_factory, member, fourth, first + timedelta(days=7)) == SEND
    assert await decision(uow_factory, member, fourth, first + timedelta(days=7, seconds=-1)) == defer(
        first + timedelta(days=7), "weekly cap"
    )
    soon_stale = nudge(member, "tier_at_risk", now=now, stale_in=timedelta(days=2))
    assert await decision(uow_factory, member, soon_stale, now) == drop("stale by the end of the hold (weekly cap)")


async def test_a_cap_that_ends_in_the_night_holds_until_morning(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    # Three nudges reached the member in Shanghai at 10:00 there; they have since flown to
    # London, where a week later 10:00 Shanghai is 02:00: the fourth waits until 08:00 London.
    member = await member_in(uow_factory, clock, "Europe/London")
    first = at(SHANGHAI, 11, 20, 10, 0)
    for offset in range(3):
        await already_sent(uow_factory, member, "points_expiring", at=first + timedelta(days=offset))
    now = at(LONDON, 11, 24, 12, 0)
    row = nudge(member, "win_back", now=now, stale_in=timedelta(days=10))
    assert await decision(uow_factory, member, row, now) == defer(at(LONDON, 11, 27, 8, 0), "weekly cap")


# --- gifts ---------------------------------------------------------------------------------------


async def test_the_gift_is_the_best_template_for_the_tier_issued_once(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    everyone = await make_template(uow_factory, clock, code="BDAY", auto_issue="birthday", value=1000)
    gold = await make_template(uow_factory, clock, code="BDAY-GOLD", auto_issue="birthday", value=3000, min_tier="gold",
                               total_quantity=1)
    await make_template(uow_factory, clock, code="BDAY-BLACK", auto_issue="birthday", value=9000, min_tier="black")
    await make_template(uow_factory, clock, code="ANNIV", auto_issue="anniversary", value=500)
    member = await member_in(uow_factory, clock, None)
    await set_tier(uow_factory, member, "gold")
    row = nudge(member, "birthday", now=clock.now(), year=2026)

    async with uow_factory() as uow:
        fresh = await uow.members.by_id(member.id)
        assert fresh is not None
        assert await prepare(uow, row, fresh, now=clock.now(), settings=SETTINGS) is True
        assert await prepare(uow, row, fresh, now=clock.now(), settings=SETTINGS) is True, "a repeat finds the first"
    async with uow_factory() as uow:
        owned = await uow.coupons.for_member(member.id, limit=10)
    assert [(coupon.issue_key, template.code) for coupon, template in owned] == [(f"birthday:{member.id}:2026", "BDAY-GOLD")]


    # Another gold member: the gold gift is all given out, so the next best is theirs.
    other = await member_in(uow_factory, clock, None, telegram_id=799)
    await set_tier(uow_factory, other, "gold")
    async with uow_factory() as uow:
        issued = await issue_gift(uow, await uow.lock_member(other.id), event="birthday", subject="2026",
                                  now=clock.now(), zone=SETTINGS.zone)
        await uow.commit()
    assert issued is not None and issued.template.id == everyone.id != gold.id

    # A member with no template for the kind gets no gift, and nothing is written.
    async with uow_factory() as uow:
        fresh = await uow.members.by_id(other.id)
        assert fresh is not None
        assert await prepare(uow, nudge(other, "win_back", now=clock.now()), fresh, now=clock.now(), settings=SETTINGS) is False
        assert await prepare(uow, nudge(other, "points_expiring", now=clock.now()), fresh, now=clock.now(),
                             settings=SETTINGS) is False


async def test_a_gift_comes_every_year_though_the_template_allows_one_per_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    template = await make_template(uow_factory, clock, code="BDAY1", auto_issue="birthday", value=1000)
    assert template.per_member_limit == 1
    member = await member_in(uow_factory, clock, None)
    codes = []
    for year in ("2026", "2027", "2026"):
        async with uow_factory() as uow:
            issued = await issue_gift(uow, await uow.lock_member(member.id), event="birthday", subject=year,
                                      now=clock.now(), zone=SETTINGS.zone)
            await uow.commit()
        assert issued is not None and issued.template.code == "BDAY1"
        codes.append((issued.coupon.issue_key, issued.replayed))
    assert codes == [
        (f"birthday:{member.id}:2026", False), (f"birthday:{member.id}:2027", False), (f"birthday:{member.id}:2026", True)
    ]
    async with uow_factory() as uow:
        assert len(await uow.coupons.for_member(member.id, limit=10)) == 2
