"""Rewards against a real database: the catalogue a member sees, redeeming (windows, tiers, stock
and points, also under concurrency), the till using a code, and what points buy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, LedgerEntry, Member, Reward, RewardRedemption, Store
from db.uow import UnitOfWorkFactory
from loyalty import rewards
from loyalty.clock import FixedClock
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    RedemptionNotFound,
    RedemptionNotUsable,
    RewardNotFound,
    RewardUnavailable,
    UnknownStore,
)
from loyalty.idempotency import IdempotencyKey, fingerprint
from loyalty.ledger import check_consistency
from tests.utils.members import till_member
from tests.utils.rewards import give_points, make_reward, set_tier

T = TypeVar("T")


async def gather_all(tasks: list[Awaitable[T]]) -> list[T | BaseException]:
    return await asyncio.gather(*tasks, return_exceptions=True)


async def member_with(uow_factory: UnitOfWorkFactory, clock: FixedClock, points: int) -> Member:
    member = await till_member(uow_factory, clock)
    if points:
        await give_points(uow_factory, clock, member, points)
    return member


async def redeem(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, reward: Reward, **kwargs: object) -> RewardRedemption:
    async with uow_factory() as uow:
        return await rewards.redeem(uow, clock, member_id=member.id, reward_id=reward.id, actor="test", **kwargs)  # type: ignore[arg-type]


async def state(uow_factory: UnitOfWorkFactory, member: Member, reward: Reward) -> tuple[int, int | None, int]:
    """(member's balance, reward's stock, number of redemptions of anyone), all consistent."""
    async with uow_factory() as uow:
        await check_consistency(uow, member.id)
        balance = await uow.session.scalar(select(Member.points_balance).where(Member.id == member.id))
        stock = await uow.session.scalar(select(Reward.stock).where(Reward.id == reward.id))
        count = await uow.session.scalar(select(func.count()).select_from(RewardRedemption))
        return int(balance or 0), stock, int(count or 0)


async def page_of(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, page: int = 1) -> rewards.CataloguePage:
    async with uow_factory() as uow:
        return await rewards.catalogue(uow, member, now=clock.now(), page=page, page_size=5)


# --- the catalogue ---------------------------------------------------------------------------


async def test_catalogue_pages_cheapest_first_with_what_stands_in_the_way(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 300)
    prices = [900, 100, 700, 300, 500, 200, 800]
    for price in prices:
        await make_reward(uow_factory, clock, price=price)
    await make_reward(uow_factory, clock, price=50, active=False)
    await make_reward(uow_factory, clock, price=60, active_until=clock.now())
    sold_out = await make_reward(uow_factory, clock, price=250, stock=0)
    gold_only = await make_reward(uow_factory, clock, price=150, min_tier="gold")

    first = await page_of(uow_factory, clock, member)
    assert first.total == 9 and first.pages == 2 and first.available == 300
    assert [offer.reward.points_price for offer in first.offers] == [100, 150, 200, 250, 300]
    by_id = {offer.reward.id: offer for offer in first.offers}
    assert by_id[gold_only.id].reason == "tier" and by_id[gold_only.id].required_tier.code == "gold"
    assert by_id[sold_out.id].reason == "out_of_stock"
    assert [offer.can_redeem for offer in first.offers] == [True, False, True, False, True]

    second = await page_of(uow_factory, clock, member, page=2)
    assert [offer.reward.points_price for offer in second.offers] == [500, 700, 800, 900]
    assert second.offers[0].reason == "insufficient_points" and second.offers[0].points_short == 200

    with pytest.raises(InvalidInput):
        await page_of(uow_factory, clock, member, page=3)
    with pytest.raises(InvalidInput):
        await page_of(uow_factory, clock, member, page=0)


async def test_empty_catalogue_has_one_empty_page(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 0)
    page = await page_of(uow_factory, clock, member)
    assert page.offers == () and page.total == 0 and page.pages == 1


async def test_window_boundaries_are_half_open(uow_factory, clock: FixedClock) -> None:
    member = await member_with(uow_factory, clock, 1000)
    start = clock.now() + timedelta(hours=1)
    end = start + timedelta(days=1)
    reward = await make_reward(uow_factory, clock, price=100, active_from=start, active_until=end)

    clock.set(start - timedelta(microseconds=1))
    assert (await page_of(uow_factory, clock, member)).total == 0
    with pytest.raises(RewardUnavailable) as before:
        await redeem(uow_factory, clock, member, reward)
    assert before.value.details["reason"] == "inactive"

    clock.set(start)  # active_from is included
    assert (await page_of(uow_factory, clock, member)).total == 1
    await redeem(uow_factory, clock, member, reward)

    clock.set(end - timedelta(microseconds=1))
    await redeem(uow_factory, clock, member, reward)

    clock.set(end)  # active_until is not
    assert (await page_of(uow_factory, clock, member)).total == 0
    with pytest.raises(RewardUnavailable) as after:
        await redeem(uow_factory, clock, member, reward)
    assert after.value.details["reason"] == "inactive"
    assert await state(uow_factory, member, reward) == (800, None, 2)


# --- redeeming -------------------------------------------------------------------------------


async def test_redeem_takes_points_and_stock_and_issues_a_code(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 1460)
    reward = await make_reward(uow_factory, clock, price=250, stock=3)

    redemption = await redeem(uow_factory, clock, member, reward)

    assert rewards.normalize_redemption_code(redemption.code) == redemption.code
    assert redemption.status == "issued" and redemption.points == 250 and redemption.issued_at == clock.now()
    assert await state(uow_factory, member, reward) == (1210, 2, 1)
    async with uow_factory() as uow:
        entry = (await uow.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "redeem"))).one()
    assert entry.points == -250 and entry.redemption_id == redemption.id and entry.actor == "test"


async def test_not_enough_points_writes_nothing(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 200)
    reward = await make_reward(uow_factory, clock, price=250, stock=5)
    with pytest.raises(InsufficientPoints) as refused:
        await redeem(uow_factory, clock, member, reward)
    assert refused.value.details == {"needed": 250, "available": 200}
    assert await state(uow_factory, member, reward) == (200, 5, 0)


async def test_expired_points_cannot_be_spent(uow_factory, clock: FixedClock) -> None:
    member = await till_member(uow_factory, clock)
    await give_points(uow_factory, clock, member, 500, expires_in=timedelta(days=2))
    reward = await make_reward(uow_factory, clock, price=250)
    clock.advance(timedelta(days=2))
    assert (await page_of(uow_factory, clock, member)).available == 0
    with pytest.raises(InsufficientPoints):
        await redeem(uow_factory, clock, member, reward)
    assert await state(uow_factory, member, reward) == (500, None, 0), "the refusal expired nothing either"


async def test_tier_restriction(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 1000)
    reward = await make_reward(uow_factory, clock, price=100, stock=5, min_tier="gold")
    for tier in ("member", "silver"):
        await set_tier(uow_factory, member, tier)
        with pytest.raises(RewardUnavailable) as refused:
            await redeem(uow_factory, clock, member, reward)
        assert refused.value.details["reason"] == "tier"
        assert refused.value.details["tier"].code == "gold"
    assert await state(uow_factory, member, reward) == (1000, 5, 0)
    for tier in ("gold", "black"):
        await set_tier(uow_factory, member, tier)
        await redeem(uow_factory, clock, member, reward)
    assert await state(uow_factory, member, reward) == (800, 3, 2)


async def test_out_of_stock_and_inactive_and_unknown(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 1000)
    sold_out = await make_reward(uow_factory, clock, price=100, stock=0)
    inactive = await make_reward(uow_factory, clock, price=100, active=False)
    with pytest.raises(RewardUnavailable) as refused:
        await redeem(uow_factory, clock, member, sold_out)
    assert refused.value.details["reason"] == "out_of_stock"
    with pytest.raises(RewardUnavailable) as refused:
        await redeem(uow_factory, clock, member, inactive)
    assert refused.value.details["reason"] == "inactive"
    async with uow_factory() as uow:
        with pytest.raises(RewardNotFound):
            await rewards.redeem(uow, clock, member_id=member.id, reward_id=999_999, actor="test")
    assert await state(uow_factory, member, sold_out) == (1000, 0, 0)


async def test_a_changed_price_is_not_charged(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 1000)
    reward = await make_reward(uow_factory, clock, price=300)
    with pytest.raises(RewardUnavailable) as refused:
        await redeem(uow_factory, clock, member, reward, expected_price=250)
    assert refused.value.details["reason"] == "price_changed"
    await redeem(uow_factory, clock, member, reward, expected_price=300)
    assert await state(uow_factory, member, reward) == (700, None, 1)


async def test_the_last_unit_goes_to_exactly_one_of_twenty(uow_factory, clock) -> None:
    members = [await member_with(uow_factory, clock, 500) for _ in range(20)]
    reward = await make_reward(uow_factory, clock, price=100, stock=1)

    outcomes = await gather_all([redeem(uow_factory, clock, member, reward) for member in members])

    winners = [outcome for outcome in outcomes if isinstance(outcome, RewardRedemption)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, RewardUnavailable)]
    assert len(winners) == 1 and len(refusals) == 19, outcomes
    assert all(refusal.details["reason"] == "out_of_stock" for refusal in refusals)
    balances = []
    for member in members:
        balance, stock, count = await state(uow_factory, member, reward)
        balances.append(balance)
    assert stock == 0 and count == 1
    assert sorted(balances) == [400] + [500] * 19


async def test_one_member_on_two_devices_never_goes_negative(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 300)
    latte = await make_reward(uow_factory, clock, price=250)
    cake = await make_reward(uow_factory, clock, price=200)

    outcomes = await gather_all(
        [redeem(uow_factory, clock, member, reward) for reward in (latte, cake, latte, cake)]
    )

    winners = [outcome for outcome in outcomes if isinstance(outcome, RewardRedemption)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(outcome, (RewardRedemption, InsufficientPoints)) for outcome in outcomes), outcomes
    balance, _, count = await state(uow_factory, member, latte)
    assert count == 1 and balance == 300 - winners[0].points


async def test_redeem_once_replays_a_repeated_key(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 1000)
    reward = await make_reward(uow_factory, clock, price=100)
    other = await make_reward(uow_factory, clock, price=100)
    key = IdempotencyKey("chat:1", "redeem:abc", fingerprint({"reward_id": reward.id, "price": 100}))

    async def once(reward_id: int, key: IdempotencyKey) -> rewards.Redeemed:
        async with uow_factory() as uow:
            return await rewards.redeem_once(
                uow, clock, member_id=member.id, reward_id=reward_id, actor="chat:1", key=key, expected_price=100
            )

    results = await gather_all([once(reward.id, key) for _ in range(3)])
    assert all(isinstance(result, rewards.Redeemed) for result in results), results
    assert [result.replayed for result in results].count(False) == 1  # type: ignore[union-attr]
    assert len({result.redemption.id for result in results}) == 1  # type: ignore[union-attr]
    assert {result.balance for result in results} == {900}  # type: ignore[union-attr]

    forged = IdempotencyKey("chat:1", "redeem:abc", fingerprint({"reward_id": other.id, "price": 100}))
    with pytest.raises(IdempotencyConflict):
        await once(other.id, forged)
    assert await state(uow_factory, member, reward) == (900, None, 1)


async def test_a_code_collision_draws_another_code(uow_factory, clock, monkeypatch) -> None:
    member = await member_with(uow_factory, clock, 1000)
    reward = await make_reward(uow_factory, clock, price=100)
    first = await redeem(uow_factory, clock, member, reward)
    fresh = rewards.new_redemption_code()
    codes = iter([first.code, first.code, fresh])
    monkeypatch.setattr(rewards, "new_redemption_code", lambda: next(codes))

    second = await redeem(uow_factory, clock, member, reward)

    assert second.code == fresh
    assert await state(uow_factory, member, reward) == (800, None, 2)


async def test_members_see_only_their_own_redemptions(uow_factory, clock) -> None:
    alice = await member_with(uow_factory, clock, 500)
    bob = await member_with(uow_factory, clock, 500)
    reward = await make_reward(uow_factory, clock, price=100)
    mine = await redeem(uow_factory, clock, alice, reward)
    theirs = await redeem(uow_factory, clock, bob, reward)
    async with uow_factory() as uow:
        assert [own.redemption.id for own in await rewards.member_redemptions(uow, alice)] == [mine.id]
        assert (await rewards.member_redemption(uow, alice, mine.id)).reward.id == reward.id
        with pytest.raises(RedemptionNotFound):
            await rewards.member_redemption(uow, alice, theirs.id)


# --- the till --------------------------------------------------------------------------------


async def add_store(uow_factory: UnitOfWorkFactory, clock: FixedClock, code: str, *, active: bool = True) -> Store:
    async with uow_factory() as uow:
        store = Store(code=code, name=code, timezone="Asia/Shanghai", active=active, created_at=clock.now())
        uow.session.add(store)
        await uow.commit()
        return store


async def use(uow_factory: UnitOfWorkFactory, clock: FixedClock, code: str, store: str | None = "S001") -> RewardRedemption:
    async with uow_factory() as uow:
        return await rewards.use_redemption(uow, clock, code=code, store_code=store, actor="apikey:till-1")


async def test_a_code_is_used_once(uow_factory, clock: FixedClock) -> None:
    store = await add_store(uow_factory, clock, "S001")
    member = await member_with(uow_factory, clock, 500)
    reward = await make_reward(uow_factory, clock, price=100)
    issued = await redeem(uow_factory, clock, member, reward)
    clock.advance(timedelta(minutes=5))

    typed = issued.code.replace("-", "").lower()
    used = await use(uow_factory, clock, typed)
    assert used.id == issued.id and used.status == "used"
    assert used.used_at == clock.now() and used.used_store_id == store.id

    with pytest.raises(RedemptionNotUsable) as again:
        await use(uow_factory, clock, issued.code)
    assert again.value.details["reason"] == "used"
    async with uow_factory() as uow:
        events = list(await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "redemption.use")))
    assert [(event.actor, event.member_id) for event in events] == [("apikey:till-1", member.id)]


async def test_two_tills_using_one_code_at_once(uow_factory, clock) -> None:
    await add_store(uow_factory, clock, "S001")
    member = await member_with(uow_factory, clock, 500)
    issued = await redeem(uow_factory, clock, member, await make_reward(uow_factory, clock, price=100))
    outcomes = await gather_all([use(uow_factory, clock, issued.code) for _ in range(5)])
    assert sum(isinstance(outcome, RewardRedemption) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, RedemptionNotUsable) for outcome in outcomes) == 4, outcomes


async def test_cancelled_unknown_and_bad_store_are_refused(uow_factory, clock) -> None:
    await add_store(uow_factory, clock, "S001")
    await add_store(uow_factory, clock, "OLD", active=False)
    member = await member_with(uow_factory, clock, 500)
    issued = await redeem(uow_factory, clock, member, await make_reward(uow_factory, clock, price=100))

    for store in ("NOPE", "OLD"):
        with pytest.raises(UnknownStore):
            await use(uow_factory, clock, issued.code, store)
    for code in ("RW-0000-0000-0000", "not a code", ""):
        with pytest.raises(RedemptionNotFound):
            await use(uow_factory, clock, code)
    async with uow_factory() as uow:
        stored = await uow.rewards.redemption(issued.id)
        assert stored is not None and stored.status == "issued"
        stored.status = "cancelled"
        await uow.commit()
    with pytest.raises(RedemptionNotUsable) as cancelled:
        await use(uow_factory, clock, issued.code)
    assert cancelled.value.details["reason"] == "cancelled"


async def test_use_without_a_store(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 500)
    issued = await redeem(uow_factory, clock, member, await make_reward(uow_factory, clock, price=100))
    used = await use(uow_factory, clock, issued.code, None)
    assert used.status == "used" and used.used_store_id is None


# --- what points buy -------------------------------------------------------------------------


async def test_what_points_buy_prefers_past_redemptions_then_cheaper(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 10_000)
    cookie = await make_reward(uow_factory, clock, price=100)
    latte = await make_reward(uow_factory, clock, price=250)
    mug = await make_reward(uow_factory, clock, price=400, stock=1)
    await make_reward(uow_factory, clock, price=120, min_tier="gold")
    await make_reward(uow_factory, clock, price=110, stock=0)
    await make_reward(uow_factory, clock, price=90, active=False)
    await make_reward(uow_factory, clock, price=2000)

    async def buys(points: int, limit: int = 2) -> list[tuple[int, int]]:
        async with uow_factory() as uow:
            fresh = await uow.lock_member(member.id)
            found = await rewards.what_points_buy(uow, fresh, points, now=clock.now(), limit=limit)
            return [(reward.id, count) for reward, count in found]

    assert await buys(1000) == [(cookie.id, 10), (latte.id, 4)]
    await redeem(uow_factory, clock, member, mug)
    await redeem(uow_factory, clock, member, latte)
    await make_reward(uow_factory, clock, code="MUG2", price=400, stock=3)
    assert await buys(1000) == [(latte.id, 4), (cookie.id, 10)], "the mug is sold out now"
    assert await buys(1000, limit=3) == [(latte.id, 4), (cookie.id, 10), (await _id(uow_factory, "MUG2"), 2)]
    assert await buys(99) == []
    assert await buys(0) == []


async def _id(uow_factory: UnitOfWorkFactory, code: str) -> int:
    async with uow_factory() as uow:
        reward = await uow.rewards.by_code(code)
        assert reward is not None
        return reward.id


async def test_what_points_buy_caps_count_by_stock(uow_factory, clock) -> None:
    member = await member_with(uow_factory, clock, 0)
    scarce = await make_reward(uow_factory, clock, price=100, stock=2)
    async with uow_factory() as uow:
        found = await rewards.what_points_buy(uow, member, 1000, now=clock.now())
    assert [(item.reward.id, item.quantity) for item in found] == [(scarce.id, 2)]
