"""Over real HTTP: the preview says whether a campaign's hold-out test could be read (the
audience's conversion, the smallest detectable lift, the share that would do, a warning), and
the evaluation routes answer what loyalty/campaigns/evaluation.py computes, refusing unknown
campaigns, unstarted ones, bad ranges and keys without the marketing scope."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from db.models import Campaign, Purchase
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope
from loyalty.campaigns.evaluation import evaluate_campaign, evaluate_range
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import START
from tests.integration.test_campaign_evaluation import STARTED, build_world
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.campaigns import add_members

DRAFT: dict[str, Any] = {
    "name": "Member day",
    "texts": {"en": "Member day today!"},
    "audience": {},
    "send_at": (START + timedelta(days=1)).isoformat(),
    "attribution_days": 7,
}
Z = 1.959964 + 0.841621  # Phi^-1(0.975) + Phi^-1(0.80), from a printed table


def relative_mde(p: float, total: int, pct: int) -> float:
    n_h = round(total * pct / 100)
    return Z * math.sqrt(p * (1 - p) * (1 / (total - n_h) + 1 / n_h)) / p


@pytest.fixture
async def half_bought(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> list[int]:
    """2,000 members, 1,000 of whom bought in the last 7 days; and purchases that are no
    conversion: older ones, one refunded in full, one in another currency."""
    ids = await add_members(uow_factory, clock, 2_000)
    now = clock.now()
    rows = [
        {"member_id": member_id, "order_id": f"P-{member_id}", "channel": "online", "amount_minor": 5_000,
         "currency": "CNY", "purchased_at": now - timedelta(days=1 + member_id % 6), "refunded_minor": 0,
         "created_at": now, "points_earned": 0}
        for member_id in ids[:1_000]
    ]
    rows += [
        {"member_id": ids[1_500], "order_id": "P-old", "channel": "online", "amount_minor": 5_000, "currency": "CNY",
         "purchased_at": now - timedelta(days=8), "refunded_minor": 0, "created_at": now, "points_earned": 0},
        {"member_id": ids[1_501], "order_id": "P-refunded", "channel": "online", "amount_minor": 5_000,
         "currency": "CNY", "purchased_at": now - timedelta(days=1), "refunded_minor": 5_000, "created_at": now,
         "points_earned": 0},
        {"member_id": ids[1_502], "order_id": "P-usd", "channel": "online", "amount_minor": 5_000, "currency": "USD",
         "purchased_at": now - timedelta(days=1), "refunded_minor": 0, "created_at": now, "points_earned": 0},
    ]
    async with uow_factory() as uow:
        await uow.session.execute(insert(Purchase), rows)
        await uow.commit()
    return ids


async def preview(api: RunningApi, auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await api.client.post("/api/v1/campaigns/preview", json=DRAFT | changes, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_preview_says_whether_the_test_can_be_read(
    api: RunningApi, auth: dict[str, str], half_bought: list[int]
) -> None:
    # p = 0.5 over 2,000 members: 10 % held out gives 0.2088, 11 % 0.2002, 12 % 0.1928.
    small = await preview(api, auth, holdout_pct=10)
    assert small["baseline_conversion"] == pytest.approx(0.5)
    assert small["minimum_detectable_lift"] == pytest.approx(relative_mde(0.5, 2_000, 10), rel=1e-5)
    assert small["minimum_detectable_lift"] == pytest.approx(0.2088, abs=1e-4)
    assert small["suggested_holdout_pct"] == 12
    assert small["holdout_warning"] == "holdout_too_small"
    assert relative_mde(0.5, 2_000, 11) > 0.20 >= relative_mde(0.5, 2_000, 12)

    enough = await preview(api, auth, holdout_pct=12)
    assert enough["minimum_detectable_lift"] == pytest.approx(relative_mde(0.5, 2_000, 12), rel=1e-5)
    assert enough["holdout_warning"] is None
    assert enough["suggested_holdout_pct"] == 12

    none = await preview(api, auth, holdout_pct=0)
    assert none["minimum_detectable_lift"] is None
    assert none["holdout_warning"] == "no_holdout"
    assert none["suggested_holdout_pct"] == 12  # what would make it readable

    # The baseline follows the attribution window: over 2 days (its first instant included), the
    # buyers of a day ago (member_id % 6 == 0) and of exactly two days ago (== 1).
    short = await preview(api, auth, holdout_pct=10, attribution_days=2)
    bought = sum(1 for member_id in half_bought[:1_000] if member_id % 6 in (0, 1))
    assert short["baseline_conversion"] == pytest.approx(bought / 2_000)


async def test_preview_of_an_audience_too_small_or_that_never_bought(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    ids = await add_members(uow_factory, clock, 40)
    async with uow_factory() as uow:
        never = await preview(api, auth, holdout_pct=10)
        assert never["baseline_conversion"] == 0
        assert never["minimum_detectable_lift"] is None
        assert never["suggested_holdout_pct"] is None
        assert never["holdout_warning"] == "no_baseline"
        await uow.session.execute(
            insert(Purchase),
            [{"member_id": member_id, "order_id": f"S-{member_id}", "channel": "online", "amount_minor": 100,
              "currency": "CNY", "purchased_at": clock.now() - timedelta(days=1), "refunded_minor": 0,
              "created_at": clock.now(), "points_earned": 0} for member_id in ids[:10]],
        )
        await uow.commit()
    tiny = await preview(api, auth, holdout_pct=50)
    assert tiny["baseline_conversion"] == pytest.approx(0.25)
    assert tiny["minimum_detectable_lift"] == pytest.approx(relative_mde(0.25, 40, 50), rel=1e-5)
    assert tiny["suggested_holdout_pct"] is None
    assert tiny["holdout_warning"] == "audience_too_small"


async def test_campaign_evaluation_answers_what_the_rules_compute(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    world = await build_world(uow_factory, clock, 7)
    response = await api.client.get(f"/api/v1/campaigns/{world.campaign_id}/evaluation", headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    async with uow_factory() as uow:
        evaluation = await evaluate_campaign(uow, clock, settings, world.campaign_id)
    assert body["campaign_id"] == world.campaign_id
    assert [window["name"] for window in body["windows"]] == ["before", "during", "after"]
    for window, figures in zip(body["windows"], evaluation.windows, strict=True):
        assert window["buyers"] == figures.buyers
        assert window["purchases"] == figures.purchases
        assert window["revenue"] == {"amount_minor": figures.revenue_minor, "currency": "CNY"}
        assert window["participants"] == figures.participants == len(world.reached)
        assert window["conversion_rate"] == pytest.approx(figures.conversion_rate)
        assert window["new_registrations"] == figures.new_registrations
        assert date.fromisoformat(window["first_day"]) == figures.first_day
    assert body["retention"] == pytest.approx(evaluation.retention)
    assert body["naive"]["revenue_gain"]["amount_minor"] == evaluation.naive.revenue_gain_minor
    assert evaluation.causal is not None
    assert body["causal"]["lift"] == pytest.approx(evaluation.causal.lift)
    assert body["causal"]["holdout_members"] == len(world.held_out)
    assert body["reasons"] == [reason.value for reason in evaluation.reasons]
    assert "other_campaigns" in body["reasons"]


async def test_range_evaluation(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await build_world(uow_factory, clock, 8)
    first = STARTED.astimezone(settings.zone).date()
    last = first + timedelta(days=6)
    response = await api.client.get(
        "/api/v1/evaluation", params={"start": first.isoformat(), "end": last.isoformat()}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    async with uow_factory() as uow:
        evaluation = await evaluate_range(uow, clock, settings, first, last)
    assert body["campaign_id"] is None and body["causal"] is None
    assert [window["buyers"] for window in body["windows"]] == [window.buyers for window in evaluation.windows]
    assert [window["conversion_rate"] for window in body["windows"]] == [None, None, None]
    assert body["windows"][1]["first_day"] == first.isoformat()
    assert body["windows"][1]["last_day"] == last.isoformat()
    assert "no_holdout" in body["reasons"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start": "2026-11-10", "end": "2026-11-09"}, ["query", "end"]),
        ({"start": "2026-12-01", "end": "2026-12-07"}, ["query", "start"]),
        ({"start": "2020-01-01", "end": "2026-11-01"}, ["query", "start"]),
        ({"start": "2026-11-10"}, ["query", "end"]),
        ({"start": "yesterday", "end": "2026-11-10"}, ["query", "start"]),
    ],
)
async def test_bad_ranges_are_422_naming_the_field(
    api: RunningApi, auth: dict[str, str], params: dict[str, str], loc: list[str]
) -> None:
    response = await api.client.get("/api/v1/evaluation", params=params, headers=auth)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


async def test_unknown_and_unstarted_campaigns(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    unknown = await api.client.get("/api/v1/campaigns/999/evaluation", headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "campaign_not_found"
    assert (await api.client.get("/api/v1/campaigns/0/evaluation", headers=auth)).status_code == 422
    created = await api.client.post("/api/v1/campaigns", json=DRAFT | {"holdout_pct": 10}, headers=auth)
    assert created.status_code == 201, created.text
    unstarted = await api.client.get(f"/api/v1/campaigns/{created.json()['id']}/evaluation", headers=auth)
    assert unstarted.status_code == 409
    assert unstarted.json()["reason"] == "scheduled"
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Campaign)) == 1


async def test_only_marketing_may_evaluate(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    world = await build_world(uow_factory, clock, 9)
    till = bearer(await new_api_key(uow_factory, clock, "till-9", scopes=frozenset({Scope.TILL})))
    marketing = bearer(await new_api_key(uow_factory, clock, "marketing-9", scopes=frozenset({Scope.MARKETING})))
    paths = [
        (f"/api/v1/campaigns/{world.campaign_id}/evaluation", {}),
        ("/api/v1/evaluation", {"start": "2026-11-01", "end": "2026-11-07"}),
    ]
    for path, params in paths:
        refused = await api.client.get(path, params=params, headers=till)
        assert refused.status_code == 403, refused.text
        assert (await api.client.get(path, params=params, headers=marketing)).status_code == 200
