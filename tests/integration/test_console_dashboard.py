"""The owner's dashboard page over real HTTP: the figures, charts, cohorts, tiers and segments
of loyalty.kpis.dashboard for the period and store asked for, the page's hooks (data-kpi,
data-chart, data-period), the chart data as inert JSON, and a page saying what is wrong for
every bad period or store."""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from api.console.dashboard import chart_data, heat
from api.console.rendering import texts_for
from api.console.texts import ConsoleTexts
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.kpis import Dashboard, Period, Series, Unit, dashboard
from tests.utils.api import RunningApi
from tests.utils.console import add_staff, sign_in
from tests.utils.kpis import LedgerSpec, Population, PurchaseSpec, write

OWNER = 7201
CHART_JSON = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)
POPULATION = Population(
    joined=(40, 20, 9, 3, 1),
    erased=(None, None, None, None, None),
    purchases=(
        PurchaseSpec(member=0, day=5, hour=10, store=0, amount=12_800),
        PurchaseSpec(member=0, day=2, hour=19, store=1, amount=4_500),
        PurchaseSpec(member=1, day=8, hour=12, store=None, amount=30_000, refund=10_000, refund_after=1),
        PurchaseSpec(member=2, day=1, hour=9, store=0, amount=2_200),
        PurchaseSpec(member=3, day=0, hour=8, store=1, amount=6_600),
    ),
    ledger=(LedgerSpec(0, 5, "earn", 128), LedgerSpec(1, 8, "earn", 300), LedgerSpec(1, 4, "redeem", -100)),
    moves=((0, 4, 1),),
    anonymous=((0, 3, 9_000),),
)


@pytest.fixture
def today(clock: FixedClock, settings: Settings) -> date:
    return clock.now().astimezone(settings.zone).date()


@pytest.fixture
async def owner(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, today: date) -> None:
    await write(uow_factory, POPULATION, today)
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await sign_in(api.client, uow_factory, clock, settings, OWNER)


async def board_of(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, period: Period, store: str | None = None) -> Dashboard:
    async with uow_factory() as uow:
        return await dashboard(uow, clock, settings, period, store)


@pytest.mark.usefixtures("owner")
async def test_the_dashboard_shows_the_kpi_engines_figures_for_the_period(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, today: date
) -> None:
    page = await api.client.get("/console/")
    assert page.status_code == 200
    board = await board_of(uow_factory, clock, settings, Period.last(30, today))
    t = texts_for(settings, "en")
    assert board.figures["spend.revenue"].value, "the population bought something in the period"
    for key, figure in board.figures.items():
        card = re.search(rf'<div class="card" data-kpi="{re.escape(key)}" title="([^"]*)">(.*?)</div>', page.text, re.S)
        assert card is not None, key
        assert html.unescape(card.group(1)) == t(f"kpi.{key}.help")
        value = re.search(r"<span class=\"value\" data-value>(.*?)</span>", card.group(2), re.S)
        assert value is not None
        shown = value.group(1).strip()
        if figure.unit is Unit.MONEY:
            assert shown == t.money(figure.value), key
        elif figure.unit is Unit.RATIO:
            assert shown == t.percent(figure.value), key
        elif isinstance(figure.value, int):
            assert shown == t.number(figure.value), key
        change = figure.change
        assert (t.signed_percent(change) if change is not None else t("dashboard.no_previous")) in card.group(2)

    for days in (7, 30, 90, 365):
        assert f'data-period="{days}"' in page.text
    assert 'data-period="30" aria-current="true"' in page.text
    for key in board.charts:
        assert f'<canvas data-chart="{key}"' in page.text
    found = CHART_JSON.search(page.text)
    assert found is not None
    charts = json.loads(found.group(1))["charts"]
    for key, series in board.charts.items():
        assert charts[key]["labels"] == list(series.labels)
        assert {line["key"]: line["values"] for line in charts[key]["lines"]} == {
            name: list(values) for name, values in series.lines.items()
        }
    for tier, count in board.tiers.items():
        name = board.tier_names[tier]["en"]
        assert name != tier, "the population's tiers have names apart from their codes"
        assert f'<tr data-tier="{tier}"><td>{name}</td><td class="num">{t.number(count)}</td></tr>' in page.text
    assert charts["tiers"]["labels"] == [board.tier_names[tier]["en"] for tier in board.tiers]
    for segment in board.segments:
        assert f'<tr data-segment="{segment}"><td>{t("rfm." + segment)}</td>' in page.text
    assert "<td>At risk</td>" in page.text
    for row in board.cohorts:
        assert f'data-cohort="{row.month.isoformat()}"' in page.text
    assert '<script src="/console/static/charts.js" defer></script>' in page.text
    assert "<script>" not in page.text, "no inline script"


