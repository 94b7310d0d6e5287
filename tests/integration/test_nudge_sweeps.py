"""The nudge sweeps against the real database: who is owed what, exactly when, exactly once.

The clock is injected; the program's zone is Asia/Shanghai (UTC+8), so 12:00 UTC is 20:00 the
same local day and 17:00 UTC is 01:00 the next. Keys are checked against
loyalty.nudges.kinds.dedupe_key, the one definition of a nudge's natural key.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Coupon, CouponTemplate, Member, MemberMute, Notification, Purchase
from db.repositories.nudges import SWEEP_LOCK_KEY
from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from loyalty.nudges import sweeps
from loyalty.nudges.kinds import dedupe_key
from loyalty.nudges.sweeps import SweepReport, run_sweeps
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase

ZONE = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

_telegram_ids = itertools.count(7_000_000)
_numbers = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time in the program's zone, as the UTC instant it is."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZONE).astimezone(UTC)


# --- factories -----------------------------------------------------------------------------------


async def add_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, *, chat: bool = True, tier: str | None = None, **fields: Any
) -> int:
    """A member written straight to the table (no sign-up bonus, no gift coupons): only what
    the test sets."""
    now = clock.now()
    async with uow_factory() as uow:
        tiers = {item.code: item for item in await uow.program.tiers()}
        member = Member(
            member_number=f"9{next(_numbers):09d}",
            telegram_id=next(_telegram_ids) if chat else None,
            locale="en",
            enrolled_via="chat",
            consent_version="test",
            consented_at=now,
            points_balance=0,
            tier_id=tiers[tier or "member"].id,
            tier_since=now,
            created_at=now,
            updated_at=now,
        )
        born = fields.pop("birthday", None)
        uow.members.set_birthday(member, born)  # month and day in plain, the date encrypted
        for name, value in fields.items():
            setattr(member, name, value)
        uow.session.add(member)
        await uow.commit()
        return member.id


async def give_lot(uow_factory: UnitOfWorkFactory, member_id: int, points: int, expires_at: datetime) -> None:
    async with uow_factory() as uow:
        member = await uow.lock_member(member_id)
        earned = expires_at - timedelta(days=300)
        await ledger.credit(uow, member, points=points, kind="adjust", at=earned, expires_at=expires_at, actor="test")
        await uow.commit()


async def spend(uow_factory: UnitOfWorkFactory, member_id: int, points: int, at: datetime) -> None:
    async with uow_factory() as uow:
        member = await uow.lock_member(member_id)
        await ledger.debit(uow, member, points=points, kind="redeem", at=at, actor="test")
        await uow.commit()


async def mute(uow_factory: UnitOfWorkFactory, member_id: int, topic: str, at: datetime) -> None:
    async with uow_factory() as uow:
        uow.session.add(MemberMute(member_id=member_id, topic=topic, created_at=at))
        await uow.commit()


async def give_coupon(
    uow_factory: UnitOfWorkFactory, member_id: int, valid_until: date, *, at: datetime, status: str = "issued"
) -> int:
    async with uow_factory() as uow:
        template = await uow.session.scalar(select(CouponTemplate).where(CouponTemplate.code == "NUDGE"))
        if template is None:
            template = CouponTemplate(
                code="NUDGE", names={"en": "Ten off"}, descriptions={}, kind="amount_off", value=1000,
                currency="CNY", min_spend_minor=0, valid_days=30, store_ids=[], cities=[], min_tier_rank=0,
                per_member_limit=9, issued_count=0, active=True, created_at=at,
            )
            uow.session.add(template)
            await uow.session.flush()
        coupon = Coupon(
            template_id=template.id, member_id=member_id, code=f"CP-{next(_numbers):08d}", status=status,
            source="api", issued_at=at, valid_from=valid_until - timedelta(days=30), valid_until=valid_until,
        )
        uow.session.add(coupon)
        await uow.commit()
        return coupon.id


async def add_purchase(uow_factory: UnitOfWorkFactory, member_id: int, at: datetime) -> None:
    async with uow_factory() as uow:
        uow.session.add(
            Purchase(
                member_id=member_id, order_id=f"N-{next(_numbers)}", channel="online", amount_minor=1000,
                currency="CNY", purchased_at=at, points_earned=0, refunded_minor=0, created_at=at,
            )
        )
        await uow.commit()


async def owed(uow_factory: UnitOfWorkFactory) -> dict[str, Notification]:
    async with uow_factory() as uow:
        return {row.dedupe_key: row for row in await uow.session.scalars(select(Notification))}  # type: ignore[misc]


async def sweep(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> SweepReport:
    report = await run_sweeps(uow_factory, clock, settings)
    assert not report.skipped and report.failed == ()
    return report


def assert_fresh_row(row: Notification, kind: str, member_id: int, now: datetime) -> None:
    """What every owed nudge is, whatever its kind: pending, untried, not held back."""
    assert (row.kind, row.member_id, row.status, row.attempts) == (kind, member_id, "pending", 0)
    assert row.created_at == now and row.deliver_after is None and row.sent_at is None


# --- points_expiring -------------------------------------------------------------------------------

EXPIRES = local(2027, 1, 1)  # points earned in December 2025: usable through 31 December 2026


async def test_points_expiring_is_owed_exactly_inside_each_warning_window(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await add_member(uow_factory, clock)
    await give_lot(uow_factory, member, 100, EXPIRES)
    month_key = dedupe_key("points_expiring", member, "2026-12-31", "30d")
    week_key = dedupe_key("points_expiring", member, "2026-12-31", "7d")

    clock.set(EXPIRES - 30 * DAY - SECOND)  # one second before the 30-day warning is due
    assert (await sweep(uow_factory, clock, settings)).total == 0
    assert await owed(uow_factory) == {}

    clock.set(EXPIRES - 30 * DAY)  # exactly 30 days before
    report = await sweep(uow_factory, clock, settings)
    assert report.owed["points_expiring"] == 1 and report.total == 1
    rows = await owed(uow_factory)
    assert list(rows) == [month_key]
    assert_fresh_row(rows[month_key], "points_expiring", member, clock.now())
    assert rows[month_key].payload == {"points": 100, "expires_at": "2026-12-31T16:00:00+00:00", "lead_days": 30}
    assert rows[month_key].stale_after == EXPIRES - 7 * DAY  # the 7-day warning takes over then

    for moment in (EXPIRES - 20 * DAY, EXPIRES - 7 * DAY - SECOND):  # still the 30-day window
        clock.set(moment)
        assert (await sweep(uow_factory, clock, settings)).total == 0

    clock.set(EXPIRES - 7 * DAY)  # exactly 7 days before
    assert (await sweep(uow_factory, clock, settings)).owed["points_expiring"] == 1
    rows = await owed(uow_factory)
    assert set(rows) == {month_key, week_key}
    assert rows[week_key].payload == {"points": 100, "expires_at": "2026-12-31T16:00:00+00:00", "lead_days": 7}
    assert rows[week_key].stale_after == EXPIRES

    for moment in (EXPIRES - SECOND, EXPIRES, EXPIRES + DAY):
        clock.set(moment)
        assert (await sweep(uow_factory, clock, settings)).total == 0
    assert set(await owed(uow_factory)) == {month_key, week_key}


async def test_points_expiring_sums_what_is_left_per_expiry(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    first_end, second_end = local(2026, 11, 30), local(2026, 12, 1)  # 5 and 6 days away
    member = await add_member(uow_factory, clock)
    await give_lot(uow_factory, member, 100, first_end)
    await give_lot(uow_factory, member, 50, first_end)
    await give_lot(uow_factory, member, 40, second_end)
    await spend(uow_factory, member, 30, clock.now())  # from the first lot: 70 + 50 left
    spent = await add_member(uow_factory, clock)
    await give_lot(uow_factory, spent, 60, first_end)
    await spend(uow_factory, spent, 60, clock.now())  # nothing left to warn about

    await sweep(uow_factory, clock, settings)
    rows = await owed(uow_factory)
    assert {key: row.payload["points"] for key, row in rows.items()} == {
        dedupe_key("points_expiring", member, "2026-11-29", "7d"): 120,
        dedupe_key("points_expiring", member, "2026-11-30", "7d"): 40,
    }


# --- catching up ------------------------------------------------------------------------------------


async def test_after_twenty_days_down_only_the_nearest_warnings_are_owed(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    start = clock.now()  # 2026-11-24 20:00 local
    member = await add_member(uow_factory, clock)
    await give_lot(uow_factory, member, 10, local(2026, 12, 1))  # expires while the sweeps are down
    await give_lot(uow_factory, member, 20, local(2026, 12, 20))  # 30-day warning now, 7-day after
    await give_lot(uow_factory, member, 30, local(2027, 1, 1))  # no warning now, 30-day after
    expired_coupon = await give_coupon(uow_factory, member, date(2026, 11, 27), at=start)
    later_coupon = await give_coupon(uow_factory, member, date(2026, 12, 16), at=start)
    missed = await add_member(uow_factory, clock, birthday=date(1990, 12, 5))  # during the downtime
    late = await add_member(uow_factory, clock, birthday=date(1990, 12, 13))  # the day before the catch-up
    await sweep(uow_factory, clock, settings)
    before = await owed(uow_factory)
    assert set(before) == {
        dedupe_key("points_expiring", member, "2026-11-30", "7d"),
        dedupe_key("points_expiring", member, "2026-12-19", "30d"),
        dedupe_key("coupon_expiring", member, str(expired_coupon), "3d"),
    }

    clock.set(start + 20 * DAY)  # 2026-12-14 20:00 local
    report = await sweep(uow_factory, clock, settings)
    new = {key: row for key, row in (await owed(uow_factory)).items() if key not in before}
    assert set(new) == {
        dedupe_key("points_expiring", member, "2026-12-19", "7d"),
        dedupe_key("points_expiring", member, "2026-12-31", "30d"),
        dedupe_key("coupon_expiring", member, str(later_coupon), "3d"),
        dedupe_key("birthday", late, "2026"),
    }
    assert report.total == 4 and report.owed["points_expiring"] == 2
    assert all(row.stale_after is not None and row.stale_after > clock.now() for row in new.values())
    # Left unsent while down, the old 30-day warning is past its moment: the sender drops it.
    stale_warning = before[dedupe_key("points_expiring", member, "2026-12-19", "30d")]
    assert stale_warning.stale_after is not None and stale_warning.stale_after < clock.now()
    assert not any(row.member_id == missed for row in new.values())


# --- coupon_expiring --------------------------------------------------------------------------------


async def test_coupon_warning_is_owed_once_in_its_last_days(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()  # 24 November local
    member = await add_member(uow_factory, clock)
    due = {
        await give_coupon(uow_factory, member, date(2026, 11, 24), at=now): local(2026, 11, 25),
        await give_coupon(uow_factory, member, date(2026, 11, 27), at=now): local(2026, 11, 28),
    }
    await give_coupon(uow_factory, member, date(2026, 11, 28), at=now)  # 4 days: not yet
    await give_coupon(uow_factory, member, date(2026, 11, 23), at=now)  # over
    await give_coupon(uow_factory, member, date(2026, 11, 25), at=now, status="used")
    await give_coupon(uow_factory, member, date(2026, 11, 25), at=now, status="void")

    assert (await sweep(uow_factory, clock, settings)).owed["coupon_expiring"] == 2
    rows = await owed(uow_factory)
    assert set(rows) == {dedupe_key("coupon_expiring", member, str(coupon), "3d") for coupon in due}
    for coupon, end in due.items():
        row = rows[dedupe_key("coupon_expiring", member, str(coupon), "3d")]
        assert_fresh_row(row, "coupon_expiring", member, now)
        assert row.payload == {"coupon_id": coupon} and row.stale_after == end

    clock.advance(DAY)  # the 28 November coupon is now 3 days out; the others are not warned again
    assert (await sweep(uow_factory, clock, settings)).owed["coupon_expiring"] == 1
    assert len(await owed(uow_factory)) == 3


# --- birthdays and anniversaries -----------------------------------------------------------------------


async def test_birthdays_today_and_yesterday_in_the_programs_zone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    clock.set(local(2026, 11, 25, 1))  # 17:00 UTC on the 24th: already the 25th in Shanghai
    born = {day: await add_member(uow_factory, clock, birthday=date(1990, 11, day)) for day in (23, 24, 25, 26)}
    await add_member(uow_factory, clock)  # no birthday given

    assert (await sweep(uow_factory, clock, settings)).owed["birthday"] == 2
    rows = await owed(uow_factory)
    assert set(rows) == {dedupe_key("birthday", born[25], "2026"), dedupe_key("birthday", born[24], "2026")}
    today = rows[dedupe_key("birthday", born[25], "2026")]
    assert_fresh_row(today, "birthday", born[25], clock.now())
    assert today.payload == {"year": 2026} and today.stale_after == local(2026, 11, 27)
    assert rows[dedupe_key("birthday", born[24], "2026")].stale_after == local(2026, 11, 26)

    clock.advance(DAY)
    assert (await sweep(uow_factory, clock, settings)).owed["birthday"] == 1  # the 26th; the 25th is owed
    assert dedupe_key("birthday", born[26], "2026") in await owed(uow_factory)


async def test_new_years_eve_birthday_greeted_on_new_years_day_is_last_years(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    clock.set(local(2027, 1, 1, 9))
    member = await add_member(uow_factory, clock, birthday=date(1988, 12, 31))
    await sweep(uow_factory, clock, settings)
    row = (await owed(uow_factory))[dedupe_key("birthday", member, "2026")]
    assert row.payload == {"year": 2026} and row.stale_after == local(2027, 1, 2)


@pytest.mark.parametrize(
    ("today", "greeted"),
    [
        (local(2027, 2, 28, 10), {"feb28": "2027", "feb29": "2027"}),  # no 29th in 2027
        (local(2027, 3, 1, 10), {"feb28": "2027", "feb29": "2027", "mar1": "2027"}),  # yesterday's
        (local(2028, 2, 28, 10), {"feb28": "2028"}),  # 2028 has a 29th: wait for it
        (local(2028, 2, 29, 10), {"feb28": "2028", "feb29": "2028"}),
        (local(2028, 3, 1, 10), {"feb29": "2028", "mar1": "2028"}),
    ],
)
async def test_29_february_birthdays(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, today: datetime, greeted: dict[str, str]
) -> None:
    clock.set(today)
    members = {
        "feb28": await add_member(uow_factory, clock, birthday=date(1999, 2, 28)),
        "feb29": await add_member(uow_factory, clock, birthday=date(2000, 2, 29)),
        "mar1": await add_member(uow_factory, clock, birthday=date(2001, 3, 1)),
    }
    await sweep(uow_factory, clock, settings)
    assert set(await owed(uow_factory)) == {
        dedupe_key("birthday", members[name], year) for name, year in greeted.items()
    }


async def test_anniversaries_of_joining(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    now = clock.now()  # 2026-11-24 20:00 local

    async def joined(moment: datetime) -> int:
        return await add_member(uow_factory, clock, created_at=moment)

    one_year = await joined(local(2025, 11, 24, 0, 0, 0))  # first instant of the day
    two_years = await joined(local(2024, 11, 23, 23, 59, 59))  # yesterday's, last second
    five_years = await joined(local(2021, 11, 24, 21))  # later in the day than now: still today
    await joined(local(2026, 11, 24, 8))  # joined today: no anniversary yet
    await joined(local(2025, 11, 25))  # tomorrow's
    await joined(local(2025, 11, 22, 23, 59, 59))  # the day before yesterday's
    await add_member(uow_factory, clock, chat=False, created_at=local(2025, 11, 24, 12))

    assert (await sweep(uow_factory, clock, settings)).owed["anniversary"] == 3
    rows = await owed(uow_factory)
    expected = {one_year: (1, local(2026, 11, 26)), two_years: (2, local(2026, 11, 25)), five_years: (5, local(2026, 11, 26))}
    assert set(rows) == {dedupe_key("anniversary", member, "2026") for member in expected}
    for member, (years, stale_after) in expected.items():
        row = rows[dedupe_key("anniversary", member, "2026")]
        assert_fresh_row(row, "anniversary", member, now)
        assert row.payload == {"years": years} and row.stale_after == stale_after


async def test_29_february_joiners_celebrate_on_the_28th_in_other_years(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    clock.set(local(2024, 2, 29, 15))
    member = await add_member(uow_factory, clock)
    clock.set(local(2025, 2, 28, 10))
    await sweep(uow_factory, clock, settings)
    assert (await owed(uow_factory))[dedupe_key("anniversary", member, "2025")].payload == {"years": 1}
    clock.set(local(2028, 2, 28, 10))
    await sweep(uow_factory, clock, settings)
    assert dedupe_key("anniversary", member, "2028") not in await owed(uow_factory)
    clock.set(local(2028, 2, 29, 10))
    await sweep(uow_factory, clock, settings)
    assert (await owed(uow_factory))[dedupe_key("anniversary", member, "2028")].payload == {"years": 4}


# --- tier_at_risk and win_back -------------------------------------------------------------------------


async def test_tier_at_risk_is_owed_while_the_grace_lasts(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    since = now - 3 * DAY + timedelta(microseconds=250)
    marked = await add_member(uow_factory, clock, tier="gold", tier_at_risk_since=since)
    await add_member(uow_factory, clock, tier="silver", tier_at_risk_since=now - 30 * DAY)  # grace over
    await add_member(uow_factory, clock, tier="gold")  # qualifies

    assert (await sweep(uow_factory, clock, settings)).owed["tier_at_risk"] == 1
    [(key, row)] = (await owed(uow_factory)).items()
    assert key == dedupe_key("tier_at_risk", marked, "gold", "2026-11-21")
    assert_fresh_row(row, "tier_at_risk", marked, now)
    assert row.payload == {"tier": "gold", "at_risk_since": "2026-11-21T12:00:00+00:00"}
    assert row.stale_after == since + 30 * DAY


async def test_win_back_asks_lapsed_buyers_back_once_per_lapse(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    lapsed = await add_member(uow_factory, clock)
    await add_purchase(uow_factory, lapsed, now - 200 * DAY)
    last = local(2026, 9, 25, 7, 30)  # 60 days and 12.5 hours ago
    await add_purchase(uow_factory, lapsed, last)
    just_inside = await add_member(uow_factory, clock)
    await add_purchase(uow_factory, just_inside, now - 60 * DAY)  # exactly 60 days: not yet
    recent = await add_member(uow_factory, clock)
    await add_purchase(uow_factory, recent, now - 300 * DAY)
    await add_purchase(uow_factory, recent, now - 5 * DAY)
    await add_member(uow_factory, clock)  # never bought anything
    long_gone = await add_member(uow_factory, clock)
    await add_purchase(uow_factory, long_gone, now - 75 * DAY)  # lapsed 15 days ago: moment passed

    assert (await sweep(uow_factory, clock, settings)).owed["win_back"] == 1
    [(key, row)] = (await owed(uow_factory)).items()
    assert key == dedupe_key("win_back", lapsed, "2026-09-25")
    assert_fresh_row(row, "win_back", lapsed, now)
    assert row.payload == {"last_purchase_at": "2026-09-24T23:30:00+00:00"}
    assert row.stale_after == now + 14 * DAY

    clock.advance(DAY)
    assert (await sweep(uow_factory, clock, settings)).owed["win_back"] == 1  # just_inside, now lapsed
    clock.advance(13 * DAY)
    assert (await sweep(uow_factory, clock, settings)).owed["win_back"] == 0  # a lapse is asked once
    await add_purchase(uow_factory, lapsed, clock.now())
    clock.advance(61 * DAY)
    assert (await sweep(uow_factory, clock, settings)).owed["win_back"] == 1  # lapsed again
    keys = await owed(uow_factory)
    assert dedupe_key("win_back", lapsed, "2026-12-08") in keys
    assert dedupe_key("win_back", recent, "2026-11-19") not in keys  # its lapse began 20 days ago: missed


# --- who is never nudged -----------------------------------------------------------------------------------


async def test_blocked_chatless_and_muted_members_are_owed_nothing_of_that_topic(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()

    async def due_for_everything(**fields: Any) -> int:
        member = await add_member(
            uow_factory, clock, tier="gold", birthday=date(1990, 11, 24), created_at=local(2024, 11, 24, 9),
            tier_at_risk_since=now - DAY, **fields,
        )
        await give_lot(uow_factory, member, 10, local(2026, 12, 1))
        await give_coupon(uow_factory, member, date(2026, 11, 25), at=now)
        await add_purchase(uow_factory, member, now - 65 * DAY)
        return member

    everything = await due_for_everything()
    await due_for_everything(chat=False)
    await due_for_everything(chat_blocked_at=now - DAY)
    quiet = await due_for_everything()
    for topic in ("points", "coupons", "greetings", "tier", "offers"):
        await mute(uow_factory, quiet, topic, now)
    no_greetings = await due_for_everything()
    await mute(uow_factory, no_greetings, "greetings", now)

    report = await sweep(uow_factory, clock, settings)
    rows = (await owed(uow_factory)).values()
    kinds = ["points_expiring", "coupon_expiring", "birthday", "anniversary", "tier_at_risk", "win_back"]
    assert sorted(row.kind for row in rows if row.member_id == everything) == sorted(kinds)
    assert sorted(row.kind for row in rows if row.member_id == no_greetings) == sorted(
        set(kinds) - {"birthday", "anniversary"}
    )
    assert {row.member_id for row in rows} == {everything, no_greetings}
    assert report.total == 10


# --- exactly once, whoever sweeps -----------------------------------------------------------------------


async def _due_population(uow_factory: UnitOfWorkFactory, clock: FixedClock, members: int = 12) -> int:
    """Members each owed one nudge of every kind; returns how many nudges that is."""
    now = clock.now()
    for _ in range(members):
        member = await add_member(
            uow_factory, clock, tier="silver", birthday=date(1990, 11, 23), created_at=local(2023, 11, 24, 9),
            tier_at_risk_since=now - DAY,
        )
        await give_lot(uow_factory, member, 10, local(2026, 12, 1))
        await give_lot(uow_factory, member, 10, local(2026, 12, 15))
        await give_coupon(uow_factory, member, date(2026, 11, 26), at=now)
        await add_purchase(uow_factory, member, now - 70 * DAY)
    return members * 7


async def test_a_second_sweep_owes_nothing_new(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    expected = await _due_population(uow_factory, clock, members=3)
    first = await sweep(uow_factory, clock, settings)
    assert first.total == expected == len(await owed(uow_factory))
    assert str(first).startswith(f"{expected} owed: points_expiring 6, coupon_expiring 3, birthday 3,")
    assert set(first.seconds) == set(first.owed) and str(first).endswith(" s")
    second = await sweep(uow_factory, clock, settings)
    assert second.total == 0 and set(second.owed) == {kind for kind, _ in sweeps.SWEEPS}
    assert len(await owed(uow_factory)) == expected


async def test_two_sweeps_at_once_owe_each_nudge_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    expected = await _due_population(uow_factory, clock)
    reports = await asyncio.gather(*(run_sweeps(uow_factory, clock, settings) for _ in range(3)))
    assert all(report.failed == () for report in reports)
    assert sum(report.total for report in reports) == expected  # a skipped run owed its share or nothing
    assert len(await owed(uow_factory)) == expected


async def test_without_the_lock_the_unique_key_alone_keeps_racing_sweeps_to_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """Sweeps racing in units of work that skip the lock (the lock is an optimisation on
    PostgreSQL; correctness rests on the key): the second insert of a key waits for the first
    transaction and then does nothing."""
    expected = await _due_population(uow_factory, clock)

    async def unlocked_sweep() -> int:
        total = 0
        for _, kind_sweep in sweeps.SWEEPS:
            try:
                async with uow_factory() as uow:
                    total += await kind_sweep(uow.nudges, clock.now(), settings)
                    await asyncio.sleep(0)
                    await uow.commit()
            except DBAPIError as error:
                # Two inserts meeting each other's keys in opposite orders: PostgreSQL aborts
                # one; the other owes them all. (The sweep lock keeps real sweeps from this.)
                assert "deadlock detected" in str(error)
        return total

    totals = await asyncio.gather(*(unlocked_sweep() for _ in range(3)))
    assert sum(totals) == expected == len(await owed(uow_factory))


@pytest.mark.parametrize("span_members", [1, 2, 5])
async def test_a_sweep_span_by_span_owes_exactly_what_one_span_does(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, span_members: int
) -> None:
    expected = await _due_population(uow_factory, clock, members=7)
    await add_member(uow_factory, clock, chat=False, birthday=date(1990, 11, 23))  # owed nothing

    async def rows() -> set[tuple[Any, ...]]:
        found = {
            (key, row.member_id, row.kind, repr(row.payload), row.stale_after)
            for key, row in (await owed(uow_factory)).items()
        }
        async with uow_factory() as uow:  # the outbox only: nothing append-only
            await uow.session.execute(text("DELETE FROM notifications"))
            await uow.commit()
        return found

    whole = await run_sweeps(uow_factory, clock, settings, span_members=1_000)
    in_one = await rows()
    spanned = await run_sweeps(uow_factory, clock, settings, span_members=span_members)
    assert await rows() == in_one and len(in_one) == expected
    assert spanned.owed == whole.owed and spanned.failed == () and not spanned.skipped


async def test_a_purchase_during_a_sweep_waits_for_one_span_not_the_whole_sweep(
    one_connection: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On one connection, as a process has on SQLite: the purchase asks for it while the sweep's
    first span holds it, and gets it as soon as that span commits."""
    expected = await _due_population(one_connection, clock, members=6)
    buyer_id = await add_member(one_connection, clock, chat=False)  # owed no nudge, before or after buying
    async with one_connection() as uow:
        buyer = await uow.session.scalar(select(Member.member_number).where(Member.id == buyer_id))
    span_open, purchase_asking = asyncio.Event(), asyncio.Event()
    (first_kind, first_sweep), *others = sweeps.SWEEPS

    async def first_span_waits(nudges: Any, now: datetime, settings: Settings) -> int:
        count = await first_sweep(nudges, now, settings)  # the span's transaction holds the connection
        if not span_open.is_set():
            span_open.set()
            await purchase_asking.wait()
        return count

    monkeypatch.setattr(sweeps, "SWEEPS", ((first_kind, first_span_waits), *others))

    async def purchase() -> None:
        await span_open.wait()
        async with one_connection() as uow:
            purchase_asking.set()  # the sweep goes on once this waits for the connection below
            await record_purchase(
                uow, clock, settings,
                PurchaseRequest(MemberRef(member_number=buyer), "during-sweep", "online", 12_800, "CNY"),
                actor="test", idempotency=IdempotencyKey("test", "during-sweep", "x"),
            )

    report, _ = await asyncio.gather(run_sweeps(one_connection, clock, settings, span_members=1), purchase())
    assert report.total == expected
    async with one_connection() as uow:
        receipt = await uow.session.scalar(select(Notification.id).where(Notification.kind == "points_earned"))
        before = await uow.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.id < receipt)
        )
    # Only the first span went before it: one member's two expiry warnings.
    assert before == 2


