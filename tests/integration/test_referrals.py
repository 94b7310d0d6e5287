"""Referrals against the real database: the guards at sign-up, the hold and its refund, the
payout sweep (once, however many run it), bursts held for review, the velocity limit and the
caps, and the terms' validation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import Coupon, Member, Notification, NotificationKind, ReferralStatus
from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.blocking import set_blocked
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.data_export import export_member
from loyalty.errors import InvalidInput
from tests.utils.coupons import make_template
from tests.utils.members import chat_member, next_phone
from tests.utils.referrals import (
    buy,
    friend_joins,
    link_of,
    points_of,
    refund,
    set_terms,
    stored_referrals,
)

HOLD = timedelta(days=14)


async def notifications(uow_factory: UnitOfWorkFactory, member: Member, kind: str) -> list[Notification]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(Notification).where(Notification.member_id == member.id, Notification.kind == kind)
        )
        return list(rows)


@pytest.fixture
async def ann(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    return await chat_member(uow_factory, clock, telegram_id=1001)


# --- links ---------------------------------------------------------------------------------------


def test_a_referral_payload_is_read_as_crockford_base32() -> None:
    assert referrals.code_from_payload("ref_7KQ4M9XD") == "7KQ4M9XD"
    assert referrals.code_from_payload("ref_7kq4m9xo") == "7KQ4M9X0", "any case; O reads as 0"
    assert referrals.code_from_payload("ref_7KQ4M9X") is None, "too short"
    assert referrals.code_from_payload("ref_7KQ4M9XU") is None, "U is not Crockford"
    assert referrals.code_from_payload("promo_7KQ4M9XD") is None
    assert referrals.code_from_payload(None) is None


async def test_a_members_code_is_made_once_and_is_not_their_number(
    uow_factory: UnitOfWorkFactory, ann: Member
) -> None:
    first = await link_of(uow_factory, ann)
    assert first == await link_of(uow_factory, ann)
    code = referrals.code_from_payload(first)
    assert code is not None and code != ann.member_number[:8]


# --- the whole way -------------------------------------------------------------------------------


async def test_friend_gets_a_coupon_and_the_referrer_is_paid_once_after_the_hold(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    template = await make_template(uow_factory, clock, code="FRIEND", value=1500)
    await set_terms(uow_factory, clock, friend_coupon="FRIEND", min_purchase_minor=3000, hold_days=14)
    bob, joined = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    assert joined is not None and joined.refused is None
    assert joined.friend_coupon is not None and joined.friend_coupon.template_id == template.id
    assert len(await notifications(uow_factory, ann, NotificationKind.REFERRAL_JOINED)) == 1

    await buy(uow_factory, clock, settings, bob, 2999)  # below the minimum: not yet
    [referral] = await stored_referrals(uow_factory)
    assert referral.status == ReferralStatus.JOINED
    await buy(uow_factory, clock, settings, bob, 3000)
    [referral] = await stored_referrals(uow_factory)
    assert referral.status == ReferralStatus.QUALIFIED and referral.hold_until == clock.now() + HOLD

    clock.advance(HOLD - timedelta(seconds=1))
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 0, "capped": 0}
    before = await points_of(uow_factory, ann)
    clock.advance(timedelta(seconds=1))
    # Two schedulers sweeping at the same moment pay once.
    reports = await asyncio.gather(
        referrals.pay_due(uow_factory, clock, settings), referrals.pay_due(uow_factory, clock, settings)
    )
    assert sum(report["rewarded"] for report in reports) == 1
    assert await points_of(uow_factory, ann) == before + 300
    [referral] = await stored_referrals(uow_factory)
    assert referral.status == ReferralStatus.REWARDED and referral.reward_points == 300
    [told] = await notifications(uow_factory, ann, NotificationKind.REFERRAL_REWARDED)
    assert told.payload["points"] == 300
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 0, "capped": 0}


async def test_a_refund_inside_the_hold_voids_and_one_leaving_the_minimum_does_not(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, min_purchase_minor=3000)
    link = await link_of(uow_factory, ann)
    bob, _ = await friend_joins(uow_factory, clock, settings, link)
    cleo, _ = await friend_joins(uow_factory, clock, settings, link)
    bobs = await buy(uow_factory, clock, settings, bob, 5000)
    cleos = await buy(uow_factory, clock, settings, cleo, 5000)
    clock.advance(timedelta(days=3))
    await refund(uow_factory, clock, settings, bobs, 2000)  # 3000 left: still qualifies
    await refund(uow_factory, clock, settings, cleos, 2001)  # 2999 left: void
    statuses = {r.friend_id: r.status for r in await stored_referrals(uow_factory)}
    assert statuses == {bob.id: ReferralStatus.QUALIFIED, cleo.id: ReferralStatus.VOIDED}
    clock.advance(HOLD)
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 1, "capped": 0}
    assert await points_of(uow_factory, ann) == 300


async def test_a_refund_after_the_hold_leaves_the_reward(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, hold_days=7)
    bob, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    order = await buy(uow_factory, clock, settings, bob, 4000)
    clock.advance(timedelta(days=7))
    await refund(uow_factory, clock, settings, order, 4000)
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 1, "capped": 0}


# --- guards at sign-up ---------------------------------------------------------------------------


async def test_own_link_other_links_and_existing_members_are_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock)
    link = await link_of(uow_factory, ann)
    dan = await chat_member(uow_factory, clock, telegram_id=1002)
    dans = await link_of(uow_factory, dan)

    async with uow_factory() as uow:
        own = await referrals.join(uow, clock, settings, friend_id=ann.id, payload=link, linked_existing=False)
    assert own is not None and own.refused is referrals.Refusal.SELF

    bob, first = await friend_joins(uow_factory, clock, settings, link)
    assert first is not None and first.refused is None
    async with uow_factory() as uow:
        again = await referrals.join(uow, clock, settings, friend_id=bob.id, payload=link, linked_existing=False)
        second = await referrals.join(uow, clock, settings, friend_id=bob.id, payload=dans, linked_existing=False)
    assert again is not None and again.refused is referrals.Refusal.ALREADY_REFERRED
    assert second is not None and second.refused is referrals.Refusal.ALREADY_REFERRED

    # A member enrolled at a till before, linking their chat by the same phone, is not new.
    eve = await chat_member(uow_factory, clock, telegram_id=1003)
    async with uow_factory() as uow:
        existing = await referrals.join(uow, clock, settings, friend_id=eve.id, payload=link, linked_existing=True)
    assert existing is not None and existing.refused is referrals.Refusal.EXISTING_MEMBER

    [only] = await stored_referrals(uow_factory)
    assert (only.referrer_id, only.friend_id) == (ann.id, bob.id)


async def test_links_that_do_not_count(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    link = await link_of(uow_factory, ann)
    _, off = await friend_joins(uow_factory, clock, settings, link)
    assert off is not None and off.refused is referrals.Refusal.OFF, "no terms yet: the program is off"
    await set_terms(uow_factory, clock)
    _, unknown = await friend_joins(uow_factory, clock, settings, "ref_00000000")
    assert unknown is not None and unknown.refused is referrals.Refusal.UNKNOWN
    _, other = await friend_joins(uow_factory, clock, settings, "spring-promo")
    assert other is None
    await set_terms(uow_factory, clock, active=False)
    _, switched_off = await friend_joins(uow_factory, clock, settings, link)
    assert switched_off is not None and switched_off.refused is referrals.Refusal.OFF
    assert await stored_referrals(uow_factory) == []


async def test_a_burst_of_friends_is_held_for_review(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, burst_size=3, burst_minutes=10, hold_days=1)
    link = await link_of(uow_factory, ann)
    friends = []
    for _ in range(3):
        friend, _ = await friend_joins(uow_factory, clock, settings, link)
        friends.append(friend)
        clock.advance(timedelta(minutes=4))
    assert all(r.suspicious for r in await stored_referrals(uow_factory))
    clock.advance(timedelta(minutes=30))
    late, _ = await friend_joins(uow_factory, clock, settings, link)  # after the burst: ordinary
    for friend in [*friends, late]:
        await buy(uow_factory, clock, settings, friend, 1000)
    statuses = [r.status for r in await stored_referrals(uow_factory)]
    assert statuses == [ReferralStatus.HELD] * 3 + [ReferralStatus.QUALIFIED]
    clock.advance(timedelta(days=2))
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 1, "capped": 0}

    held = await stored_referrals(uow_factory)
    async with uow_factory() as uow:
        approved = await referrals.review(uow, clock, settings, held[0].id, approve=True, actor="test")
        rejected = await referrals.review(uow, clock, settings, held[1].id, approve=False, actor="test")
        with pytest.raises(referrals.ReferralNotHeld):
            await referrals.review(uow, clock, settings, held[0].id, approve=False, actor="test")
    assert approved.status == ReferralStatus.REWARDED, "its hold had passed: paid at once"
    assert rejected.status == ReferralStatus.REJECTED
    assert await points_of(uow_factory, ann) == 600


async def test_friends_beyond_the_daily_limit_join_without_counting(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await make_template(uow_factory, clock, code="FRIEND")
    await set_terms(uow_factory, clock, friend_coupon="FRIEND", daily_join_limit=2, burst_size=10)
    link = await link_of(uow_factory, ann)
    outcomes = []
    for _ in range(3):
        _, joined = await friend_joins(uow_factory, clock, settings, link)
        outcomes.append(joined)
        clock.advance(timedelta(hours=1))
    assert [o.referral.status for o in outcomes if o and o.referral] == [
        ReferralStatus.JOINED, ReferralStatus.JOINED, ReferralStatus.CAPPED,
    ]
    assert outcomes[2] is not None and outcomes[2].friend_coupon is None
    async with uow_factory() as uow:
        assert len(list(await uow.session.scalars(select(Coupon)))) == 2
    clock.advance(timedelta(days=1))
    _, next_day = await friend_joins(uow_factory, clock, settings, link)
    assert next_day is not None and next_day.referral is not None
    assert next_day.referral.status == ReferralStatus.JOINED


async def test_rewards_over_a_cap_are_recorded_not_paid(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, monthly_cap=1, total_cap=2, hold_days=0, burst_size=10)
    link = await link_of(uow_factory, ann)
    for _month in range(3):
        for _ in range(2):
            friend, _ = await friend_joins(uow_factory, clock, settings, link)
            await buy(uow_factory, clock, settings, friend, 1000)
        await referrals.pay_due(uow_factory, clock, settings)
        clock.advance(timedelta(days=31))
    statuses = [r.status for r in await stored_referrals(uow_factory)]
    assert statuses.count(ReferralStatus.REWARDED) == 2
    assert statuses.count(ReferralStatus.CAPPED) == 4
    assert await points_of(uow_factory, ann) == 600


async def test_a_blocked_referrers_rewards_wait_without_holding_up_anyone_elses(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(referrals, "PAY_BATCH", 2)  # a batch the blocked referrer's rewards fill
    await set_terms(uow_factory, clock, hold_days=0, burst_size=10)
    bea = await chat_member(uow_factory, clock, telegram_id=1002)
    for referrer in (ann, ann, bea):  # Ann's are due first
        friend, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, referrer))
        await buy(uow_factory, clock, settings, friend, 1000)
        clock.advance(timedelta(minutes=1))
    async with uow_factory() as uow:
        await set_blocked(uow, clock, ann.id, blocked=True, actor="test")

    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 1, "capped": 0}
    assert (await points_of(uow_factory, ann), await points_of(uow_factory, bea)) == (0, 300)

    async with uow_factory() as uow:
        await set_blocked(uow, clock, ann.id, blocked=False, actor="test")
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 2, "capped": 0}
    assert await points_of(uow_factory, ann) == 600


# --- the terms -----------------------------------------------------------------------------------


async def test_terms_that_make_no_sense_are_refused_and_nothing_is_written(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    with pytest.raises(InvalidInput) as no_reward:
        await set_terms(uow_factory, clock, reward_points=0)
    assert no_reward.value.field == "reward_points"
    with pytest.raises(InvalidInput) as unknown:
        await set_terms(uow_factory, clock, friend_coupon="NOPE")
    assert unknown.value.field == "friend_coupon"
    with pytest.raises(InvalidInput) as burst:
        await set_terms(uow_factory, clock, burst_size=1)
    assert burst.value.field == "burst_size"
    async with uow_factory() as uow:
        assert await referrals.current_terms(uow) is None


async def test_the_report_follows_the_funnel(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await make_template(uow_factory, clock, code="FRIEND", value=1500)
    await set_terms(uow_factory, clock, friend_coupon="FRIEND", hold_days=1, burst_size=10)
    link = await link_of(uow_factory, ann)
    async with uow_factory() as uow:
        await referrals.link_opened(uow, clock, link)
        await referrals.link_opened(uow, clock, link)
        await referrals.link_opened(uow, clock, link)
    bob, _ = await friend_joins(uow_factory, clock, settings, link)
    await friend_joins(uow_factory, clock, settings, link)
    other = await chat_member(uow_factory, clock, telegram_id=1009, phone=next_phone())
    await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, other))
    await buy(uow_factory, clock, settings, bob, 8000)
    clock.advance(timedelta(days=2))
    await referrals.pay_due(uow_factory, clock, settings)
    async with uow_factory() as uow:
        result = await referrals.report(
            uow, settings, start=clock.now() - timedelta(days=5), end=clock.now(), page=1, page_size=10
        )
    total = result.total
    assert (total.invited, total.joined, total.first_purchase, total.rewarded) == (3, 3, 1, 1)
    assert total.revenue_minor == 8000
    assert result.reward_cost_minor == 300 + 3 * 1500, "points at 1 fen each and three friend coupons"
    assert [line.member_number for line in result.referrers] == [ann.member_number, other.member_number]
    assert result.referrers[0].funnel.joined == 2 and result.referrer_count == 2


async def test_a_members_data_export_lists_their_referrals_without_naming_the_other(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, hold_days=0)
    bob, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    await buy(uow_factory, clock, settings, bob, 1000)
    await referrals.pay_due(uow_factory, clock, settings)
    async with uow_factory() as uow:
        anns = await export_member(uow, settings, await uow.lock_member(ann.id), now=clock.now())
        bobs = await export_member(uow, settings, await uow.lock_member(bob.id), now=clock.now())
    assert [(r.role, r.status, r.reward_points) for r in anns.referrals] == [("referrer", "rewarded", 300)]
    assert [(r.role, r.status, r.reward_points) for r in bobs.referrals] == [("friend", "rewarded", 0)]
    assert bob.member_number not in anns.model_dump_json() and ann.member_number not in bobs.model_dump_json()


async def test_a_coupon_as_the_reward(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await make_template(uow_factory, clock, code="THANKS", kind="free_item", value=3200)
    await set_terms(uow_factory, clock, reward_points=0, reward_coupon="THANKS", hold_days=0)
    bob, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    await buy(uow_factory, clock, settings, bob, 1000)
    assert await referrals.pay_due(uow_factory, clock, settings) == {"rewarded": 1, "capped": 0}
    [referral] = await stored_referrals(uow_factory)
    async with uow_factory() as uow:
        [coupon] = await uow.session.scalars(select(Coupon).where(Coupon.member_id == ann.id))
        result = await referrals.report(
            uow, settings, start=clock.now() - timedelta(days=1), end=clock.now() + timedelta(days=1), page=1, page_size=5
        )
    assert (coupon.source, referral.reward_coupon_id, referral.reward_points) == ("referral", coupon.id, 0)
    assert await points_of(uow_factory, ann) == 0
    assert result.reward_cost_minor == 3200, "the free item's value"
    [told] = await notifications(uow_factory, ann, NotificationKind.REFERRAL_REWARDED)
    assert told.payload["coupon_id"] == coupon.id


async def test_two_friends_joining_at_once_do_not_both_slip_under_the_daily_limit(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, ann: Member
) -> None:
    await set_terms(uow_factory, clock, daily_join_limit=1, burst_size=10)
    link = await link_of(uow_factory, ann)
    friends = [await chat_member(uow_factory, clock, telegram_id=1100 + n) for n in range(2)]

    async def joins(friend: Member) -> referrals.Joined | None:
        async with uow_factory() as uow:
            return await referrals.join(uow, clock, settings, friend_id=friend.id, payload=link, linked_existing=False)

    await asyncio.gather(*(joins(friend) for friend in friends))
    statuses = sorted(r.status for r in await stored_referrals(uow_factory))
    assert statuses == sorted([ReferralStatus.JOINED, ReferralStatus.CAPPED])
