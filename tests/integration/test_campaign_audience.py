"""Campaign audiences against the real database: each filter alone and with others, sizes,
codes that do not exist, and filters refused before they reach SQL.

The clock stands at 2026-11-24 12:00 UTC (20:00 in the program's zone, Asia/Shanghai).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError

from db.models import Coupon, CouponTemplate
from db.uow import UnitOfWorkFactory
from loyalty.campaigns.audience import (
    Audience,
    AudienceSize,
    audience_size,
    check_audience,
    member_filter,
)
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidCampaign
from tests.utils.campaigns import add_member, bought, mute_offers, tag
from tests.utils.coupons import add_store

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Town:
    """The population every filter is tried on (ids)."""

    ann: int  # gold, Shanghai, born in March, vip, bought at S1 100 days ago, an unused coupon
    bob: int  # silver, beijing, born in November, office, never bought
    cat: int  # entry tier, "SHANGHAI", bought online 10 days ago, a coupon whose last day was yesterday
    dan: int  # entry tier, no city, bought at S1 400 days ago, a used coupon
    eve: int  # gold, Hangzhou, vip + office, bought 200 days ago and at S1 30 days ago, an unused coupon; muted offers
    fay: int  # silver, Beijing, no chat (unreachable)

    @property
    def everyone(self) -> set[int]:
        return {self.ann, self.bob, self.cat, self.dan, self.eve, self.fay}


@pytest.fixture
async def town(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Town:
    now = clock.now()
    s1 = await add_store(uow_factory, clock, "S1", city="Shanghai")
    await add_store(uow_factory, clock, "S2")
    ann = await add_member(uow_factory, clock, tier="gold", city="Shanghai", birthday=date(1990, 3, 5))
    bob = await add_member(uow_factory, clock, tier="silver", city="beijing", birthday=date(1985, 11, 20))
    cat = await add_member(uow_factory, clock, city="SHANGHAI")
    dan = await add_member(uow_factory, clock)
    eve = await add_member(uow_factory, clock, tier="gold", city="Hangzhou")
    fay = await add_member(uow_factory, clock, tier="silver", city="Beijing", chat=False)
    await tag(uow_factory, clock, ann, "vip")
    await tag(uow_factory, clock, bob, "office")
    await tag(uow_factory, clock, eve, "vip", "office")
    await bought(uow_factory, ann, at=now - 100 * DAY, store_id=s1.id)
    await bought(uow_factory, cat, at=now - 10 * DAY)
    await bought(uow_factory, dan, at=now - 400 * DAY, store_id=s1.id)
    await bought(uow_factory, eve, at=now - 200 * DAY)
    await bought(uow_factory, eve, at=now - 30 * DAY, store_id=s1.id)
    today = date(2026, 11, 24)
    await _coupon(uow_factory, ann, valid_until=today, status="issued", at=now)
    await _coupon(uow_factory, cat, valid_until=today - DAY, status="issued", at=now)
    await _coupon(uow_factory, dan, valid_until=today + 30 * DAY, status="used", at=now)
    await _coupon(uow_factory, eve, valid_until=today + 30 * DAY, status="issued", at=now)
    await mute_offers(uow_factory, clock, eve)
    return Town(ann, bob, cat, dan, eve, fay)


async def _coupon(
    uow_factory: UnitOfWorkFactory, member_id: int, *, valid_until: date, status: str, at: datetime
) -> None:
    async with uow_factory() as uow:
        template = await uow.coupons.template_by_code("AUD")
        if template is None:
            template = CouponTemplate(
                code="AUD", names={"en": "Ten off"}, descriptions={}, kind="amount_off", value=1000, currency="CNY",
                min_spend_minor=0, valid_days=30, store_ids=[], cities=[], min_tier_rank=0, per_member_limit=9,
                issued_count=0, active=True, created_at=at,
            )
            await uow.coupons.add_template(template)
        uow.session.add(
            Coupon(
                template_id=template.id, member_id=member_id, code=f"CP-AUD-{member_id:08d}", status=status,
                source="api", issued_at=at, valid_from=valid_until - 30 * DAY, valid_until=valid_until,
            )
        )
        await uow.commit()


async def members_of(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, **filters: object
) -> set[int]:
    """The audience's member ids, streamed two at a time (so chunking is exercised too)."""
    audience = Audience.model_validate(filters)
    found: list[int] = []
    async with uow_factory() as uow:
        members = await member_filter(uow, audience, now=clock.now(), zone=settings.zone)
        async for chunk in uow.campaigns.stream_audience(members, chunk=2):
            assert 1 <= len(chunk) <= 2
            found.extend(row.member_id for row in chunk)
    assert found == sorted(found), "streamed in member id order"
    assert len(found) == len(set(found))
    return set(found)


