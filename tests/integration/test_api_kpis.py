"""GET /api/v1/kpis (marketing) and POST /api/v1/sales (till), over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from db.models import AnonymousSale, AuditEvent
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from loyalty.kpis import MAX_PERIOD_DAYS, definitions
from tests.conftest import START
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.database import every_row
from tests.utils.stores import add_stores, located_store

TODAY = START.astimezone(timezone(timedelta(hours=8))).date()


@pytest.fixture
async def marketing(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    return bearer(await new_api_key(uow_factory, clock, "console", scopes=frozenset({Scope.MARKETING})))


@pytest.fixture
async def till(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    await add_stores(uow_factory, [located_store("SH-01", None, None, clock)])
    return bearer(await new_api_key(uow_factory, clock, "till-7", scopes=frozenset({Scope.TILL})))


def sale(**changes: object) -> dict[str, object]:
    return {"store_code": "SH-01", "day": TODAY.isoformat(), "amount_minor": 52_000, "currency": "CNY", "count": 14} | changes


async def test_the_kpis_of_the_last_30_days(api: RunningApi, marketing: dict[str, str], till: dict[str, str]) -> None:
    posted = await api.client.post("/api/v1/sales", json=sale(), headers=till)
    assert posted.status_code == 201, posted.text
    response = await api.client.get("/api/v1/kpis", params={"days": 30, "store": "SH-01"}, headers=marketing)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"]) == ((TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat())
    assert body["previous_end"] == (TODAY - timedelta(days=30)).isoformat()
    assert set(body["figures"]) == set(definitions.FIGURES)
    # Anonymous sales reported and no member bought: the members' share is 0, not "unknown".
    assert body["figures"]["spend.contribution"]["value"] == 0.0
    assert body["figures"]["members.total"] == {
        "key": "members.total", "unit": "count", "value": 0, "previous": 0, "change": None,
        "definition": "Members enrolled and not erased at period end.",
    }
    assert set(body["charts"]) == {"members", "points", "revenue", "tier_moves", "breakage"}
    assert len(body["charts"]["revenue"]["labels"]) == 30
    assert len(body["cohorts"]) == 12


async def test_a_custom_range_longer_than_90_days_charts_weeks(api: RunningApi, marketing: dict[str, str]) -> None:
    start = TODAY - timedelta(days=99)
    response = await api.client.get(
        "/api/v1/kpis", params={"start": start.isoformat(), "end": TODAY.isoformat()}, headers=marketing
    )
    assert response.status_code == 200, response.text
    labels = response.json()["charts"]["members"]["labels"]
    assert labels[:2] == [start.isoformat(), (start + timedelta(days=7)).isoformat()]
    assert len(labels) == 15  # 100 days: 14 weeks and 2 days


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": TODAY.isoformat(), "end": (TODAY - timedelta(days=1)).isoformat()}, "end"),
        ({"start": TODAY.isoformat(), "end": (TODAY + timedelta(days=1)).isoformat()}, "end"),
        ({"start": (TODAY - timedelta(days=MAX_PERIOD_DAYS)).isoformat(), "end": TODAY.isoformat()}, "start"),
        ({"start": TODAY.isoformat()}, "end"),
        ({"days": 7, "start": TODAY.isoformat(), "end": TODAY.isoformat()}, "days"),
        ({"days": 0}, "days"),
        ({"days": MAX_PERIOD_DAYS + 1}, "days"),
        ({"start": "2026-02-30", "end": TODAY.isoformat()}, "start"),
        ({"days": 7, "store": "SH\x01"}, "store"),
    ],
)
async def test_bad_periods_are_422(
    api: RunningApi, marketing: dict[str, str], params: dict[str, object], field: str
) -> None:
    response = await api.client.get("/api/v1/kpis", params=params, headers=marketing)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_an_unknown_store_is_404(api: RunningApi, marketing: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/kpis", params={"days": 7, "store": "NOPE"}, headers=marketing)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "store_not_found"


async def test_scopes(api: RunningApi, marketing: dict[str, str], till: dict[str, str]) -> None:
    assert (await api.client.get("/api/v1/kpis", params={"days": 7}, headers=till)).status_code == 403
    assert (await api.client.post("/api/v1/sales", json=sale(), headers=marketing)).status_code == 403


async def test_reporting_a_day_again_replaces_its_total(
    api: RunningApi, till: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    first = await api.client.post("/api/v1/sales", json=sale(), headers=till)
    assert first.status_code == 201 and first.json()["replaced"] is False
    again = await api.client.post("/api/v1/sales", json=sale(amount_minor=61_000, count=17), headers=till)
    assert again.status_code == 200 and again.json()["replaced"] is True
    online = await api.client.post("/api/v1/sales", json=sale(store_code=None, amount_minor=900, count=1), headers=till)
    assert online.status_code == 201
    online_again = await api.client.post("/api/v1/sales", json=sale(store_code=None, amount_minor=800, count=1), headers=till)
    assert online_again.status_code == 200
    async with uow_factory() as uow:
        rows = (await uow.session.scalars(select(AnonymousSale).order_by(AnonymousSale.id))).all()
        assert [(row.store_id is None, row.amount_minor, row.sales, row.reported_by) for row in rows] == [
            (False, 61_000, 17, "apikey:till-7"), (True, 800, 1, "apikey:till-7"),
        ]
        audit = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "sales.report"))).all()
        assert len(audit) == 4 and audit[1].detail == f"SH-01 {TODAY.isoformat()}: 61000 CNY in 17 sales (replaced)"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_minor": -1}, "amount_minor"),
        ({"count": -1}, "count"),
        ({"amount_minor": 500, "count": 0}, "count"),
        ({"amount_minor": 1.5}, "amount_minor"),
        ({"currency": "USD"}, "currency"),
        ({"currency": "XXY"}, "currency"),
        ({"day": (TODAY + timedelta(days=1)).isoformat()}, "day"),
        ({"day": (TODAY - timedelta(days=8)).isoformat()}, "day"),
        ({"day": "yesterday"}, "day"),
        ({"store_code": "SH\u000001"}, "store_code"),
        ({"store_code": "SH-01\n"}, "store_code"),
        ({"store_code": "NOPE"}, "store_code"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_sales_are_422_and_write_nothing(
    api: RunningApi, till: dict[str, str], uow_factory: UnitOfWorkFactory, changes: dict[str, object], field: str
) -> None:
    before = await every_row(uow_factory)
    response = await api.client.post("/api/v1/sales", json=sale(**changes), headers=till)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
    assert await every_row(uow_factory) == before


async def test_a_day_inside_the_backdating_window_is_accepted(api: RunningApi, till: dict[str, str]) -> None:
    day = (TODAY - timedelta(days=7)).isoformat()
    response = await api.client.post("/api/v1/sales", json=sale(day=day), headers=till)
    assert response.status_code == 201, response.text
    assert response.json()["day"] == day


async def test_two_first_reports_of_a_day_at_once_leave_one_row(
    api: RunningApi, till: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    answers = await asyncio.gather(*(
        api.client.post("/api/v1/sales", json=sale(amount_minor=1000 * n, count=n), headers=till) for n in (1, 2, 3)
    ))
    assert sorted(answer.status_code for answer in answers) == [200, 200, 201]
    async with uow_factory() as uow:
        [row] = (await uow.session.scalars(select(AnonymousSale))).all()
    assert (row.amount_minor, row.sales) in {(1000, 1), (2000, 2), (3000, 3)}
