"""Tiers on a real database: upgrades at purchase time, the scheduled review stepping members down
after a grace period, and what a member is told about their progress."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db.models import Member, Notification, TierChange
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.tiers import (
    QualifyingStats,
    ReviewReport,
    qualifying_stats,
    review_tiers,
    tier_progress,
    upgrade_if_qualified,
)
from tests.conftest import START
from tests.utils.members import till_member
from tests.utils.purchases import add_purchase, refund

UTC = timezone.utc
MICRO = timedelta(microseconds=1)
DAY = timedelta(days=1)


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def put_in_tier(
    uow_factory: UnitOfWorkFactory,
    member: Member,
    code: str,
    *,
    at_risk_since: datetime | None = None,
) -> None:
    async with uow_factory() as uow:
        tier = await uow.program.tier_by_code(code)
        assert tier is not None
        stored = await uow.lock_member(member.id)
        stored.tier_id = tier.id
        stored.tier_at_risk_since = at_risk_since
        await uow.commit()


async def state(
    uow_factory: UnitOfWorkFactory, member: Member
) -> tuple[str, datetime | None, datetime]:
    """(tier code, at risk since, tier since) as stored."""
    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None
        tier = await uow.program.tier(stored.tier_id)
        assert tier is not None
        return tier.code, stored.tier_at_risk_since, stored.tier_since


async def notifications(
    uow_factory: UnitOfWorkFactory, member: Member
) -> list[tuple[str, dict[str, object]]]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(Notification)
            .where(Notification.member_id == member.id)
            .order_by(Notification.id)
        )
        return [(row.kind, row.payload) for row in rows if row.kind.startswith("tier_")]


async def upgrade(uow_factory: UnitOfWorkFactory, member: Member, now: datetime):  # type: ignore[no-untyped-def]
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        change = await upgrade_if_qualified(uow, locked, now=now, months=12, zone=ZoneInfo("Asia/Shanghai"))
        await uow.commit()
        return change


# --- qualifying stats -------------------------------------------------------------------------


async def test_stats_count_the_window_net_of_refunds(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    now = clock.now()  # 2026-11-24 12:00 UTC
    await add_purchase(
        uow_factory, member, amount_minor=1_000, at=at(2025, 11, 24, 12)
    )  # window start: out
    await add_purchase(
        uow_factory, member, amount_minor=2_000, at=at(2025, 11, 24, 12) + MICRO
    )  # in
    await add_purchase(uow_factory, member, amount_minor=4_000, at=now)  # in (the end is inclusive)
    await add_purchase(uow_factory, member, amount_minor=8_000, at=now + MICRO)  # not yet
    partly = await add_purchase(uow_factory, member, amount_minor=16_000, at=at(2026, 6, 1))
    await refund(uow_factory, partly, 6_000)
    await add_purchase(
        uow_factory, member, amount_minor=32_000, at=at(2026, 7, 1), refunded_minor=32_000
    )
    other = await till_member(uow_factory, clock)
    await add_purchase(uow_factory, other, amount_minor=64_000, at=at(2026, 7, 1))

    async with uow_factory() as uow:
        stats = await qualifying_stats(uow, member.id, now=now, months=12)
    # 2,000 + 4,000 + 10,000 + 0; the fully refunded purchase is no visit.
    assert stats == QualifyingStats(spend_minor=16_000, visits=3)


# --- upgrades ---------------------------------------------------------------------------------


async def test_one_purchase_over_two_thresholds_jumps_two_ranks(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    clock.advance(timedelta(hours=1))
    await add_purchase(uow_factory, member, amount_minor=600_000, at=clock.now())

    change = await upgrade(uow_factory, member, clock.now())

    assert change is not None and (change.old.code, change.new.code) == ("member", "gold")
    assert await state(uow_factory, member) == ("gold", None, clock.now())
    assert await notifications(uow_factory, member) == [
        ("tier_upgraded", {"old": "member", "new": "gold", "coupon_ids": []})
    ]
    async with uow_factory() as uow:
        [row] = [
            n for n in await uow.notifications.for_member(member.id) if n.kind == "tier_upgraded"
        ]
        assert row.status == "pending"


async def test_visits_alone_upgrade(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await till_member(uow_factory, clock)
    for day in range(10):
        await add_purchase(uow_factory, member, amount_minor=100, at=clock.now() - day * DAY)
    change = await upgrade(uow_factory, member, clock.now())
    assert change is not None and change.new.code == "silver"


async def test_no_upgrade_below_the_threshold_and_never_down(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    await add_purchase(uow_factory, member, amount_minor=199_999, at=clock.now())
    assert await upgrade(uow_factory, member, clock.now()) is None
    assert (await state(uow_factory, member))[0] == "member"

    await put_in_tier(uow_factory, member, "black")
    assert await upgrade(uow_factory, member, clock.now()) is None
    assert (await state(uow_factory, member))[0] == "black"  # down is the review's job
    assert await notifications(uow_factory, member) == []


async def test_a_purchase_that_requalifies_clears_the_risk_without_a_notification(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    await put_in_tier(uow_factory, member, "silver", at_risk_since=clock.now() - 5 * DAY)
    await add_purchase(uow_factory, member, amount_minor=150_000, at=clock.now())
    assert await upgrade(uow_factory, member, clock.now()) is None
    assert (await state(uow_factory, member))[1] is not None  # 150,000 is not enough to keep silver

    await add_purchase(uow_factory, member, amount_minor=50_000, at=clock.now())
    assert await upgrade(uow_factory, member, clock.now()) is None
    assert (await state(uow_factory, member))[:2] == ("silver", None)
    assert await notifications(uow_factory, member) == []


# --- the scheduled review ---------------------------------------------------------------------


async def test_review_over_simulated_months_steps_down_one_rank_per_grace_period(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    await add_purchase(uow_factory, member, amount_minor=300_000, at=at(2026, 1, 10))
    await add_purchase(uow_factory, member, amount_minor=200_000, at=at(2026, 3, 5))
    await add_purchase(uow_factory, member, amount_minor=150_000, at=at(2026, 6, 1))
    assert (await upgrade(uow_factory, member, clock.now())).new.code == "gold"  # type: ignore[union-attr]

    # A daily review at 03:00 UTC from tomorrow, for six months; record every change.
    history: list[tuple[datetime, str, datetime | None]] = []
    last = await state(uow_factory, member)
    day = at(2026, 11, 25, 3)
    while day < at(2027, 5, 25):
        clock.set(day)
        await review_tiers(uow_factory, clock, settings)
        now_state = await state(uow_factory, member)
        if now_state[:2] != last[:2]:
            history.append((day, now_state[0], now_state[1]))
        last = now_state
        day += DAY

    assert history == [
        # 10 January 2026 leaves the window: 350,000 left, silver's worth, not gold's.
        (at(2027, 1, 10, 3), "gold", at(2027, 1, 10, 3)),
        # 30 days on, one rank down; silver is kept on what is left, so no longer at risk.
        (at(2027, 2, 9, 3), "silver", None),
        # 5 March leaves: 150,000 and one visit keep nothing.
        (at(2027, 3, 5, 3), "silver", at(2027, 3, 5, 3)),
        (at(2027, 4, 4, 3), "member", None),
    ]
    assert await notifications(uow_factory, member) == [
        ("tier_upgraded", {"old": "member", "new": "gold", "coupon_ids": []}),
        ("tier_downgraded", {"old": "gold", "new": "silver"}),
        ("tier_downgraded", {"old": "silver", "new": "member"}),
    ]
    assert (await state(uow_factory, member))[2] == at(
        2027, 4, 4, 3
    )  # tier_since moves with the tier
    # Every move is recorded for the dashboard's tier-moves chart, ranks and times only.
    async with uow_factory() as uow:
        moves = (await uow.session.scalars(select(TierChange).order_by(TierChange.id))).all()
    assert [(move.member_id, move.from_rank, move.to_rank, move.at) for move in moves] == [
        (member.id, 0, 2, START),
        (member.id, 2, 1, at(2027, 2, 9, 3)),
        (member.id, 1, 0, at(2027, 4, 4, 3)),
    ]


async def test_grace_is_respected_to_the_microsecond(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    risk_from = clock.now() - timedelta(days=10)
    await put_in_tier(uow_factory, member, "silver", at_risk_since=risk_from)

    clock.set(risk_from + timedelta(days=settings.tier_grace_days) - MICRO)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1)
    assert await state(uow_factory, member) == (
        "silver",
        risk_from,
        clock.now() - timedelta(days=20) + MICRO,
    )

    clock.advance(MICRO)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(
        reviewed=1, downgraded=1
    )
    assert await state(uow_factory, member) == ("member", None, clock.now())


async def test_each_step_down_needs_another_full_grace_period(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    await put_in_tier(uow_factory, member, "black")
    grace = timedelta(days=settings.tier_grace_days)
    start = clock.now()

    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1, at_risk=1)
    clock.set(start + grace)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(
        reviewed=1, downgraded=1
    )
    # Still short for gold: at risk again from this moment, not from the first mark.
    assert await state(uow_factory, member) == ("gold", start + grace, start + grace)
    clock.set(start + 2 * grace - MICRO)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1)
    clock.set(start + 2 * grace)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(
        reviewed=1, downgraded=1
    )
    assert (await state(uow_factory, member))[0] == "silver"


async def test_qualifying_again_clears_the_risk(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    await put_in_tier(uow_factory, member, "silver")
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1, at_risk=1)
    await add_purchase(uow_factory, member, amount_minor=200_000, at=clock.now())
    clock.advance(DAY)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1, cleared=1)
    assert (await state(uow_factory, member))[:2] == ("silver", None)
    clock.advance(timedelta(days=60))
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1)
    assert (await state(uow_factory, member))[0] == "silver"


async def test_refunds_count_against_the_tier(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    purchase = await add_purchase(uow_factory, member, amount_minor=600_000, at=clock.now())
    await upgrade(uow_factory, member, clock.now())
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1)

    await refund(uow_factory, purchase, 1)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(reviewed=1, at_risk=1)
    assert await state(uow_factory, member) == ("gold", clock.now(), clock.now())


async def test_review_reports_and_skips_the_entry_tier(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    members = [await till_member(uow_factory, clock) for _ in range(5)]
    await put_in_tier(uow_factory, members[0], "gold")  # no purchases: at risk
    await put_in_tier(
        uow_factory, members[1], "silver", at_risk_since=clock.now() - timedelta(days=31)
    )
    await put_in_tier(uow_factory, members[2], "silver", at_risk_since=clock.now() - DAY)
    await add_purchase(uow_factory, members[2], amount_minor=250_000, at=clock.now())  # cleared
    await put_in_tier(uow_factory, members[3], "silver")
    await add_purchase(uow_factory, members[3], amount_minor=250_000, at=clock.now())  # fine
    # members[4] stays in the entry tier and is not even looked at.

    report = await review_tiers(uow_factory, clock, settings, batch=2)  # pages of two
    assert report == ReviewReport(reviewed=4, at_risk=1, downgraded=1, cleared=1)
    assert await review_tiers(uow_factory, clock, settings) == ReviewReport(
        reviewed=3
    )  # same now: nothing new
    assert [(await state(uow_factory, m))[0] for m in members] == [
        "gold",
        "member",
        "silver",
        "silver",
        "member",
    ]


# --- progress ---------------------------------------------------------------------------------


async def test_progress_to_the_next_tier_by_spend_or_visits(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    start = clock.now()
    # 21 visits of ¥200 every ten days from 300 days ago, and a ¥1,160 one 90 days ago.
    for i in range(21):
        await add_purchase(
            uow_factory, member, amount_minor=20_000, at=start - timedelta(days=300 - 10 * i)
        )
    await add_purchase(uow_factory, member, amount_minor=116_000, at=start - timedelta(days=90))
    await upgrade(uow_factory, member, start)

    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None
        progress = await tier_progress(uow, stored, now=start, settings=settings)

    assert (progress.tier.code, progress.next_tier.code if progress.next_tier else None) == (
        "silver",
        "gold",
    )
    assert progress.stats == QualifyingStats(536_000, 22)
    # ¥640 more or 3 more visits to gold.
    assert (progress.spend_to_next_minor, progress.visits_to_next) == (64_000, 3)
    # Silver holds until both measures fall short: the 17th oldest purchase (7 July 2026) leaves
    # on 7 July 2027; the grace period follows. By then three more have left, the last exactly
    # at that moment (6 August 2026 12:00): ¥1,360 and 2 visits remain.
    assert progress.keep_by == at(2027, 7, 7, 12) + timedelta(days=30)
    assert (progress.keep_spend_minor, progress.keep_visits) == (64_000, 8)
    assert not progress.at_risk


async def test_progress_when_at_risk_is_the_grace_deadline(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    await add_purchase(uow_factory, member, amount_minor=500_000, at=clock.now() - DAY)
    risk_from = clock.now() - timedelta(days=3)
    await put_in_tier(uow_factory, member, "gold", at_risk_since=risk_from)
    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None
        progress = await tier_progress(uow, stored, now=clock.now(), settings=settings)
    assert progress.at_risk
    assert progress.keep_by == risk_from + timedelta(days=30)
    assert (progress.keep_spend_minor, progress.keep_visits) == (100_000, 24)
    assert progress.next_tier is not None and progress.next_tier.code == "black"
    assert (progress.spend_to_next_minor, progress.visits_to_next) == (700_000, 49)


@pytest.mark.parametrize(("code", "next_code"), [("member", "silver"), ("black", None)])
async def test_progress_at_the_ends_of_the_ladder(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    code: str,
    next_code: str | None,
) -> None:
    member = await till_member(uow_factory, clock)
    await put_in_tier(uow_factory, member, code)
    await add_purchase(uow_factory, member, amount_minor=5_000, at=clock.now())
    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None
        progress = await tier_progress(uow, stored, now=clock.now(), settings=settings)
    assert (progress.next_tier.code if progress.next_tier else None) == next_code
    if code == "member":
        assert (progress.spend_to_next_minor, progress.visits_to_next) == (195_000, 9)
        assert (progress.keep_spend_minor, progress.keep_visits, progress.keep_by) == (
            None,
            None,
            None,
        )
    else:
        assert (progress.spend_to_next_minor, progress.visits_to_next) == (None, None)
        # Not qualifying now: the tier can go once the grace period after today's review ends.
        assert progress.keep_by == clock.now() + timedelta(days=30)
        assert (progress.keep_spend_minor, progress.keep_visits) == (1_195_000, 49)