@pytest.mark.usefixtures("owner")
async def test_the_period_switch_a_custom_range_and_a_store(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, today: date
) -> None:
    t = texts_for(settings, "en")
    week = await api.client.get("/console/", params={"days": "7"})
    assert week.status_code == 200 and 'data-period="7" aria-current="true"' in week.text
    assert f'data-start="{(today - timedelta(days=6)).isoformat()}"' in week.text

    start, end = today - timedelta(days=9), today - timedelta(days=2)
    ranged = await api.client.get("/console/", params={"start": str(start), "end": str(end), "store": "K-A"})
    assert ranged.status_code == 200
    assert f'data-start="{start}" data-end="{end}"' in ranged.text
    assert 'aria-current="true"' not in ranged.text, "no preset is current for a custom range"
    board = await board_of(uow_factory, clock, settings, Period(start, end), "K-A")
    assert t.money(board.figures["spend.revenue"].value) in ranged.text
    assert '<option value="K-A" selected>' in ranged.text


@pytest.mark.usefixtures("owner")
@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"days": "8"}, "days"),
        ({"days": "abc"}, "days"),
        ({"start": "2026-11-01"}, "dates"),
        ({"start": "2026-11-31", "end": "2026-11-20"}, "dates"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, "range_order"),
        ({"start": "2026-11-01", "end": "2027-01-01"}, "range_future"),
        ({"start": "2020-01-01", "end": "2026-11-01"}, "range_long"),
        ({"store": "NOPE"}, "store"),
    ],
)
async def test_a_bad_period_or_store_gets_a_422_page_saying_so(
    api: RunningApi, settings: Settings, params: dict[str, str], problem: str
) -> None:
    page = await api.client.get("/console/", params=params)
    assert page.status_code == 422
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"dashboard.problems.{problem}") in page.text
    assert 'data-kpi="' not in page.text


@pytest.mark.usefixtures("owner")
async def test_the_dashboard_in_chinese(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    page = await api.client.get("/console/campaigns")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    await api.client.post("/console/language", data={"locale": "zh_CN", "next": "/console/", "csrf_token": token.group(1)})
    chinese = await api.client.get("/console/")
    assert "数据看板" in chinese.text and "会员总数" in chinese.text and "较上一时段" in chinese.text
    found = CHART_JSON.search(chinese.text)
    assert found is not None and json.loads(found.group(1))["locale"] == "zh-CN"


async def test_the_vendored_scripts_and_the_stylesheet_are_served(api: RunningApi) -> None:
    htmx = await api.client.get("/console/static/vendor/htmx.min.js")
    chart = await api.client.get("/console/static/vendor/chart.umd.min.js")
    css = await api.client.get("/console/static/console.css")
    assert htmx.status_code == chart.status_code == css.status_code == 200
    assert "htmx" in htmx.text[:200] and chart.text.startswith("/*!\n * Chart.js v4")
    assert "@media (max-width: 600px)" in css.text
    assert chart.headers["cache-control"] == "no-cache" and chart.headers["etag"]
    again = await api.client.get("/console/static/vendor/chart.umd.min.js", headers={"If-None-Match": chart.headers["etag"]})
    assert again.status_code == 304 and again.content == b"", "an unchanged file is not sent again"


def test_chart_data_cannot_end_its_script_element() -> None:
    hostile = "</script><script>alert(1)</script>"
    board = Dashboard(
        period=Period(date(2026, 11, 1), date(2026, 11, 2)), store_code=None, currency="CNY",
        computed_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
        figures={}, charts={"x": Series("x", Unit.COUNT, (hostile,), {hostile: (1,)})}, tiers={hostile: 3},
    )
    text = str(chart_data(board, ConsoleTexts(locale="en", currency="CNY")))
    assert "<" not in text and ">" not in text and "&" not in text.replace("\\u0026", "")
    decoded = json.loads(text)
    assert decoded["charts"]["x"]["labels"] == [hostile] and decoded["charts"]["tiers"]["labels"] == [hostile]


@pytest.mark.parametrize(("share", "css"), [(None, "heat-none"), (0.0, "heat-0"), (0.04, "heat-0"), (0.26, "heat-3"), (1.0, "heat-10"), (1.3, "heat-10")])
def test_heat_map_classes_are_tenths(share: float | None, css: str) -> None:
    assert heat(share) == css



def test_a_line_ten_times_smaller_than_the_largest_gets_the_right_hand_axis() -> None:
    lines = {"total": (180, 200), "new": (3, 19), "none": (None, None), "zero": (0, 0)}
    board = Dashboard(
        period=Period(date(2026, 11, 1), date(2026, 11, 2)), store_code=None, currency="CNY",
        computed_at=datetime(2026, 11, 2, tzinfo=timezone.utc), figures={},
        charts={"members": Series("members", Unit.COUNT, ("2026-11-01", "2026-11-02"), lines)},
    )
    decoded = json.loads(str(chart_data(board, ConsoleTexts(locale="en", currency="CNY"))))
    axes = {line["key"]: line["axis"] for line in decoded["charts"]["members"]["lines"]}
    # A line with nothing to draw stays on the main axis, which it then lies on at zero.
    assert axes == {"total": "y", "new": "y1", "none": "y", "zero": "y"}
