"""Coupons against a real database: codes, validity read in the redeeming store's own day, scope,
issuing limits and quantities (also under concurrency), automatic issue on signup, redeeming
once when two tills race, points multipliers in the ledger, and templates refused field by
field with nothing written."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import Awaitable
from datetime import date, datetime, timezone
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from db.models import AuditEvent, Coupon, CouponTemplate, LedgerEntry, Member
from db.uow import UnitOfWorkFactory
from loyalty import codes, coupons
from loyalty.clock import FixedClock
from loyalty.errors import (
    CouponNotFound,
    CouponNotUsable,
    CouponTemplateExists,
    CouponTemplateNotFound,
    CouponUnavailable,
    IdempotencyConflict,
    InvalidInput,
)
from loyalty.ledger import check_consistency
from loyalty.members import Consent, register_from_chat
from tests.utils.coupons import add_store, give_coupon, make_template, stored_coupon, written
from tests.utils.members import TEST_SETTINGS, chat_member, next_phone, till_member
from tests.utils.rewards import set_tier

T = TypeVar("T")

ROUNDS = 5  # races repeated, each on a fresh coupon
_orders = itertools.count(1)
CODE_SHAPE = re.compile(r"^CP-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def order() -> str:
    return f"O-{next(_orders)}"


async def gather_all(tasks: list[Awaitable[T]]) -> list[T | BaseException]:
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def stores(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    """Two stores in Shanghai's zone (one in Shanghai, one in Beijing), one in London, one
    without a city."""
    await add_store(uow_factory, clock, "SH1", city="Shanghai")
    await add_store(uow_factory, clock, "BJ1", city="Beijing")
    await add_store(uow_factory, clock, "LDN", city="London", timezone="Europe/London")
    await add_store(uow_factory, clock, "NOCITY")


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    return await till_member(uow_factory, clock)


async def redeem(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    code: str,
    *,
    store: str = "SH1",
    order_id: str | None = None,
    amount_minor: int = 12800,
    currency: str = "CNY",
    member_number: str | None = None,
) -> coupons.Redeemed:
    request = coupons.RedeemRequest(
        code=code, store_code=store, order_id=order_id or order(), amount_minor=amount_minor,
        currency=currency, member_number=member_number,
    )
    async with uow_factory() as uow:
        return await coupons.redeem(uow, clock, TEST_SETTINGS, request, actor="till")


async def refused(uow_factory: UnitOfWorkFactory, clock: FixedClock, code: str, **kwargs: Any) -> str:
    """The reason a redemption is refused; asserts it wrote nothing."""
    before = await written(uow_factory)
    with pytest.raises(CouponNotUsable) as refusal:
        await redeem(uow_factory, clock, code, **kwargs)
    assert await written(uow_factory) == before
    reason = refusal.value.details["reason"]
    assert isinstance(reason, str)
    return reason


async def issue(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, template: CouponTemplate, key: str | None = None
) -> coupons.Issued:
    return await issue_code(uow_factory, clock, member, template.code, key)


async def issue_code(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, code: str, key: str | None = None
) -> coupons.Issued:
    async with uow_factory() as uow:
        return await coupons.issue(
            uow, clock, TEST_SETTINGS, member_id=member.id, template_code=code, actor="test", issue_key=key
        )


async def coupons_of(uow_factory: UnitOfWorkFactory, member: Member) -> list[coupons.CouponDetails]:
    async with uow_factory() as uow:
        return await coupons.member_coupons(uow, member)


async def redeem_events(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        events = await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "coupon.redeem"))
        return len(list(events))


async def balance_of(uow_factory: UnitOfWorkFactory, member: Member) -> int:
    async with uow_factory() as uow:
        await check_consistency(uow, member.id)
        return int(await uow.session.scalar(select(Member.points_balance).where(Member.id == member.id)) or 0)


# --- codes -----------------------------------------------------------------------------------


async def test_codes_are_distinct_well_formed_and_drawn_from_the_whole_alphabet(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    template = await make_template(uow_factory, clock, per_member_limit=400)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        loaded = await coupons.find_template(uow, template.code)
        issued = [
            await coupons.issue_locked(uow, locked, loaded, now=clock.now(), zone=TEST_SETTINGS.zone, source="campaign")
            for _ in range(300)
        ]
        await uow.commit()
    found = [one.coupon.code for one in issued]
    assert len(set(found)) == 300
    assert all(CODE_SHAPE.match(code) for code in found)
    symbols = Counter("".join(code[3:].replace("-", "") for code in found))
    assert set(symbols) == set(codes.ALPHABET)
    # 3,600 symbols, 112.5 of each expected: every count lies far inside 6 standard deviations.
    assert all(50 <= count <= 180 for count in symbols.values()), symbols


async def test_a_code_is_found_however_it_is_typed_and_a_guess_is_not(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    template = await make_template(uow_factory, clock)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    compact = code.replace("-", "")
    typed = [
        code, code.lower(), compact, compact.lower(), compact[2:], f"  {code[:7]} {code[8:]} ", code.replace("0", "O"),
    ]
    async with uow_factory() as uow:
        for form in typed:
            assert (await coupons.find_coupon(uow, form)).coupon.code == code, form
        other = next(symbol for symbol in codes.ALPHABET if symbol != code[-1])
        guesses = ["CP-0000-0000-0000", code[:-1] + other, "RW" + code[2:], code + "0", "hello", "", "CP-" + "Z" * 99]
        for guess in guesses:
            with pytest.raises(CouponNotFound):
                await coupons.find_coupon(uow, guess)


# --- validity --------------------------------------------------------------------------------


async def test_valid_from_its_first_local_midnight_to_the_last_second_of_its_last_day(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(
        uow_factory, clock, valid_from=date(2026, 12, 1), valid_until=date(2026, 12, 3), valid_days=None,
        per_member_limit=4,
    )
    early, first, last, late = [(await give_coupon(uow_factory, clock, member, template)).code for _ in range(4)]
    assert (await stored_coupon(uow_factory, first)).valid_from == date(2026, 12, 1)

    clock.set(utc(2026, 11, 30, 15, 59, 59))  # 23:59:59 on 30 Nov in Shanghai
    assert await refused(uow_factory, clock, early) == "not_yet_valid"
    clock.set(utc(2026, 11, 30, 16, 0, 0))  # 00:00 on 1 Dec in Shanghai
    assert (await redeem(uow_factory, clock, first)).discount_minor == 1000
    clock.set(utc(2026, 12, 3, 15, 59, 59))  # 23:59:59 on 3 Dec
    assert (await redeem(uow_factory, clock, last)).discount_minor == 1000
    clock.set(utc(2026, 12, 3, 16, 0, 0))  # 00:00 on 4 Dec
    assert await refused(uow_factory, clock, late) == "expired"
    assert await refused(uow_factory, clock, early) == "expired"


async def test_a_day_is_read_in_the_redeeming_stores_zone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(
        uow_factory, clock, valid_until=date(2026, 11, 30), valid_days=None, per_member_limit=3
    )
    code, last, late = [(await give_coupon(uow_factory, clock, member, template)).code for _ in range(3)]
    clock.set(utc(2026, 11, 30, 16, 30))  # 00:30 on 1 Dec in Shanghai, 16:30 on 30 Nov in London
    assert await refused(uow_factory, clock, code, store="SH1") == "expired"
    redeemed = await redeem(uow_factory, clock, code, store="LDN")
    assert (redeemed.store_code, redeemed.discount_minor, redeemed.replayed) == ("LDN", 1000, False)

    clock.set(utc(2026, 11, 30, 23, 59, 59))  # the last second of 30 Nov in London
    assert await refused(uow_factory, clock, last, store="SH1") == "expired"
    assert (await redeem(uow_factory, clock, last, store="LDN")).store_code == "LDN"
    clock.set(utc(2026, 12, 1, 0, 0, 0))  # midnight in London: 1 Dec there too
    assert await refused(uow_factory, clock, late, store="LDN") == "expired"


@pytest.mark.parametrize(
    ("issued_at", "first_day", "last_day"),
    [
        # 01:00 on 25 Nov in Shanghai, still 24 Nov in UTC: the program's day counts.
        pytest.param(utc(2026, 11, 24, 17, 0), date(2026, 11, 25), date(2026, 12, 2), id="after-local-midnight"),
        pytest.param(utc(2026, 11, 24, 15, 59, 59), date(2026, 11, 24), date(2026, 12, 1), id="before-local-midnight"),
    ],
)
async def test_valid_days_count_from_the_issue_day_in_the_programs_zone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None,
    issued_at: datetime, first_day: date, last_day: date,
) -> None:
    template = await make_template(uow_factory, clock, valid_days=7)
    clock.set(issued_at)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    coupon = await stored_coupon(uow_factory, code)
    assert (coupon.valid_from, coupon.valid_until) == (first_day, last_day)
    clock.set(datetime(last_day.year, last_day.month, last_day.day, 16, tzinfo=timezone.utc))  # next day, 00:00 local
    assert await refused(uow_factory, clock, code) == "expired"
    clock.set(datetime(last_day.year, last_day.month, last_day.day, 15, 59, 59, tzinfo=timezone.utc))
    assert (await redeem(uow_factory, clock, code)).replayed is False


async def test_the_earlier_end_wins_and_zero_days_is_the_issue_day_only(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    capped = await make_template(uow_factory, clock, valid_until=date(2026, 11, 26), valid_days=30)
    same_day = await make_template(uow_factory, clock, valid_days=0)
    assert (await give_coupon(uow_factory, clock, member, capped)).valid_until == date(2026, 11, 26)
    today = await give_coupon(uow_factory, clock, member, same_day)
    assert (today.valid_from, today.valid_until) == (date(2026, 11, 24), date(2026, 11, 24))


# --- scope and minimum spend -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "accepted", "refused_at"),
    [
        pytest.param({"stores": ["SH1"]}, ["SH1"], ["BJ1", "LDN", "NOCITY"], id="store-list"),
        pytest.param({"cities": ["  sHANGHAI "]}, ["SH1"], ["BJ1", "LDN", "NOCITY"], id="city-any-case"),
        pytest.param(
            {"stores": ["LDN"], "cities": ["beijing"]}, ["LDN", "BJ1"], ["SH1", "NOCITY"], id="stores-or-cities"
        ),
        pytest.param({}, ["SH1", "BJ1", "LDN", "NOCITY"], [], id="everywhere"),
    ],
)
async def test_scope(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None,
    scope: dict[str, list[str]], accepted: list[str], refused_at: list[str],
) -> None:
    template = await make_template(uow_factory, clock, per_member_limit=4, **scope)  # type: ignore[arg-type]
    for store in refused_at:
        code = (await give_coupon(uow_factory, clock, member, template)).code
        assert await refused(uow_factory, clock, code, store=store) == "wrong_store", store
    for store in accepted:
        code = (await give_coupon(uow_factory, clock, member, template)).code
        assert (await redeem(uow_factory, clock, code, store=store)).store_code == store


async def test_minimum_spend_is_inclusive(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(uow_factory, clock, kind="amount_off", value=800, min_spend_minor=5000)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    with pytest.raises(CouponNotUsable) as refusal:
        await redeem(uow_factory, clock, code, amount_minor=4999)
    assert refusal.value.details == {"reason": "below_minimum", "min_spend_minor": 5000}
    assert (await redeem(uow_factory, clock, code, amount_minor=5000)).discount_minor == 800


@pytest.mark.parametrize(
    ("kind", "value", "amount", "discount"),
    [
        pytest.param("percent_off", 15, 12345, 1851, id="percent-floored"),
        pytest.param("percent_off", 100, 12345, 12345, id="percent-all"),
        pytest.param("amount_off", 1000, 800, 800, id="never-more-than-the-order"),
        pytest.param("free_item", 3200, 12800, 3200, id="free-item"),
    ],
)
async def test_what_a_coupon_takes_off(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None,
    kind: str, value: int, amount: int, discount: int,
) -> None:
    template = await make_template(uow_factory, clock, kind=kind, value=value)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    redeemed = await redeem(uow_factory, clock, code, amount_minor=amount)
    assert (redeemed.discount_minor, redeemed.bonus_points) == (discount, 0)
    stored = await stored_coupon(uow_factory, code)
    assert (stored.status, stored.discount_minor, stored.bonus_points) == ("used", discount, None)


# --- redeeming once ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["amount_off", "points_multiplier"])
async def test_two_tills_racing_for_one_code_get_one_success_and_one_used(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None, kind: str
) -> None:
    template = await make_template(
        uow_factory, clock, kind=kind, value=200 if kind == "points_multiplier" else 1000, per_member_limit=ROUNDS
    )
    for _ in range(ROUNDS):
        code = (await give_coupon(uow_factory, clock, member, template)).code
        orders = [order(), order()]
        results = await gather_all([redeem(uow_factory, clock, code, order_id=one) for one in orders])
        [won] = [result for result in results if isinstance(result, coupons.Redeemed)]
        [lost] = [result for result in results if not isinstance(result, coupons.Redeemed)]
        assert isinstance(lost, CouponNotUsable) and lost.details["reason"] == "used", lost
        stored = await stored_coupon(uow_factory, code)
        assert stored.status == "used" and stored.used_order_id == won.coupon.used_order_id
    async with uow_factory() as uow:
        bonuses = list(await uow.session.scalars(select(LedgerEntry.points).where(LedgerEntry.kind == "bonus")))
    assert bonuses == ([128] * ROUNDS if kind == "points_multiplier" else [])
    assert await balance_of(uow_factory, member) == sum(bonuses)
    assert await redeem_events(uow_factory) == ROUNDS


async def test_one_order_retried_at_once_redeems_once_and_replays_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(uow_factory, clock, kind="percent_off", value=10, per_member_limit=ROUNDS)
    for _ in range(ROUNDS):
        code = (await give_coupon(uow_factory, clock, member, template)).code
        same = order()
        results = await gather_all([redeem(uow_factory, clock, code, order_id=same) for _ in range(2)])
        assert all(isinstance(result, coupons.Redeemed) for result in results), results
        assert sorted(result.replayed for result in results) == [False, True]  # type: ignore[union-attr]
        assert {result.discount_minor for result in results} == {1280}  # type: ignore[union-attr]
        assert (await stored_coupon(uow_factory, code)).used_order_id == same
    assert await redeem_events(uow_factory) == ROUNDS


async def test_a_used_code_is_refused_to_another_order_and_another_store(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(uow_factory, clock)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    first = await redeem(uow_factory, clock, code, order_id="A-1")
    again = await redeem(uow_factory, clock, code.lower(), order_id="A-1")
    assert again.replayed and again.discount_minor == first.discount_minor == 1000
    with pytest.raises(IdempotencyConflict) as other_amount:  # the same order, another question
        await redeem(uow_factory, clock, code, order_id="A-1", amount_minor=1)
    assert other_amount.value.details["reason"] == "key_reused"
    assert await refused(uow_factory, clock, code, order_id="A-2") == "used"
    assert await refused(uow_factory, clock, code, order_id="A-1", store="BJ1") == "used"


async def test_another_members_coupon_and_a_withdrawn_one_are_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(uow_factory, clock, per_member_limit=2)
    other = await till_member(uow_factory, clock)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    assert await refused(uow_factory, clock, code, member_number=other.member_number) == "other_member"
    assert (await redeem(uow_factory, clock, code, member_number=member.member_number)).replayed is False

    void = (await give_coupon(uow_factory, clock, member, template)).code
    async with uow_factory() as uow:
        await uow.session.execute(update(Coupon).where(Coupon.code == void).values(status="void"))
        await uow.commit()
    assert await refused(uow_factory, clock, void) == "void"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"store": "NOPE"}, "store"),
        ({"store": "CLOSED"}, "store"),
        ({"currency": "USD"}, "currency"),
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -100}, "amount_minor"),
        ({"order_id": "has space"}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
    ],
)
async def test_bad_redemption_input_names_the_field_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None, change: dict[str, Any], field: str
) -> None:
    await add_store(uow_factory, clock, "CLOSED", active=False)
    code = (await give_coupon(uow_factory, clock, member, await make_template(uow_factory, clock))).code
    before = await written(uow_factory)
    with pytest.raises(InvalidInput) as refusal:
        await redeem(uow_factory, clock, code, **change)
    assert refusal.value.details["field"] == field
    assert await written(uow_factory) == before


async def test_an_unknown_code_is_not_found_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    code = (await give_coupon(uow_factory, clock, member, await make_template(uow_factory, clock))).code
    before = await written(uow_factory)
    for guess in ["CP-0000-0000-0000", code[:-1] + ("0" if code[-1] != "0" else "1"), "nonsense"]:
        with pytest.raises(CouponNotFound):
            await redeem(uow_factory, clock, guess)
    assert await written(uow_factory) == before


# --- points multiplier ---------------------------------------------------------------------------


async def test_a_points_multiplier_credits_the_owner_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, stores: None
) -> None:
    template = await make_template(uow_factory, clock, kind="points_multiplier", value=250)
    code = (await give_coupon(uow_factory, clock, member, template)).code
    before = await balance_of(uow_factory, member)
    # The base rate gives 1 point per 1.00: 128 points for ¥128.00; x2.5 adds 1.5 times that.
    redeemed = await redeem(uow_factory, clock, code, order_id="M-1", amount_minor=12800)
    assert (redeemed.discount_minor, redeemed.bonus_points) == (0, 192)
    assert await balance_of(uow_factory, member) == before + 192
    after = await written(uow_factory)
    replay = await redeem(uow_factory, clock, code, order_id="M-1", amount_minor=12800)
    assert replay.replayed and replay.bonus_points == 192
    assert await written(uow_factory) == after
    assert await balance_of(uow_factory, member) == before + 192
    async with uow_factory() as uow:
        [entry] = await uow.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "bonus"))
    assert (entry.points, entry.reason, entry.actor) == (192, f"coupon {template.code}", "till")


# --- issuing -------------------------------------------------------------------------------------


async def test_ten_members_racing_for_three_coupons_get_exactly_three(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    template = await make_template(uow_factory, clock, total_quantity=3)
    members = [await till_member(uow_factory, clock) for _ in range(10)]
    results = await gather_all([issue(uow_factory, clock, member, template) for member in members])
    issued = [result for result in results if isinstance(result, coupons.Issued)]
    refusals = [result for result in results if not isinstance(result, coupons.Issued)]
    assert len(issued) == 3 and len({one.coupon.member_id for one in issued}) == 3
    assert all(isinstance(r, CouponUnavailable) and r.details["reason"] == "sold_out" for r in refusals), refusals
    state = await written(uow_factory)
    assert (template.code, 3) in state["templates"]  # type: ignore[operator]
    assert len(state["coupons"]) == 3  # type: ignore[arg-type]


async def test_one_member_racing_for_more_than_the_limit_gets_the_limit(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    template = await make_template(uow_factory, clock, per_member_limit=2)
    results = await gather_all([issue(uow_factory, clock, member, template) for _ in range(5)])
    assert sum(isinstance(result, coupons.Issued) for result in results) == 2
    assert sorted(
        r.details["reason"] for r in results if isinstance(r, CouponUnavailable)
    ) == ["limit"] * 3
    assert len(await coupons_of(uow_factory, member)) == 2


async def test_an_issue_key_gives_the_same_coupon_again_and_only_for_the_same_request(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    template = await make_template(uow_factory, clock, per_member_limit=5)
    first = await issue(uow_factory, clock, member, template, key="k-1")
    results = await gather_all([issue(uow_factory, clock, member, template, key="k-1") for _ in range(3)])
    assert all(isinstance(r, coupons.Issued) and r.replayed and r.coupon.code == first.coupon.code for r in results)
    other = await till_member(uow_factory, clock)
    before = await written(uow_factory)
    with pytest.raises(CouponUnavailable) as refusal:
        await issue(uow_factory, clock, other, template, key="k-1")
    assert refusal.value.details["reason"] == "key_reused"
    assert await written(uow_factory) == before
    assert [one.coupon.code for one in await coupons_of(uow_factory, member)] == [first.coupon.code]


async def test_issuing_is_refused_for_each_reason_with_nothing_written(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member
) -> None:
    cases = {
        "inactive": await make_template(uow_factory, clock, active=False),
        "ended": await make_template(uow_factory, clock, valid_until=date(2026, 11, 23), valid_days=None),
        "tier": await make_template(uow_factory, clock, min_tier="gold"),
        "sold_out": await make_template(uow_factory, clock, total_quantity=1),
    }
    await give_coupon(uow_factory, clock, await till_member(uow_factory, clock), cases["sold_out"])
    limited = await make_template(uow_factory, clock, per_member_limit=1)
    await give_coupon(uow_factory, clock, member, limited)
    cases["limit"] = limited
    before = await written(uow_factory)
    for reason, template in cases.items():
        with pytest.raises(CouponUnavailable) as refusal:
            await issue(uow_factory, clock, member, template)
        assert refusal.value.details["reason"] == reason
    with pytest.raises(CouponTemplateNotFound):
        await issue_code(uow_factory, clock, member, "NOPE")
    assert await written(uow_factory) == before

    await set_tier(uow_factory, member, "gold")
    assert (await issue(uow_factory, clock, member, cases["tier"])).coupon.source == "api"


# --- issued by themselves ------------------------------------------------------------------------


async def test_a_signup_coupon_is_given_once_however_the_member_joins(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    template = await make_template(uow_factory, clock, auto_issue="signup", valid_days=14)
    await make_template(uow_factory, clock, auto_issue="signup", active=False)
    await make_template(uow_factory, clock, auto_issue="signup", total_quantity=1, code="ONLYONE")

    in_chat = await chat_member(uow_factory, clock, telegram_id=501)
    phone = next_phone()
    at_till = await till_member(uow_factory, clock, phone=phone)
    async with uow_factory() as uow:  # the till member later starts the chat with the same phone
        registration = await register_from_chat(
            uow, clock, TEST_SETTINGS, telegram_id=502, phone_e164=phone, locale="en",
            consent=Consent(version="test", given_at=clock.now()),
        )
    assert registration.linked_existing and registration.member.id == at_till.id

    for member in (in_chat, at_till):
        owned = await coupons_of(uow_factory, member)
        signup = [one for one in owned if one.template.code == template.code]
        assert len(signup) == 1, [one.template.code for one in owned]
        assert signup[0].coupon.source == "signup"
        assert (signup[0].coupon.valid_from, signup[0].coupon.valid_until) == (date(2026, 11, 24), date(2026, 12, 8))
    # The sold-out template went to the first member only; the others joined all the same.
    assert [one.template.code for one in await coupons_of(uow_factory, in_chat)].count("ONLYONE") == 1
    assert "ONLYONE" not in [one.template.code for one in await coupons_of(uow_factory, at_till)]


# --- the merchant's templates ----------------------------------------------------------------------


GOOD_SPEC: dict[str, Any] = {
    "code": "XMAS",
    "names": {"en": "Christmas", "zh_CN": "圣诞"},
    "kind": "percent_off",
    "value": 10,
    "valid_from": date(2026, 12, 20),
    "valid_until": date(2026, 12, 26),
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "has space"}, "code"),
        ({"kind": "bogof"}, "kind"),
        ({"value": 0}, "value"),
        ({"value": 101}, "value"),
        ({"kind": "points_multiplier", "value": 100}, "value"),
        ({"kind": "amount_off", "value": -1}, "value"),
        ({"currency": "USD"}, "currency"),
        ({"valid_until": None}, "valid_until"),
        ({"valid_until": date(2026, 12, 19)}, "valid_until"),
        ({"valid_days": -1}, "valid_days"),
        ({"stores": ["NOPE"]}, "stores"),
        ({"stores": None}, "stores"),
        ({"cities": "Shanghai"}, "cities"),
        ({"cities": ["  "]}, "cities"),
        ({"min_tier": "platinum"}, "min_tier"),
        ({"names": {"en": "Christmas", "zh_CN": "圣诞", "fr": "Noël"}}, "names"),
        ({"names": {}}, "names"),
        ({"descriptions": {"de": "Weihnachten"}}, "descriptions"),
        ({"min_spend_minor": -1}, "min_spend_minor"),
        ({"per_member_limit": 0}, "per_member_limit"),
        ({"total_quantity": 0}, "total_quantity"),
        ({"auto_issue": "payday"}, "auto_issue"),
        ({"auto_issue": "tier"}, "min_tier"),
    ],
)
async def test_a_bad_template_names_the_field_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, stores: None, change: dict[str, Any], field: str
) -> None:
    before = await written(uow_factory)
    with pytest.raises(InvalidInput) as refusal:
        async with uow_factory() as uow:
            spec = coupons.TemplateSpec(**(GOOD_SPEC | change))
            await coupons.create_template(uow, clock, TEST_SETTINGS, spec, actor="t")
    assert refusal.value.details["field"] == field
    assert await written(uow_factory) == before


async def test_a_template_code_is_taken_once(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await make_template(uow_factory, clock, code="XMAS")
    before = await written(uow_factory)
    with pytest.raises(CouponTemplateExists):
        await make_template(uow_factory, clock, code="XMAS")
    assert await written(uow_factory) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total_quantity": 1}, "total_quantity"),
        ({"valid_until": None, "valid_days": None}, "valid_until"),
        ({"valid_from": date(2027, 1, 1)}, "valid_until"),
        ({"min_tier": None}, "min_tier"),
        ({"stores": None}, "stores"),
        ({"kind": "amount_off"}, "kind"),
    ],
)
async def test_a_bad_update_names_the_field_and_changes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member, change: dict[str, Any], field: str
) -> None:
    template = await make_template(
        uow_factory, clock, valid_until=date(2026, 12, 31), min_tier="silver", auto_issue="tier", per_member_limit=2
    )
    await set_tier(uow_factory, member, "silver")
    for _ in range(2):
        await give_coupon(uow_factory, clock, member, template)
    before = await written(uow_factory)
    with pytest.raises(InvalidInput) as refusal:
        async with uow_factory() as uow:
            await coupons.update_template(uow, clock, template.code, change, actor="t")
    assert refusal.value.details["field"] == field
    assert await written(uow_factory) == before
    async with uow_factory() as uow:
        definition = await coupons.template_definition(uow, template.code)
    assert definition.template.valid_until == date(2026, 12, 31) and definition.min_tier is not None