async def test_no_filter_is_every_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, town: Town
) -> None:
    assert await members_of(uow_factory, clock, settings) == town.everyone


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tiers": ["gold"]}, {"ann", "eve"}),
        ({"tiers": ["silver", "member"]}, {"bob", "cat", "dan", "fay"}),
        ({"cities": ["shanghai"]}, {"ann", "cat"}),
        ({"cities": ["Beijing", "Hangzhou"]}, {"bob", "eve", "fay"}),
        # S1 is in Shanghai: its city's members, and who bought there in the last 365 days
        # (eve from Hangzhou did, dan's purchase there is 400 days old).
        ({"near_store": "S1"}, {"ann", "cat", "eve"}),
        ({"near_store": "S2"}, set()),  # no city, no purchases
        ({"tags": ["vip"]}, {"ann", "eve"}),
        ({"tags": ["office", "vip"]}, {"ann", "bob", "eve"}),
        ({"tags": ["nobody"]}, set()),
        # Last purchase before 50 days ago: bought, and not since (eve bought again 30 days ago).
        ({"last_purchase_before": "2026-10-05T12:00:00+00:00"}, {"ann", "dan"}),
        ({"last_purchase_after": "2026-10-05T12:00:00+00:00"}, {"cat", "eve"}),
        ({"last_purchase_after": "2026-11-14T12:00:00+00:00"}, {"cat"}),  # exactly 10 days ago: included
        ({"birthday_month": 3}, {"ann"}),
        ({"birthday_month": 11}, {"bob"}),
        ({"birthday_month": 7}, set()),
        # Unused: issued and not over today (ann's last day is today); cat's ended yesterday,
        # dan's is used.
        ({"has_unused_coupon": True}, {"ann", "eve"}),
        ({"has_unused_coupon": False}, {"bob", "cat", "dan", "fay"}),
    ],
)
async def test_each_filter_alone(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    town: Town,
    filters: dict[str, object],
    expected: set[str],
) -> None:
    assert await members_of(uow_factory, clock, settings, **filters) == {getattr(town, name) for name in expected}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tiers": ["gold"], "tags": ["vip"], "near_store": "S1"}, {"ann", "eve"}),
        (
            {"tiers": ["gold"], "tags": ["vip"], "near_store": "S1", "last_purchase_before": "2026-10-05T12:00:00Z"},
            {"ann"},
        ),
        ({"cities": ["beijing"], "tags": ["office"]}, {"bob"}),
        ({"cities": ["beijing"], "has_unused_coupon": False, "tiers": ["silver"]}, {"bob", "fay"}),
        ({"near_store": "S1", "has_unused_coupon": False}, {"cat"}),
        ({"birthday_month": 3, "tiers": ["silver"]}, set()),
        (
            {"last_purchase_after": "2025-01-01T00:00:00Z", "last_purchase_before": "2026-09-01T00:00:00Z"},
            {"ann", "dan"},
        ),
    ],
)
async def test_filters_combine_with_and(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    town: Town,
    filters: dict[str, object],
    expected: set[str],
) -> None:
    assert await members_of(uow_factory, clock, settings, **filters) == {getattr(town, name) for name in expected}


