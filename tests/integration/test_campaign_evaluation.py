"""The promotion evaluation against a plain-Python reference over a generated population:
members joining over two months, purchases (some refunded in part or in full, some in another
currency) before, during and after a campaign with a hold-out, its coupons and others'. Every
figure of every window, retention, the naive and the causal effect and the reasons are worked out
here again from the rows the test wrote."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import NormalDist

import pytest
from sqlalchemy import insert

from db.models import Campaign, CampaignRecipient, Coupon, Member, Purchase
from db.uow import UnitOfWorkFactory
from loyalty.campaigns.evaluation import SHIFT, Evaluation, Reason, evaluate_campaign, evaluate_range
from loyalty.campaigns.power import READABLE_MDE
from loyalty.campaigns.report import campaign_report
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import CampaignNotFound, CampaignStateConflict, InvalidPeriod
from tests.conftest import START
from tests.utils.campaigns import member_row
from tests.utils.coupons import make_template

STARTED = START - timedelta(days=20)  # before, during and after (7 days each) are all over by now
DAYS = 7
INSTANT = timedelta(microseconds=1)
# The report's window includes its last instant (start + 7 days): so does "during", and the
# other two are as long.
LENGTH = timedelta(days=DAYS) + INSTANT
_orders = itertools.count(1)
_codes = itertools.count(1)


@dataclass
class Buy:
    member_id: int
    at: datetime
    amount: int
    refunded: int
    currency: str

    @property
    def counted(self) -> bool:
        return self.currency == "CNY" and self.amount > self.refunded


@dataclass
class Used:
    member_id: int
    at: datetime
    discount: int
    campaign_id: int | None  # whose coupon: None for one issued otherwise


@dataclass
class World:
    joined: dict[int, datetime] = field(default_factory=dict)
    targeted: set[int] = field(default_factory=set)
    reached: set[int] = field(default_factory=set)
    held_out: set[int] = field(default_factory=set)
    buys: list[Buy] = field(default_factory=list)
    coupons: list[Used] = field(default_factory=list)
    campaign_id: int = 0
    other_campaign_id: int = 0

    def sums(self, members: set[int] | None, start: datetime, end: datetime) -> tuple[int, int, int]:
        rows = [b for b in self.buys if b.counted and start <= b.at < end and (members is None or b.member_id in members)]
        return len({b.member_id for b in rows}), len(rows), sum(b.amount - b.refunded for b in rows)

    def buyers(self, members: set[int] | None, start: datetime, end: datetime) -> set[int]:
        return {
            b.member_id for b in self.buys
            if b.counted and start <= b.at < end and (members is None or b.member_id in members)
        }


async def build_world(uow_factory: UnitOfWorkFactory, clock: FixedClock, seed: int) -> World:
    rng = random.Random(seed)
    world = World()
    template = await make_template(uow_factory, clock, code=f"EVAL{seed}", kind="amount_off", value=1000)
    async with uow_factory() as uow:
        tier = await uow.program.entry_tier()
        joined = [STARTED - timedelta(days=40) + timedelta(minutes=rng.randrange(0, 59 * 24 * 60)) for _ in range(300)]
        rows = [member_row(at, tier.id, created_at=at) for at in joined]
        ids = list((await uow.session.execute(insert(Member).returning(Member.id), rows)).scalars())
        world.joined = dict(zip(ids, joined, strict=True))
        for kind, started in (("campaign", STARTED), ("other", STARTED - timedelta(days=3))):
            campaign = Campaign(
                name=kind, status="done", texts={"en": "Hello"}, buttons=[], audience={}, send_at=started,
                holdout_pct=20, seed="seed", attribution_days=DAYS, created_by="apikey:1",
                created_at=started - timedelta(hours=1), started_at=started,
            )
            uow.session.add(campaign)
            await uow.flush()
            if kind == "campaign":
                world.campaign_id = campaign.id
            else:
                world.other_campaign_id = campaign.id
        recipients = []
        for member_id, at in world.joined.items():
            if at >= STARTED:
                continue  # joined after the campaign chose its audience
            if rng.random() < 0.25:
                world.held_out.add(member_id)
                status = "held_out"
            else:
                world.targeted.add(member_id)
                status = "sent" if rng.random() < 0.7 else "skipped"
                if status == "sent":
                    world.reached.add(member_id)
            recipients.append(
                {"campaign_id": world.campaign_id, "member_id": member_id, "status": status,
                 "deliver_after": STARTED, "deferred": False, "attempts": 0}
            )
        # Buying: more likely for reached members during the campaign, which is what it should find.
        purchases = []
        for member_id, at in world.joined.items():
            for _ in range(rng.randrange(0, 5)):
                moment = at + timedelta(minutes=rng.randrange(0, max(1, int((START - at).total_seconds() // 60))))
                if member_id in world.reached and STARTED <= moment < STARTED + timedelta(days=DAYS):
                    moment += timedelta(seconds=1)  # keep it in the window, but distinct
                amount = rng.randrange(100, 20_000)
                refunded = rng.choice([0, 0, 0, 0, 0, 0, 0, amount, amount // 2])
                currency = "USD" if rng.random() < 0.05 else "CNY"
                world.buys.append(Buy(member_id, moment, amount, refunded, currency))
            if member_id in world.reached and rng.random() < 0.4:
                moment = STARTED + timedelta(minutes=rng.randrange(0, DAYS * 24 * 60))
                world.buys.append(Buy(member_id, moment, rng.randrange(100, 20_000), 0, "CNY"))
        # An edge on each boundary: a purchase at the very start of each window counts in it.
        edge_member = next(iter(world.targeted))
        for moment in (STARTED - LENGTH, STARTED, STARTED + timedelta(days=DAYS), STARTED + LENGTH):
            world.buys.append(Buy(edge_member, moment, 1_000, 0, "CNY"))
        for index, buy in enumerate(world.buys):
            purchases.append(
                {"member_id": buy.member_id, "order_id": f"EV-{seed}-{index}-{next(_orders)}", "channel": "store",
                 "amount_minor": buy.amount, "currency": buy.currency, "purchased_at": buy.at,
                 "refunded_minor": buy.refunded, "created_at": buy.at, "points_earned": 0}
            )
        await uow.session.execute(insert(Purchase), purchases)
        # The campaign's coupons, used over all three windows, and coupons from elsewhere.
        coupons = []
        for member_id in sorted(world.reached)[:30]:
            used = STARTED + timedelta(minutes=rng.randrange(-DAYS * 24 * 60, 2 * DAYS * 24 * 60))
            world.coupons.append(Used(member_id, used, rng.randrange(100, 3_000), world.campaign_id))
        for member_id in rng.sample(sorted(world.joined), 20):
            used = STARTED + timedelta(minutes=rng.randrange(-DAYS * 24 * 60, 2 * DAYS * 24 * 60))
            world.coupons.append(Used(member_id, used, rng.randrange(100, 3_000), None))
        for used in world.coupons:
            coupons.append(
                {"template_id": template.id, "member_id": used.member_id, "code": f"EV-{next(_codes):06d}",
                 "status": "used", "source": "campaign" if used.campaign_id else "api",
                 "issued_at": STARTED - timedelta(days=DAYS), "valid_from": date(2026, 10, 1),
                 "valid_until": date(2026, 12, 31), "used_at": used.at, "discount_minor": used.discount}
            )
        coupon_ids = list((await uow.session.execute(insert(Coupon).returning(Coupon.id), coupons)).scalars())
        own = {used.member_id: coupon_id for used, coupon_id in zip(world.coupons, coupon_ids, strict=True)
               if used.campaign_id}
        for row in recipients:
            row["coupon_id"] = own.get(row["member_id"])
        await uow.session.execute(insert(CampaignRecipient), recipients)
        await uow.commit()
    return world


def change(now: float | None, then: float | None) -> float | None:
    return None if now is None or not then else now / then - 1


def check_window(
    world: World, evaluation: Evaluation, name: str, start: datetime, end: datetime, *, campaign: bool
) -> None:
    window = getattr(evaluation, name)
    assert (window.start, window.end) == (start, end)
    assert window.complete
    group = world.targeted if campaign else None
    buyers, purchases, revenue = world.sums(group, start, end)
    members = len(world.targeted) if campaign else sum(1 for at in world.joined.values() if at < end)
    assert (window.members, window.buyers, window.purchases, window.revenue_minor) == (
        members, buyers, purchases, revenue
    )
    registrations = sum(1 for at in world.joined.values() if start <= at < end)
    before_it = sum(1 for at in world.joined.values() if at < start)
    assert window.new_registrations == registrations
    assert window.growth_rate == (pytest.approx(registrations / before_it) if before_it else None)
    assert window.buyer_share == pytest.approx(buyers / members)
    assert window.spend_per_member_minor == pytest.approx(revenue / members)
    assert window.purchase_frequency == (pytest.approx(purchases / buyers) if buyers else None)
    assert window.average_order_value_minor == (pytest.approx(revenue / purchases) if purchases else None)
    if campaign:
        reached_buyers = len(world.buyers(world.reached, start, end))
        assert window.participants == len(world.reached)
        assert window.participation_rate == pytest.approx(len(world.reached) / members)
        assert window.conversion_rate == pytest.approx(reached_buyers / len(world.reached))
        cost = sum(c.discount for c in world.coupons if c.campaign_id and start <= c.at < end)
    else:
        assert window.participants == buyers
        assert window.conversion_rate is None
        cost = sum(c.discount for c in world.coupons if start <= c.at < end)
    assert window.coupon_cost_minor == cost


def retention(world: World, members: set[int] | None, during: tuple[datetime, datetime],
              after: tuple[datetime, datetime]) -> float | None:
    first = world.buyers(members, *during)
    return len(first & world.buyers(members, *after)) / len(first) if first else None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_campaign_against_the_reference(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, seed: int
) -> None:
    world = await build_world(uow_factory, clock, seed)
    async with uow_factory() as uow:
        evaluation = await evaluate_campaign(uow, clock, settings, world.campaign_id)
        report = await campaign_report(uow, clock, settings, world.campaign_id)
    spans = {
        "before": (STARTED - LENGTH, STARTED),
        "during": (STARTED, STARTED + LENGTH),
        "after": (STARTED + LENGTH, STARTED + 2 * LENGTH),
    }
    for name, (start, end) in spans.items():
        check_window(world, evaluation, name, start, end, campaign=True)
    assert evaluation.campaign_id == world.campaign_id
    assert evaluation.retention == pytest.approx(retention(world, world.targeted, spans["during"], spans["after"]))

    before, during = evaluation.before, evaluation.during
    naive = evaluation.naive
    assert naive.revenue_gain_minor == during.revenue_minor - before.revenue_minor
    assert naive.buyers_change == during.buyers - before.buyers
    assert naive.lift == pytest.approx(change(during.buyers / len(world.targeted), before.buyers / len(world.targeted)))
    cost = during.coupon_cost_minor
    assert naive.roi == (pytest.approx((naive.revenue_gain_minor - cost) / cost) if cost else None)

    causal = evaluation.causal
    assert causal is not None
    # The causal side is the report's, over the same during window.
    assert (causal.lift, causal.lift_low, causal.lift_high) == (report.lift, report.lift_low, report.lift_high)
    assert causal.incremental_revenue_minor == report.incremental_revenue_minor
    assert causal.coupon_cost_minor == report.coupon_cost_minor == during.coupon_cost_minor
    assert causal.roi == report.roi
    assert causal.holdout_members == len(world.held_out)
    assert causal.targeted_members == len(world.targeted)
    held_during = len(world.buyers(world.held_out, *spans["during"]))
    held_before = len(world.buyers(world.held_out, *spans["before"]))
    assert causal.holdout_conversion == pytest.approx(held_during / len(world.held_out))
    drift = change(held_during, held_before)
    assert causal.holdout_drift == (pytest.approx(drift) if drift is not None else None)

    # The reasons, worked out again.
    expected: list[Reason] = []
    p = before.buyers / len(world.targeted) or held_during / len(world.held_out)
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    mde = z * math.sqrt(p * (1 - p) * (1 / len(world.targeted) + 1 / len(world.held_out))) / p if 0 < p < 1 else None
    if mde is None or mde > READABLE_MDE:
        expected.append(Reason.HOLDOUT_SMALL)
    if drift is not None and abs(drift) >= SHIFT:
        expected.append(Reason.HOLDOUT_MOVED)
    earlier = len(world.buyers(world.targeted, STARTED - 2 * LENGTH, STARTED - LENGTH))
    if earlier and abs(before.buyers / earlier - 1) >= SHIFT:
        expected.append(Reason.TREND)
    # Nothing was bought a year earlier: no seasonality to read. The other campaign started
    # in the before window.
    expected.append(Reason.OTHER_CAMPAIGNS)
    assert list(evaluation.reasons) == expected


async def test_a_range_of_local_days(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    world = await build_world(uow_factory, clock, 4)
    zone = settings.zone
    first = STARTED.astimezone(zone).date() - timedelta(days=2)
    last = first + timedelta(days=5)  # 6 days
    async with uow_factory() as uow:
        evaluation = await evaluate_range(uow, clock, settings, first, last)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), zone)

    six = timedelta(days=6)
    spans = {
        "before": (midnight(first - six), midnight(first)),
        "during": (midnight(first), midnight(last + timedelta(days=1))),
        "after": (midnight(last + timedelta(days=1)), midnight(last + timedelta(days=1) + six)),
    }
    for name, (start, end) in spans.items():
        check_window(world, evaluation, name, start, end, campaign=False)
    assert evaluation.during.first_day == first and evaluation.during.last_day == last
    assert evaluation.before.last_day == first - timedelta(days=1)
    assert evaluation.after.first_day == last + timedelta(days=1)
    assert evaluation.campaign_id is None and evaluation.causal is None
    assert evaluation.retention == pytest.approx(retention(world, None, spans["during"], spans["after"]))
    assert Reason.NO_HOLDOUT in evaluation.reasons
    assert Reason.WINDOW_OPEN not in evaluation.reasons


async def test_an_open_campaign(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    world = await build_world(uow_factory, clock, 5)
    # Seen 10 days after it started: the during window has ended, the after window has not.
    early = FixedClock(STARTED + timedelta(days=10))
    async with uow_factory() as uow:
        evaluation = await evaluate_campaign(uow, early, settings, world.campaign_id)
    assert evaluation.during.complete and not evaluation.after.complete
    assert evaluation.after.measured_until == early.now()
    assert evaluation.retention is None
    assert evaluation.reasons[0] is Reason.WINDOW_OPEN
    # The after window counts what was bought up to now only.
    buyers, purchases, revenue = world.sums(world.targeted, STARTED + LENGTH, early.now() + INSTANT)
    assert (evaluation.after.buyers, evaluation.after.purchases, evaluation.after.revenue_minor) == (
        buyers, purchases, revenue
    )


async def test_unknown_and_unstarted_campaigns(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(CampaignNotFound):
            await evaluate_campaign(uow, clock, settings, 999)
        campaign = Campaign(
            name="later", status="scheduled", texts={"en": "Hello"}, buttons=[], audience={},
            send_at=START + timedelta(days=1), holdout_pct=10, seed="seed", attribution_days=7,
            created_by="apikey:1", created_at=START,
        )
        uow.session.add(campaign)
        await uow.commit()
        with pytest.raises(CampaignStateConflict) as refused:
            await evaluate_campaign(uow, clock, settings, campaign.id)
    assert refused.value.reason == "scheduled"


@pytest.mark.parametrize(
    ("start", "end", "field_name"),
    [
        (date(2026, 11, 10), date(2026, 11, 9), "end"),  # ends before it starts
        (date(2026, 11, 26), date(2026, 11, 30), "start"),  # starts after today (24 Nov, Shanghai)
        (date(2023, 1, 1), date(2026, 11, 1), "start"),  # longer than three years
    ],
)
async def test_bad_ranges_are_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, start: date, end: date, field_name: str
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(InvalidPeriod) as refused:
            await evaluate_range(uow, clock, settings, start, end)
    assert refused.value.field == field_name


async def buyers_at(uow_factory: UnitOfWorkFactory, clock: FixedClock, moments: list[datetime]) -> None:
    """One new member buying once at each moment."""
    async with uow_factory() as uow:
        tier = await uow.program.entry_tier()
        first = STARTED - timedelta(days=800)
        rows = [member_row(first, tier.id, created_at=first) for _ in moments]
        ids = list((await uow.session.execute(insert(Member).returning(Member.id), rows)).scalars())
        await uow.session.execute(
            insert(Purchase),
            [{"member_id": member_id, "order_id": f"T-{next(_orders)}", "channel": "online", "amount_minor": 1_000,
              "currency": "CNY", "purchased_at": at, "refunded_minor": 0, "created_at": at, "points_earned": 0}
             for member_id, at in zip(ids, moments, strict=True)],
        )
        await uow.commit()


@pytest.mark.parametrize(
    ("earlier", "before", "during", "year_before", "year_during", "expected"),
    [
        (5, 5, 8, 0, 0, []),  # steady before, nothing a year ago to compare
        (4, 5, 8, 0, 0, [Reason.TREND]),  # +25 % already before
        (5, 5, 8, 10, 12, [Reason.SEASONALITY]),  # +20 % the same weeks a year ago
        (10, 11, 8, 0, 0, [Reason.TREND]),  # +10 %: SHIFT or more
        (20, 21, 8, 0, 0, []),  # +5 %: chance
        (4, 5, 8, 10, 8, [Reason.TREND, Reason.SEASONALITY]),  # a fall a year ago moves too
    ],
)
async def test_trend_and_seasonality(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    earlier: int,
    before: int,
    during: int,
    year_before: int,
    year_during: int,
    expected: list[Reason],
) -> None:
    zone = settings.zone
    first = date(2026, 11, 1)
    start = datetime.combine(first, time(12), zone)  # midday of the range's first day
    week = timedelta(days=7)
    year = timedelta(weeks=52)
    moments = (
        [start - 2 * week + timedelta(hours=i) for i in range(earlier)]
        + [start - week + timedelta(hours=i) for i in range(before)]
        + [start + timedelta(hours=i) for i in range(during)]
        + [start - week - year + timedelta(hours=i) for i in range(year_before)]
        + [start - year + timedelta(hours=i) for i in range(year_during)]
    )
    await buyers_at(uow_factory, clock, moments)
    async with uow_factory() as uow:
        evaluation = await evaluate_range(uow, clock, settings, first, first + timedelta(days=6))
    assert (evaluation.before.buyers, evaluation.during.buyers) == (before, during)
    assert [reason for reason in evaluation.reasons if reason in (Reason.TREND, Reason.SEASONALITY)] == expected
