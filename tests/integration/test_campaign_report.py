"""The campaign report against a population built by hand, so every figure is known: the
targeted group (every recipient not held out, whatever became of the message) against the
hold-out, inside the attribution window only, net of refunds, in the program's currency, with
the lift's confidence interval computed here again from the formula, and the coupon cost from
the campaign's own coupons only."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import NormalDist

import pytest

from db.models import Campaign, CampaignRecipient, Coupon, CouponTemplate, Member, Purchase
from db.uow import UnitOfWorkFactory
from loyalty.campaigns.report import Report, campaign_report, relative_lift
from loyalty.clock import Clock, FixedClock
from loyalty.config import Settings
from loyalty.errors import CampaignNotFound
from loyalty.members import luhn_check_digit
from tests.conftest import START
from tests.utils.coupons import make_template

_numbers = itertools.count(100_000_000)
_orders = itertools.count(1)
_coupon_codes = itertools.count(1)

# The population of the main scenario.
TARGETED, TARGETED_BUYERS, HELD_OUT, HELD_OUT_BUYERS = 200, 30, 50, 5
STARTED = START - timedelta(days=10)  # a closed window: 7 days, ended 3 days ago
ATTRIBUTION_DAYS = 7


def next_member_number() -> str:
    body = str(next(_numbers))
    return body + luhn_check_digit(body)


async def add_members(uow_factory: UnitOfWorkFactory, clock: Clock, count: int) -> list[int]:
    """`count` members written directly (no signup bonus, no welcome coupon): only what the
    scenario adds exists."""
    now = clock.now()
    async with uow_factory() as uow:
        tier = await uow.program.entry_tier()
        members = [
            Member(
                member_number=next_member_number(),
                telegram_id=None,
                locale="en",
                enrolled_via="till",
                tier_id=tier.id,
                tier_since=now,
                consent_version="test",
                consented_at=now,
                points_balance=0,
                created_at=now,
                updated_at=now,
            )
            for _ in range(count)
        ]
        uow.session.add_all(members)
        await uow.flush()
        ids = [member.id for member in members]
        await uow.commit()
        return ids


async def add_campaign(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    started_at: datetime | None = STARTED,
    attribution_days: int = ATTRIBUTION_DAYS,
    holdout_pct: int = 20,
    status: str = "done",
) -> int:
    async with uow_factory() as uow:
        campaign = Campaign(
            name="Member day",
            status=status,
            texts={"en": "Member day: 20% off today"},
            buttons=[],
            audience={},
            send_at=started_at or clock.now() + timedelta(days=1),
            holdout_pct=holdout_pct,
            seed="seed",
            attribution_days=attribution_days,
            created_by="apikey:1",
            created_at=(started_at or clock.now()) - timedelta(hours=1),
            started_at=started_at,
            finished_at=started_at + timedelta(minutes=5) if started_at and status == "done" else None,
        )
        uow.session.add(campaign)
        await uow.flush()
        await uow.commit()
        return campaign.id


async def add_recipients(
    uow_factory: UnitOfWorkFactory,
    campaign_id: int,
    member_ids: Sequence[int],
    status: str,
    *,
    reason: str | None = None,
    coupons: Sequence[int | None] = (),
) -> None:
    async with uow_factory() as uow:
        uow.session.add_all(
            CampaignRecipient(
                campaign_id=campaign_id,
                member_id=member_id,
                status=status,
                reason=reason,
                deliver_after=STARTED,
                deferred=False,
                attempts=1 if status in ("sent", "failed") else 0,
                sent_at=STARTED + timedelta(minutes=1) if status == "sent" else None,
                coupon_id=coupons[index] if index < len(coupons) else None,
            )
            for index, member_id in enumerate(member_ids)
        )
        await uow.commit()


async def buy(
    uow_factory: UnitOfWorkFactory,
    member_id: int,
    at: datetime,
    amount_minor: int,
    *,
    refunded_minor: int = 0,
    currency: str = "CNY",
) -> None:
    async with uow_factory() as uow:
        uow.session.add(
            Purchase(
                member_id=member_id,
                order_id=f"R-{next(_orders)}",
                channel="store",
                amount_minor=amount_minor,
                currency=currency,
                purchased_at=at,
                refunded_minor=refunded_minor,
                created_at=at,
            )
        )
        await uow.commit()


async def coupon(
    uow_factory: UnitOfWorkFactory,
    template: CouponTemplate,
    member_id: int,
    *,
    used_at: datetime | None,
    discount_minor: int | None = None,
    bonus_points: int | None = None,
    source: str = "campaign",
) -> int:
    async with uow_factory() as uow:
        row = Coupon(
            template_id=template.id,
            member_id=member_id,
            code=f"CP-TEST-{next(_coupon_codes):04d}",
            status="used" if used_at else "issued",
            source=source,
            issued_at=STARTED,
            valid_from=date(2026, 11, 1),
            valid_until=date(2026, 12, 31),
            used_at=used_at,
            discount_minor=discount_minor if used_at else None,
            bonus_points=bonus_points if used_at else None,
        )
        uow.session.add(row)
        await uow.flush()
        await uow.commit()
        return row.id


@dataclass
class Population:
    campaign_id: int
    targeted: list[int]
    held_out: list[int]
    outsiders: list[int] = field(default_factory=list)


def katz_interval(a: int, n1: int, c: int, n2: int) -> tuple[float, float]:
    """The 95% interval of conv_t / conv_h - 1, written out again from the formula."""
    z = NormalDist().inv_cdf(0.975)
    ratio = (a / n1) / (c / n2)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return math.exp(math.log(ratio) - z * se) - 1, math.exp(math.log(ratio) + z * se) - 1


async def build_population(uow_factory: UnitOfWorkFactory, clock: Clock) -> Population:
    """200 targeted members with 30 buyers against 50 held out with 5 buyers, plus everything
    that must not count: purchases outside the window, by members outside the campaign, in
    another currency, refunded in full; coupons of other campaigns, unused, or used late.

    Targeted revenue: 30 x 100.00 + a 50.00 purchase with 20.00 refunded = 3,030.00; held out:
    5 x 80.00 = 400.00. Coupon cost: 10 x 10.00 of this campaign's coupons used in the window."""
    ids = await add_members(uow_factory, clock, TARGETED + HELD_OUT + 3)
    targeted, held_out, outsiders = ids[:TARGETED], ids[TARGETED : TARGETED + HELD_OUT], ids[TARGETED + HELD_OUT :]
    campaign_id = await add_campaign(uow_factory, clock)
    other_campaign = await add_campaign(uow_factory, clock)
    amount_off = await make_template(uow_factory, clock, code="MEMBERDAY", kind="amount_off", value=1000)
    double = await make_template(uow_factory, clock, code="DOUBLE", kind="points_multiplier", value=200)
    inside = STARTED + timedelta(days=2)

    # This campaign's coupons: 10 used in the window (the cost), one used after it, one never.
    used_coupons = [await coupon(uow_factory, amount_off, member, used_at=inside, discount_minor=1000)
                    for member in targeted[:10]]
    late_coupon = await coupon(
        uow_factory, amount_off, targeted[10], used_at=STARTED + timedelta(days=8), discount_minor=1000
    )
    unused_coupon = await coupon(uow_factory, amount_off, targeted[11], used_at=None)
    # A points coupon of this campaign: its points are reported, never counted as money.
    points_coupon = await coupon(
        uow_factory, double, targeted[12], used_at=inside, discount_minor=0, bonus_points=50
    )
    campaign_coupons = [*used_coupons, late_coupon, unused_coupon, points_coupon]

    # Whatever became of the message, every recipient not held out is targeted (intent to treat).
    await add_recipients(uow_factory, campaign_id, targeted[:150], "sent", coupons=campaign_coupons)
    await add_recipients(uow_factory, campaign_id, targeted[150:170], "skipped", reason="opted_out")
    await add_recipients(uow_factory, campaign_id, targeted[170:180], "skipped", reason="unreachable")
    await add_recipients(uow_factory, campaign_id, targeted[180:190], "failed", reason="Bad Request: chat not found")
    await add_recipients(uow_factory, campaign_id, targeted[190:], "cancelled")
    await add_recipients(uow_factory, campaign_id, held_out, "held_out")

    # Buyers: spread over the statuses on purpose (members 0-19 were sent to, 150-159 skipped).
    targeted_buyers = targeted[:20] + targeted[150:160]
    for member in targeted_buyers:
        await buy(uow_factory, member, inside, 10_000)
    await buy(uow_factory, targeted_buyers[0], inside + timedelta(hours=1), 5_000, refunded_minor=2_000)
    for member in held_out[:HELD_OUT_BUYERS]:
        await buy(uow_factory, member, inside, 8_000)

    # None of these count.
    await buy(uow_factory, targeted[40], STARTED - timedelta(seconds=1), 99_000)  # before the start
    await buy(uow_factory, targeted[41], STARTED + timedelta(days=7, seconds=1), 99_000)  # after the end
    await buy(uow_factory, held_out[40], STARTED + timedelta(days=9), 99_000)  # after the end
    await buy(uow_factory, targeted[42], inside, 99_000, refunded_minor=99_000)  # refunded in full
    await buy(uow_factory, targeted[43], inside, 99_000, currency="USD")  # another currency
    await buy(uow_factory, held_out[41], inside, 99_000, currency="USD")  # another currency
    for member in outsiders:  # not in the campaign
        await buy(uow_factory, member, inside, 99_000)

    # Coupons that are not this campaign's: compared between the groups, never its cost.
    other_coupon = await coupon(uow_factory, amount_off, targeted[13], used_at=inside, discount_minor=1000)
    await add_recipients(uow_factory, other_campaign, [targeted[13]], "sent", coupons=[other_coupon])
    await coupon(uow_factory, amount_off, targeted[14], used_at=inside, discount_minor=1000, source="api")
    await coupon(uow_factory, amount_off, held_out[0], used_at=inside, discount_minor=1000, source="api")
    await coupon(uow_factory, amount_off, outsiders[0], used_at=inside, discount_minor=1000, source="api")
    return Population(campaign_id, targeted, held_out, outsiders)


