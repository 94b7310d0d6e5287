"""RFM scores and segments against the real database, on a population built so that each
member lands in a known quintile of recency, frequency and net spend.

Ten buyers make quintiles of two (scored with `TEN`, which ranks from ten buyers; the shipped
scale ranks from a hundred and grades a smaller crowd by fixed cut-offs, tested at the end).
Member k's last purchase was `DAYS_AGO[k]` days ago (the most recent score R 5), its purchases
number `PURCHASES[k]` (the most score F 5), and its net spend follows from those except where a
refund or a large order says otherwise.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Integer, literal, select

from db.repositories.campaigns import _segment
from db.uow import UnitOfWorkFactory
from loyalty.campaigns.audience import Audience, member_filter
from loyalty.campaigns.rfm import RFM_SCALE, RFM_SEGMENTS, RfmScale, RfmScore, rfm_counts, rfm_scores
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.campaigns import add_member, bought

DAY = timedelta(days=1)
TEN = RfmScale(quintiles_from=10)

#                 R  F  segment
EXPECTED = [
    (5, 5, "champions"),  # m0
    (5, 1, "new"),  # m1
    (4, 3, "loyal"),  # m2
    (4, 2, "potential"),  # m3
    (3, 4, "loyal"),  # m4
    (3, 1, "potential"),  # m5
    (2, 5, "at_risk"),  # m6
    (2, 3, "at_risk"),  # m7
    (1, 2, "hibernating"),  # m8
    (1, 4, "at_risk"),  # m9
]
DAYS_AGO = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
PURCHASES = [9, 1, 5, 3, 7, 2, 10, 6, 4, 8]
# Net spend: 1,000 a purchase, but m0 had all but one purchase refunded (net 1,000, the least)
# and m1's one order was 1,000,000 (the most). Ascending: m0 m5 | m3 m8 | m2 m7 | m4 m9 | m6 m1.
EXPECTED_M = [1, 5, 3, 2, 4, 1, 5, 3, 2, 4]


@pytest.fixture
async def buyers(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> list[int]:
    now = clock.now()
    ids = []
    for k in range(10):
        member_id = await add_member(uow_factory, clock)
        ids.append(member_id)
        for n in range(PURCHASES[k]):
            # The last purchase DAYS_AGO[k] days ago, the others well before it.
            at = now - DAYS_AGO[k] * DAY - n * 20 * DAY
            amount = 1_000_000 if k == 1 else 1_000
            refunded = 1_000 if k == 0 and n > 0 else 0
            await bought(uow_factory, member_id, at=at, amount_minor=amount, refunded_minor=refunded)
    return ids


async def test_scores_follow_quintiles_of_recency_frequency_and_net_spend(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, buyers: list[int]
) -> None:
    never = await add_member(uow_factory, clock)
    long_ago = await add_member(uow_factory, clock)
    await bought(uow_factory, long_ago, at=clock.now() - 400 * DAY)
    async with uow_factory() as uow:
        scores = await rfm_scores(uow, [*buyers, never, long_ago], now=clock.now(), scale=TEN)
    assert never not in scores and long_ago not in scores, "no purchase in 365 days: no score"
    for k, member_id in enumerate(buyers):
        r, f, segment = EXPECTED[k]
        assert scores[member_id] == RfmScore(r, f, EXPECTED_M[k], segment), f"m{k}"


async def test_counts_per_segment(uow_factory: UnitOfWorkFactory, clock: FixedClock, buyers: list[int]) -> None:
    async with uow_factory() as uow:
        counts = await rfm_counts(uow, now=clock.now(), scale=TEN)
    assert list(counts) == list(RFM_SEGMENTS)
    assert counts == {"champions": 1, "loyal": 2, "potential": 2, "new": 1, "at_risk": 3, "hibernating": 1}


async def test_counts_are_zero_without_purchases(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_member(uow_factory, clock)
    async with uow_factory() as uow:
        counts = await rfm_counts(uow, now=clock.now())
    assert counts == dict.fromkeys(RFM_SEGMENTS, 0)


async def test_scores_move_with_time(uow_factory: UnitOfWorkFactory, clock: FixedClock, buyers: list[int]) -> None:
    """A year and a bit later the purchases have left the window: nobody has a score."""
    async with uow_factory() as uow:
        later = await rfm_counts(uow, now=clock.now() + 400 * DAY)
    assert sum(later.values()) == 0


async def test_audience_by_segment(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, buyers: list[int]
) -> None:
    async def members(*segments: str) -> set[int]:
        audience = Audience.model_validate({"rfm": list(segments)})
        async with uow_factory() as uow:
            found = await member_filter(uow, audience, now=clock.now(), zone=settings.zone, rfm_scale=TEN)
            return {row.member_id async for chunk in uow.campaigns.stream_audience(found, chunk=3) for row in chunk}

    m = buyers
    assert await members("at_risk") == {m[6], m[7], m[9]}
    assert await members("champions", "new") == {m[0], m[1]}
    assert await members("hibernating") == {m[8]}
    assert await members(*RFM_SEGMENTS) == set(m)


@pytest.mark.parametrize("r", range(1, 6))
@pytest.mark.parametrize("f", range(1, 6))
async def test_segment_rules_cover_every_score(uow_factory: UnitOfWorkFactory, r: int, f: int) -> None:
    """The SQL rule against the table in loyalty/campaigns/rfm.py, for all 25 (R, F)."""
    if r >= 4 and f >= 4:
        expected = "champions"
    elif r >= 3 and f >= 3:
        expected = "loyal"
    elif r >= 4 and f == 1:
        expected = "new"
    elif r >= 3:
        expected = "potential"
    elif f >= 3:
        expected = "at_risk"
    else:
        expected = "hibernating"
    scored = select(literal(r, Integer).label("r"), literal(f, Integer).label("f")).subquery()
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(_segment(scored))) == expected


# --- a small shop: fixed cut-offs below `quintiles_from` buyers -------------------------------


async def test_one_buyer_with_two_purchases_today_is_not_hibernating(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    """The case that ranking got wrong: alone, they were the bottom fifth of everything."""
    member_id = await add_member(uow_factory, clock)
    for hours in (1, 3):
        await bought(uow_factory, member_id, at=clock.now() - timedelta(hours=hours))
    async with uow_factory() as uow:
        scores = await rfm_scores(uow, [member_id], now=clock.now())
        counts = await rfm_counts(uow, now=clock.now())
    assert (scores[member_id].recency, scores[member_id].frequency) == (5, 2)
    assert scores[member_id].segment == "potential"
    assert counts["potential"] == 1 and counts["hibernating"] == 0


# (days since the last purchase, purchases in the window) -> (R, F), by the table in rfm.py.
GRADED = [
    ((0, 12), (5, 5)),
    ((14, 11), (4, 4)),  # 14 days ago exactly is no longer "within 14 days"
    ((13, 6), (5, 4)),
    ((29, 5), (4, 3)),
    ((45, 3), (3, 3)),
    ((90, 2), (2, 2)),
    ((119, 1), (2, 1)),
    ((200, 30), (1, 5)),
]


async def test_a_small_crowd_is_graded_by_the_fixed_cut_offs(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    now = clock.now()
    ids = []
    for (days, purchases), _ in GRADED:
        member_id = await add_member(uow_factory, clock)
        ids.append(member_id)
        for n in range(purchases):
            await bought(uow_factory, member_id, at=now - days * DAY - n * timedelta(hours=1))
    async with uow_factory() as uow:
        scores = await rfm_scores(uow, ids, now=now)
    assert len(GRADED) < RFM_SCALE.quintiles_from
    for member_id, (case, expected) in zip(ids, GRADED, strict=True):
        assert (scores[member_id].recency, scores[member_id].frequency) == expected, case


async def test_the_same_crowd_is_ranked_once_it_is_large_enough(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, buyers: list[int]
) -> None:
    """Ten buyers: graded while fewer than `quintiles_from`, ranked from it."""
    async with uow_factory() as uow:
        graded = await rfm_scores(uow, buyers, now=clock.now(), scale=RfmScale(quintiles_from=11))
        ranked = await rfm_scores(uow, buyers, now=clock.now(), scale=TEN)
    # m0 bought yesterday, 9 times: F 4 by the cut-offs (6 to 11), F 5 by rank (the most).
    assert (graded[buyers[0]].recency, graded[buyers[0]].frequency) == (5, 4)
    assert (ranked[buyers[0]].recency, ranked[buyers[0]].frequency) == (5, 5)
    # Every one of them bought within 14 days: R 5 for all when graded, ranked 1..5 otherwise.
    assert {score.recency for score in graded.values()} == {5}
    assert sorted(score.recency for score in ranked.values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