async def test_size_counts_reachable_opted_out_and_unreachable(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, town: Town
) -> None:
    async with uow_factory() as uow:
        everyone = await audience_size(uow, Audience(), now=clock.now(), zone=settings.zone)
        gold = await audience_size(uow, Audience(tiers=["gold"]), now=clock.now(), zone=settings.zone)
        beijing = await audience_size(uow, Audience(cities=["beijing"]), now=clock.now(), zone=settings.zone)
        nobody = await audience_size(uow, Audience(tags=["nobody"]), now=clock.now(), zone=settings.zone)
    assert everyone == AudienceSize(total=6, reachable=4, opted_out=1, unreachable=1)
    assert gold == AudienceSize(total=2, reachable=1, opted_out=1, unreachable=0)
    assert beijing == AudienceSize(total=2, reachable=1, opted_out=0, unreachable=1)
    assert nobody == AudienceSize(0, 0, 0, 0)


async def test_blocked_members_are_unreachable(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_member(uow_factory, clock, chat_blocked_at=clock.now() - DAY)
    await add_member(uow_factory, clock)
    async with uow_factory() as uow:
        size = await audience_size(uow, Audience(), now=clock.now(), zone=settings.zone)
    assert size == AudienceSize(total=2, reachable=1, opted_out=0, unreachable=1)


async def test_unused_coupon_day_is_read_in_the_program_zone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """At 17:00 UTC on 24 November it is already 25 November in Shanghai: a coupon whose last
    day was the 24th is over there, though not in UTC."""
    clock.set(datetime.fromisoformat("2026-11-24T17:00:00+00:00"))
    member = await add_member(uow_factory, clock)
    await _coupon(uow_factory, member, valid_until=date(2026, 11, 24), status="issued", at=clock.now())
    audience = Audience(has_unused_coupon=True)
    async with uow_factory() as uow:
        program_zone = await audience_size(uow, audience, now=clock.now(), zone=settings.zone)
        utc = await audience_size(uow, audience, now=clock.now())
    assert program_zone.total == 0
    assert utc.total == 1


async def test_unknown_tier_or_store_is_refused_by_name(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_store(uow_factory, clock, "S1", city="Shanghai")
    async with uow_factory() as uow:
        await check_audience(uow, Audience(tiers=["gold"], near_store="S1"))
        with pytest.raises(InvalidCampaign) as tier:
            await check_audience(uow, Audience(tiers=["gold", "platinum"]))
        with pytest.raises(InvalidCampaign) as store:
            await check_audience(uow, Audience(near_store="S9"))
        with pytest.raises(InvalidCampaign):
            await audience_size(uow, Audience(tiers=["platinum"]), now=clock.now())
    assert tier.value.details["field"] == "audience.tiers"
    assert "platinum" in str(tier.value)
    assert store.value.details["field"] == "audience.near_store"
    assert "S9" in str(store.value)


@pytest.mark.parametrize(
    "filters",
    [
        {"birthday_month": 0},
        {"birthday_month": 13},
        {"rfm": ["whales"]},
        {"tier": ["gold"]},  # a misspelt filter is refused, not ignored
        {"last_purchase_before": "2026-10-05T12:00:00"},  # no zone
        {"tags": [f"t{n}" for n in range(101)]},
    ],
)
def test_bad_filters_are_refused_before_any_query(filters: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Audience.model_validate(filters)


def test_describe_says_what_the_audience_is() -> None:
    assert Audience().describe() == "every member"
    assert Audience(tiers=["gold"], rfm=["at_risk"]).describe() == "tier gold · RFM at_risk"
    described = Audience(
        cities=["Shanghai"], near_store="S1", tags=["vip"], birthday_month=3, has_unused_coupon=False,
        last_purchase_before=datetime.fromisoformat("2026-10-05T00:00:00+00:00"),
    ).describe()
    assert described == (
        "city Shanghai · near S1 · tag vip · last bought before 2026-10-05 · birthday month 3 · "
        "without an unused coupon"
    )


def test_an_audience_survives_its_json() -> None:
    audience = Audience(tiers=["gold"], last_purchase_after=datetime.fromisoformat("2026-10-05T12:00:00+00:00"))
    assert Audience.model_validate(audience.model_dump(mode="json")) == audience