async def test_a_sweep_finding_the_lock_held_on_postgresql_skips(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite needs no sweep lock: its write transactions already run one at a time")
    expected = await _due_population(uow_factory, clock, members=2)
    async with engine.connect() as other_process, other_process.begin():
        held = await other_process.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY})
        assert held
        with caplog.at_level("INFO", logger="loyalty.nudges.sweeps"):
            report = await run_sweeps(uow_factory, clock, settings)
        assert report.skipped and report.owed == {} and report.total == 0
        assert "another process is running the sweeps" in caplog.text
        assert "skipped: another process is running the sweeps" in str(report)
        assert await owed(uow_factory) == {}
        # committed: the lock went with the transaction
    assert (await sweep(uow_factory, clock, settings)).total == expected


async def test_a_failing_kind_does_not_stop_the_others(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await _due_population(uow_factory, clock, members=1)

    async def broken(*_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(sweeps, "SWEEPS", (("broken", broken), *sweeps.SWEEPS))
    report = await run_sweeps(uow_factory, clock, settings)
    assert report.failed == ("broken",) and not report.skipped
    assert report.total == expected == len(await owed(uow_factory))


# --- near_upgrade ----------------------------------------------------------------------------------


async def test_near_upgrade_is_owed_within_reach_of_the_next_tier_once_a_month(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    async with uow_factory() as uow:
        ladder = sorted(await uow.program.tiers(), key=lambda tier: tier.rank)
    silver = ladder[1]
    assert silver.min_spend_minor > 0

    async def spent(amount: int, *, refunded: int = 0, days_ago: int = 10) -> int:
        member = await add_member(uow_factory, clock)
        async with uow_factory() as uow:
            at = now - days_ago * DAY
            uow.session.add(
                Purchase(
                    member_id=member, order_id=f"N-{next(_numbers)}", channel="online", amount_minor=amount,
                    currency="CNY", purchased_at=at, points_earned=0, refunded_minor=refunded, created_at=at,
                )
            )
            await uow.commit()
        return member

    needed = silver.min_spend_minor
    close = await spent(needed * 80 // 100 + (1 if needed * 80 % 100 else 0))  # exactly 80 % of the way
    await spent(needed * 80 // 100 - 1)  # just short of 80 %
    await spent(needed, refunded=needed // 2)  # refunded back out of reach
    await spent(needed - 1, days_ago=400)  # outside the tier window

    assert (await sweep(uow_factory, clock, settings)).owed["near_upgrade"] == 1
    [(key, row)] = [(key, row) for key, row in (await owed(uow_factory)).items() if row.kind == "near_upgrade"]
    month = now.astimezone(ZONE).strftime("%Y-%m")
    assert key == dedupe_key("near_upgrade", close, silver.code, month)
    assert_fresh_row(row, "near_upgrade", close, now)
    assert row.payload == {"tier": silver.code} and row.stale_after == now + 3 * DAY

    clock.advance(DAY)
    assert (await sweep(uow_factory, clock, settings)).owed["near_upgrade"] == 0, "once a month"
