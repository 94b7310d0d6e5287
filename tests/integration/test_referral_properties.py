"""Whatever the sequence of sign-ups by links, purchases, refunds, payout sweeps and time
passing: a friend rewards at most one referrer at most once, a reward is paid exactly for the
referrals marked rewarded, and no referrer is paid past a cap."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import LedgerEntry, Member, Referral, ReferralStatus
from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import START, reset_tables
from tests.utils.members import chat_member
from tests.utils.referrals import buy, friend_joins, link_of, refund, set_terms

REFERRERS = 2
MONTHLY_CAP = 2
TOTAL_CAP = 3
REWARD = 300


@dataclass(frozen=True)
class Join:
    referrer: int  # a new friend signs up by this referrer's link


@dataclass(frozen=True)
class JoinAgain:
    friend: int  # an existing friend tries another referrer's link
    referrer: int


@dataclass(frozen=True)
class Buy:
    friend: int
    amount_minor: int


@dataclass(frozen=True)
class Refund:
    friend: int  # their latest purchase, in full


@dataclass(frozen=True)
class Wait:
    minutes: int


@dataclass(frozen=True)
class Pay:
    pass


Step = Join | JoinAgain | Buy | Refund | Wait | Pay

steps = st.lists(
    st.one_of(
        st.builds(Join, referrer=st.integers(0, REFERRERS - 1)),
        st.builds(Join, referrer=st.integers(0, REFERRERS - 1)),
        st.builds(JoinAgain, friend=st.integers(0, 20), referrer=st.integers(0, REFERRERS - 1)),
        st.builds(Buy, friend=st.integers(0, 20), amount_minor=st.sampled_from([500, 2000, 5000])),
        st.builds(Refund, friend=st.integers(0, 20)),
        st.builds(Wait, minutes=st.sampled_from([1, 30, 60 * 24 * 3, 60 * 24 * 20])),
        st.just(Pay()),
    ),
    min_size=1,
    max_size=18,
)


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=steps)
async def test_a_friend_rewards_one_referrer_once_and_caps_hold(
    engine: AsyncEngine,
    seed_rows: dict[str, list[dict[str, object]]],
    uow_factory: UnitOfWorkFactory,
    settings: Settings,
    history: list[Step],
) -> None:
    await reset_tables(engine, seed_rows)
    clock = FixedClock(START)
    await set_terms(
        uow_factory, clock, reward_points=REWARD, min_purchase_minor=2000, hold_days=7,
        monthly_cap=MONTHLY_CAP, total_cap=TOTAL_CAP, burst_size=3, burst_minutes=10, daily_join_limit=4,
    )
    referrers = [await chat_member(uow_factory, clock, telegram_id=9000 + n) for n in range(REFERRERS)]
    links = [await link_of(uow_factory, referrer) for referrer in referrers]
    friends: list[Member] = []
    latest: dict[int, tuple[str, int]] = {}  # friend -> their latest order not refunded, and its amount
    for step in history:
        match step:
            case Join(referrer=index):
                friend, _ = await friend_joins(uow_factory, clock, settings, links[index])
                friends.append(friend)
            case JoinAgain(friend=index, referrer=referrer) if friends:
                async with uow_factory() as uow:
                    again = await referrals.join(
                        uow, clock, settings, friend_id=friends[index % len(friends)].id, payload=links[referrer],
                        linked_existing=False,
                    )
                assert again is not None and again.refused is referrals.Refusal.ALREADY_REFERRED
            case Buy(friend=index, amount_minor=amount) if friends:
                friend = friends[index % len(friends)]
                latest[friend.id] = (await buy(uow_factory, clock, settings, friend, amount), amount)
            case Refund(friend=index) if friends:
                friend = friends[index % len(friends)]
                if friend.id in latest:
                    order, amount = latest.pop(friend.id)
                    await refund(uow_factory, clock, settings, order, amount)
            case Wait(minutes=minutes):
                clock.advance(timedelta(minutes=minutes))
            case Pay():
                await referrals.pay_due(uow_factory, clock, settings)
        await _check(uow_factory, settings)


async def _check(uow_factory: UnitOfWorkFactory, settings: Settings) -> None:
    async with uow_factory() as uow:
        rows = list(await uow.session.scalars(select(Referral)))
        paid = list(
            await uow.session.scalars(select(LedgerEntry.reason).where(LedgerEntry.reason.like("referral %")))
        )
    assert len({row.friend_id for row in rows}) == len(rows), "one referral per friend"
    rewarded = [row for row in rows if row.status == ReferralStatus.REWARDED]
    assert sorted(paid) == sorted(f"referral {row.id}" for row in rewarded), "paid exactly the rewarded, once each"
    per_referrer = Counter(row.referrer_id for row in rewarded)
    assert all(count <= TOTAL_CAP for count in per_referrer.values())
    assert rewarded == [] or all(row.settled_at is not None for row in rewarded)
    per_month = Counter(
        (row.referrer_id, row.settled_at.astimezone(settings.zone).strftime("%Y-%m"))
        for row in rewarded
        if row.settled_at is not None
    )
    assert all(count <= MONTHLY_CAP for count in per_month.values())
    for row in rows:
        if row.status in (ReferralStatus.QUALIFIED, ReferralStatus.HELD, ReferralStatus.REWARDED):
            assert row.purchase_id is not None and row.hold_until is not None