async def report_of(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, campaign_id: int) -> Report:
    async with uow_factory() as uow:
        return await campaign_report(uow, clock, settings, campaign_id)


async def test_the_report_of_a_hand_built_population(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    population = await build_population(uow_factory, clock)
    report = await report_of(uow_factory, clock, settings, population.campaign_id)

    assert report.window_start == STARTED
    assert report.window_end == STARTED + timedelta(days=ATTRIBUTION_DAYS)
    assert report.measured_until == report.window_end and not report.window_open
    assert report.currency == "CNY"

    targeted, holdout = report.targeted, report.holdout
    assert (targeted.members, targeted.buyers, targeted.purchases) == (200, 30, 31)
    assert (holdout.members, holdout.buyers, holdout.purchases) == (50, 5, 5)
    assert targeted.conversion == pytest.approx(0.15)
    assert holdout.conversion == pytest.approx(0.10)
    assert targeted.revenue_minor == 30 * 10_000 + 3_000
    assert holdout.revenue_minor == 5 * 8_000
    assert targeted.revenue_per_member_minor == pytest.approx(1_515.0)
    assert holdout.revenue_per_member_minor == pytest.approx(800.0)
    # 10 in the window + the points coupon + another campaign's + an API coupon; the hold-out: 1.
    assert targeted.coupons_redeemed == 13
    assert holdout.coupons_redeemed == 1

    assert report.lift == pytest.approx(0.5)
    low, high = katz_interval(30, 200, 5, 50)
    assert report.lift_low == pytest.approx(low)
    assert report.lift_high == pytest.approx(high)
    assert (round(low, 4), round(high, 4)) == (-0.3868, 2.6695)  # not significant: 0 is inside

    assert report.incremental_revenue_minor == (1_515 - 800) * 200
    assert report.coupon_cost_minor == 10 * 1_000
    assert report.campaign_coupons_redeemed == 11
    assert report.coupon_bonus_points == 50
    assert report.roi == pytest.approx(((1_515 - 800) * 200 - 10_000) / 10_000)
    assert report.other_currency_purchases == 2

    delivery = report.progress
    assert (delivery.total, delivery.sent, delivery.skipped, delivery.failed) == (250, 150, 30, 10)
    assert (delivery.opted_out, delivery.unreachable, delivery.held_out, delivery.cancelled) == (20, 10, 50, 10)
    assert delivery.pending == 0


async def test_an_open_window_is_cut_at_now(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    targeted, held_out = [await add_members(uow_factory, clock, n) for n in (4, 2)]
    started = clock.now() - timedelta(days=2)
    campaign_id = await add_campaign(uow_factory, clock, started_at=started, status="sending")
    await add_recipients(uow_factory, campaign_id, targeted, "sent")
    await add_recipients(uow_factory, campaign_id, held_out, "held_out")
    await buy(uow_factory, targeted[0], clock.now() - timedelta(hours=1), 1_000)
    await buy(uow_factory, held_out[0], clock.now(), 1_000)  # the window's edge counts
    await buy(uow_factory, targeted[1], clock.now() + timedelta(hours=1), 1_000)  # not yet happened

    report = await report_of(uow_factory, clock, settings, campaign_id)
    assert report.window_end == started + timedelta(days=ATTRIBUTION_DAYS)
    assert report.measured_until == clock.now() and report.window_open
    assert (report.targeted.buyers, report.holdout.buyers) == (1, 1)
    assert report.lift == pytest.approx((1 / 4) / (1 / 2) - 1)

    clock.advance(timedelta(hours=2))  # later, the same campaign has measured more
    later = await report_of(uow_factory, clock, settings, campaign_id)
    assert later.targeted.buyers == 2


async def test_an_occurrence_of_a_recurring_campaign_ends_where_the_next_one_starts(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    targeted, held_out = [await add_members(uow_factory, clock, n) for n in (4, 2)]
    first_start, second_start = clock.now() - timedelta(days=20), clock.now() - timedelta(days=5)
    first = await add_campaign(uow_factory, clock, started_at=first_start, attribution_days=30)
    second = await add_campaign(uow_factory, clock, started_at=second_start, attribution_days=30)
    one_off = await add_campaign(uow_factory, clock, started_at=first_start, attribution_days=30)
    async with uow_factory() as uow:  # first and second: one monthly member day
        for campaign_id, parent in ((first, None), (second, first)):
            occurrence = await uow.session.get(Campaign, campaign_id)
            assert occurrence is not None
            occurrence.recurrence, occurrence.parent_id = "monthly", parent
        await uow.commit()
    for campaign_id in (first, second, one_off):
        await add_recipients(uow_factory, campaign_id, targeted, "sent")
        await add_recipients(uow_factory, campaign_id, held_out, "held_out")
    await buy(uow_factory, targeted[0], first_start + timedelta(days=1), 1_000)
    await buy(uow_factory, targeted[1], second_start, 1_000)  # the second member day's first moment
    await buy(uow_factory, targeted[2], second_start + timedelta(days=1), 1_000)

    earlier = await report_of(uow_factory, clock, settings, first)
    assert earlier.window_end == second_start - timedelta(microseconds=1) and not earlier.window_open
    assert (earlier.targeted.buyers, earlier.targeted.revenue_minor) == (1, 1_000)
    later = await report_of(uow_factory, clock, settings, second)
    assert later.window_end == second_start + timedelta(days=30) and later.window_open
    assert (later.targeted.buyers, later.targeted.revenue_minor) == (2, 2_000)
    alone = await report_of(uow_factory, clock, settings, one_off)
    assert alone.window_end == first_start + timedelta(days=30), "a campaign that does not recur is not cut"
    assert alone.targeted.buyers == 3


@pytest.mark.parametrize(
    ("held_out_count", "held_out_buyers", "targeted_buyers"),
    [(5, 0, 2), (5, 2, 0), (0, 0, 2)],
    ids=["hold-out-bought-nothing", "targeted-bought-nothing", "no-hold-out"],
)
async def test_without_buyers_in_both_groups_there_is_no_lift(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    held_out_count: int,
    held_out_buyers: int,
    targeted_buyers: int,
) -> None:
    targeted = await add_members(uow_factory, clock, 10)
    held_out = await add_members(uow_factory, clock, held_out_count) if held_out_count else []
    campaign_id = await add_campaign(uow_factory, clock, holdout_pct=20 if held_out else 0)
    await add_recipients(uow_factory, campaign_id, targeted, "sent")
    if held_out:
        await add_recipients(uow_factory, campaign_id, held_out, "held_out")
    for member in targeted[:targeted_buyers]:
        await buy(uow_factory, member, STARTED + timedelta(days=1), 1_000)
    for member in held_out[:held_out_buyers]:
        await buy(uow_factory, member, STARTED + timedelta(days=1), 1_000)

    report = await report_of(uow_factory, clock, settings, campaign_id)
    assert (report.lift, report.lift_low, report.lift_high) == (None, None, None)
    assert report.targeted.buyers == targeted_buyers
    assert report.roi is None  # no coupon, no cost
    if held_out:
        expected = (targeted_buyers * 1_000 / 10 - held_out_buyers * 1_000 / held_out_count) * 10
        assert report.incremental_revenue_minor == round(expected)
    else:
        assert report.holdout.members == 0 and report.holdout.conversion == 0.0
        assert report.incremental_revenue_minor is None


async def test_a_campaign_that_never_started_measures_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    [member] = await add_members(uow_factory, clock, 1)
    campaign_id = await add_campaign(uow_factory, clock, started_at=None, status="scheduled")
    await buy(uow_factory, member, clock.now() - timedelta(hours=1), 1_000)
    report = await report_of(uow_factory, clock, settings, campaign_id)
    assert (report.window_start, report.window_end, report.measured_until) == (None, None, None)
    assert report.targeted.members == report.holdout.members == 0
    assert report.lift is None and report.incremental_revenue_minor is None and report.roi is None
    assert report.coupon_cost_minor == 0


async def test_an_unknown_campaign_is_not_found(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    with pytest.raises(CampaignNotFound):
        await report_of(uow_factory, clock, settings, 4242)


async def test_a_negative_effect_gives_a_negative_roi(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    targeted, held_out = [await add_members(uow_factory, clock, n) for n in (10, 10)]
    campaign_id = await add_campaign(uow_factory, clock)
    template = await make_template(uow_factory, clock, code="TENOFF", kind="amount_off", value=500)
    used = await coupon(uow_factory, template, targeted[0], used_at=STARTED + timedelta(days=1), discount_minor=500)
    await add_recipients(uow_factory, campaign_id, targeted, "sent", coupons=[used])
    await add_recipients(uow_factory, campaign_id, held_out, "held_out")
    await buy(uow_factory, targeted[0], STARTED + timedelta(days=1), 2_000)
    for member in held_out[:2]:
        await buy(uow_factory, member, STARTED + timedelta(days=1), 2_000)

    report = await report_of(uow_factory, clock, settings, campaign_id)
    assert report.lift == pytest.approx(-0.5)
    assert report.lift_low is not None and report.lift_low > -1  # the log method never goes below -100%
    assert report.incremental_revenue_minor == (200 - 400) * 10
    assert report.roi == pytest.approx((-2_000 - 500) / 500)


def test_relative_lift_matches_the_formula_and_refuses_thin_data() -> None:
    for a, n1, c, n2 in [(30, 200, 5, 50), (120, 1000, 90, 1000), (1, 3, 1, 3), (10, 10, 5, 10)]:
        lift = relative_lift(a, n1, c, n2)
        assert lift is not None
        assert lift.value == pytest.approx((a / n1) / (c / n2) - 1)
        assert (lift.low, lift.high) == pytest.approx(katz_interval(a, n1, c, n2))
        assert lift.low <= lift.value <= lift.high
    assert relative_lift(0, 10, 1, 10) is None
    assert relative_lift(1, 10, 0, 10) is None
    assert relative_lift(0, 0, 1, 10) is None
    assert relative_lift(1, 10, 0, 0) is None
