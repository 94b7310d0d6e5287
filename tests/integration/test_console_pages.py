"""The console's campaign pages over real HTTP: the list, a campaign's report (reach,
conversion targeted vs hold-out, lift with its interval, incremental revenue, coupon cost, ROI)
as loyalty/campaigns/report.py computes it, and the promotion evaluation (before, during, after
beside the hold-out), with every bad input answered by a page that says what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.console.rendering import texts_for
from db.uow import UnitOfWorkFactory
from loyalty.campaigns.report import campaign_report
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.campaigns import add_members, bought, make_campaign, started_campaign
from tests.utils.console import add_staff, sign_in

OWNER, MARKETER = 7101, 7102


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


@pytest.fixture
async def measured_campaign(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> int:
    """A campaign to 60 members, a third of whom bought in its window, seen once it closed."""
    members = await add_members(uow_factory, clock, 60)
    campaign_id = await started_campaign(uow_factory, clock, settings, name="Double points week")
    for n, member_id in enumerate(members):
        if n % 3 == 0:
            await bought(uow_factory, member_id, at=clock.now() + timedelta(days=1), amount_minor=12_345 + n)
    clock.advance(timedelta(days=settings.campaign_attribution_days + 1))
    return campaign_id


async def test_a_campaigns_report_page_shows_the_reports_figures(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, measured_campaign: int
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    listing = await api.client.get("/console/campaigns")
    assert listing.status_code == 200
    assert f'data-campaign="{measured_campaign}"' in listing.text and "Double points week" in listing.text

    page = await api.client.get(f"/console/campaigns/{measured_campaign}")
    assert page.status_code == 200
    async with uow_factory() as uow:
        report = await campaign_report(uow, clock, settings, measured_campaign)
    t = texts_for(settings, "en")
    assert report.targeted.buyers > 0 and report.targeted.members + report.holdout.members == 60
    for expected in (
        t.percent(report.targeted.conversion),
        t.percent(report.holdout.conversion),
        t.money(report.targeted.revenue_minor),
        t.money(report.incremental_revenue_minor),
        t.money(report.coupon_cost_minor),
        t.signed_percent(report.lift),
    ):
        assert expected in page.text, expected
    if report.lift_low is not None:
        assert t.signed_percent(report.lift_low) in page.text and t.signed_percent(report.lift_high) in page.text
    for key in ("campaign.reach", "campaign.lift", "campaign.incremental_revenue", "campaign.coupon_cost", "campaign.roi"):
        assert f'data-kpi="{key}"' in page.text

    missing = await api.client.get("/console/campaigns/999999")
    assert missing.status_code == 404 and "Not found" in missing.text
    for bad in ("nope", "1e3", "9" * 40):
        page = await api.client.get(f"/console/campaigns/{bad}")
        assert page.status_code == 404 and "Not found" in page.text, bad


async def test_the_evaluation_page_sets_before_during_and_after_beside_the_holdout(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, measured_campaign: int
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER, locale="zh_CN")
    page = await api.client.get("/console/evaluation", params={"campaign": str(measured_campaign)})
    assert page.status_code == 200, page.text
    assert all(f'data-window="{name}"' in page.text for name in ("before", "during", "after"))
    assert 'id="causal"' in page.text and 'id="no-causal"' not in page.text
    assert "促销评估" in page.text and "与对照组对比" in page.text

    empty = await api.client.get("/console/evaluation")
    assert empty.status_code == 200 and 'id="evaluate-range"' in empty.text and 'data-window=' not in empty.text

    today = clock.now().astimezone(settings.zone).date()
    ranged = await api.client.get(
        "/console/evaluation", params={"start": str(today - timedelta(days=13)), "end": str(today - timedelta(days=7))}
    )
    assert ranged.status_code == 200 and 'id="no-causal"' in ranged.text


@pytest.mark.parametrize(
    ("params", "status", "problem"),
    [
        ({"campaign": "abc"}, 422, "campaign"),
        ({"campaign": "9" * 40}, 422, "campaign"),
        ({"campaign": "999999"}, 404, "campaign_unknown"),
        ({"start": "2026-13-01", "end": "2026-11-01"}, 422, "dates"),
        ({"start": "2026-11-01"}, 422, "dates"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, 422, "range_order"),
        ({"start": "2027-01-01", "end": "2027-01-02"}, 422, "range_future"),
        ({"start": "2020-01-01", "end": "2026-11-01"}, 422, "range_long"),
    ],
)
async def test_bad_evaluation_input_gets_a_page_saying_what_is_wrong(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    params: dict[str, str], status: int, problem: str,
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/evaluation", params=params)
    assert page.status_code == status
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"evaluation.problems.{problem}") in page.text


async def test_a_campaign_not_started_has_nothing_to_evaluate(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    campaign_id = await make_campaign(uow_factory, clock, settings, send_at=clock.now() + timedelta(days=2))
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/evaluation", params={"campaign": str(campaign_id)})
    assert page.status_code == 409 and 'data-problem="not_started"' in page.text
    report = await api.client.get(f"/console/campaigns/{campaign_id}")
    assert report.status_code == 200 and 'id="not-started"' in report.text
