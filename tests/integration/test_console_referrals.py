"""The console's referral page over real HTTP: the owner sets the terms (checked by the API's
model and loyalty/referrals.py: a refusal is a 422 page with the reason beside the field and
nothing written), a marketer reads them and the funnel but may not change them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.console import add_staff, csrf_of, sign_in
from tests.utils.coupons import make_template
from tests.utils.members import chat_member
from tests.utils.referrals import buy, friend_joins, link_of

OWNER, MARKETER = 7501, 7502
TERMS = {
    "active": "1", "friend_coupon": "FRIEND", "reward_points": "300", "reward_coupon": "", "min_purchase": "29.90",
    "hold_days": "14", "monthly_cap": "5", "total_cap": "", "burst_size": "3", "burst_minutes": "10",
    "daily_join_limit": "10",
}


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")
    await make_template(uow_factory, clock, code="FRIEND")


async def terms(uow_factory: UnitOfWorkFactory) -> referrals.Terms | None:
    async with uow_factory() as uow:
        return await referrals.current_terms(uow)


async def test_the_owner_sets_the_terms(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/referrals")
    assert page.status_code == 200 and 'data-nav="referrals"' in page.text and 'id="terms-submit"' in page.text
    saved = await api.client.post("/console/referrals", data={"csrf_token": csrf_of(page), **TERMS})
    assert saved.status_code == 303, saved.text
    assert await terms(uow_factory) == referrals.Terms(
        active=True, friend_coupon="FRIEND", reward_points=300, min_purchase_minor=2990, hold_days=14, monthly_cap=5,
    )
    again = await api.client.get("/console/referrals?saved=1")
    assert 'id="terms-saved"' in again.text and 'value="29.9"' in again.text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"friend_coupon": "NOPE"}, "friend_coupon"),
        ({"reward_points": "0"}, "reward_points"),
        ({"reward_points": "lots"}, "reward_points"),
        ({"min_purchase": "2.999"}, "min_purchase_minor"),
        ({"hold_days": "400"}, "hold_days"),
        ({"burst_size": "1"}, "burst_size"),
        ({"monthly_cap": "-2"}, "monthly_cap"),
    ],
)
async def test_bad_terms_are_refused_beside_the_field_and_nothing_is_written(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    change: dict[str, str], problem: str,
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/referrals")
    refused = await api.client.post("/console/referrals", data={"csrf_token": csrf_of(page), **TERMS, **change})
    assert refused.status_code == 422
    assert f'data-problem="{problem}"' in refused.text
    assert next(iter(change.values())) in refused.text, "what was typed is held"
    assert await terms(uow_factory) is None


async def test_a_marketer_reads_the_funnel_and_may_not_change_the_terms(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    async with uow_factory() as uow:
        await referrals.set_terms(uow, clock, referrals.Terms(active=True, reward_points=300, hold_days=1), actor="test")
    ann = await chat_member(uow_factory, clock, telegram_id=2001)
    bob, _ = await friend_joins(uow_factory, clock, settings, await link_of(uow_factory, ann))
    await buy(uow_factory, clock, settings, bob, 5000)
    clock.advance(timedelta(days=2))
    await referrals.pay_due(uow_factory, clock, settings)

    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    page = await api.client.get("/console/referrals")
    assert page.status_code == 200 and 'id="terms-submit"' not in page.text and "readonly" in page.text
    assert 'id="funnel-total" data-joined="1" data-rewarded="1"' in page.text
    assert f'data-referrer="{ann.member_number}"' in page.text
    refused = await api.client.post("/console/referrals", data={"csrf_token": csrf_of(page), **TERMS, "reward_points": "1"})
    assert refused.status_code == 403
    current = await terms(uow_factory)
    assert current is not None and current.reward_points == 300

