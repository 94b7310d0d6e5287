"""The merchant console in a real browser (Debian's chromium driven by Playwright): signing in by
a one-time link, the dashboard's charts drawn, the period switch, the Chinese console, a
marketer kept out of owner pages, an expired or reused link refused. Every page runs with the
scripts the console serves itself: a request leaving 127.0.0.1 is refused (tests/browser/conftest.py).

One module, one browser: each test opens a fresh context (no cookies shared) in it. Nothing
sleeps: Playwright's `expect` and `wait_for_function` wait for what the page must reach."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from api.console.rendering import texts_for
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.kpis import Period, dashboard
from loyalty.kpis.rollup import build_rollups
from tests.utils.browser import Tab
from tests.utils.console import add_staff, new_link
from tests.utils.kpis import local_noon
from tests.utils.members import till_member
from tests.utils.purchases import add_purchase

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER = 8101
MARKETER = 8102
# Purchases (days before today, amount in minor units): two within the last week, the others
# weeks back, so the 7-day and the 365-day revenue must differ. The history is a month long, not
# a year: each past day's roll-up is built for every test that seeds it.
JOINED_DAYS_AGO = 30
PURCHASES = ((1, 12_800), (3, 4_500), (12, 30_000), (20, 8_800), (28, 2_200))

# Counts the canvas's painted pixels (alpha above zero) as the page sees them.
PAINTED_PIXELS = """canvas => {
  const { width, height } = canvas;
  if (!width || !height) return 0;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""

# Whether `text` draws differently from as many code points no font has (private use): a
# missing font draws both as the same empty boxes.
GLYPHS_DRAWN = """text => {
  const draw = content => {
    const canvas = document.createElement("canvas");
    canvas.width = 40 * content.length; canvas.height = 48;
    const context = canvas.getContext("2d");
    context.font = "32px " + getComputedStyle(document.body).fontFamily;
    context.fillText(content, 0, 36);
    return canvas.toDataURL();
  };
  return draw(text) !== draw("\\uE000".repeat([...text].length));
}"""


def local_today(clock: FixedClock, settings: Settings) -> date:
    return clock.now().astimezone(settings.zone).date()


@pytest_asyncio.fixture(loop_scope="module")
async def history(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    """Two members who joined months ago and bought since, with the past days rolled up as the
    nightly job leaves them (the dashboard reads those, and builds only today live)."""
    today = local_today(clock, settings)
    joined = FixedClock(local_noon(today - timedelta(days=JOINED_DAYS_AGO)))
    members = [await till_member(uow_factory, joined) for _ in range(2)]
    for index, (days_ago, amount) in enumerate(PURCHASES):
        await add_purchase(
            uow_factory, members[index % 2], amount_minor=amount, at=local_noon(today - timedelta(days=days_ago))
        )
    assert await build_rollups(uow_factory, clock, settings) == JOINED_DAYS_AGO


async def sign_in(
    page: Page, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, telegram_id: int
) -> None:
    """Open a fresh one-time link, as a staff member does from the bot's answer."""
    await page.goto(base_url + await new_link(uow_factory, clock, settings, telegram_id))


async def revenue(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, days: int) -> str:
    """The revenue of the last `days` days as the KPI engine computes it, as the page writes it."""
    async with uow_factory() as uow:
        board = await dashboard(uow, clock, settings, Period.last(days, local_today(clock, settings)))
    return texts_for(settings, "en").money(board.figures["spend.revenue"].value)


async def test_the_api_docs_render_offline(tab: Tab, base_url: str) -> None:
    """The harness itself: a served page, rendered by its own scripts, with no request leaving."""
    await tab.page.goto(f"{base_url}/docs")
    await expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("merchant API")
    await expect(tab.page.locator(".opblock-summary-path").first).to_be_visible()
    assert tab.script_errors == []
    assert tab.blocked == []


@pytest.mark.usefixtures("history")
async def test_an_owner_signs_in_by_link_and_the_dashboard_draws_its_charts(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await sign_in(tab.page, base_url, uow_factory, clock, settings, OWNER)

    await expect(tab.page).to_have_url(f"{base_url}/console/")
    await expect(tab.page.locator("#staff-name")).to_have_attribute("data-role", "owner")
    await expect(tab.page.locator('[data-kpi="spend.revenue"] [data-value]')).to_have_text(
        await revenue(uow_factory, clock, settings, 30)
    )
    canvases = tab.page.locator("canvas[data-chart]")
    await expect(canvases.first).to_be_visible()
    charts = await canvases.all()
    assert len(charts) >= 4, "members, points, tier moves and revenue at least"
    for canvas in charts:
        await expect(canvas).to_have_attribute("data-drawn", "true")
        painted = await canvas.evaluate(PAINTED_PIXELS)
        assert painted > 0, f"the {await canvas.get_attribute('data-chart')} chart is blank"
    assert tab.script_errors == []
    assert tab.blocked == []


@pytest.mark.usefixtures("history")
async def test_switching_the_period_from_7_to_365_days_changes_the_figures(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    week, year = [await revenue(uow_factory, clock, settings, days) for days in (7, 365)]
    assert week != year, "the seeded year has purchases older than a week"
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await sign_in(tab.page, base_url, uow_factory, clock, settings, OWNER)
    shown = tab.page.locator('[data-kpi="spend.revenue"] [data-value]')

    await tab.page.locator('a[data-period="7"]').click()
    await expect(tab.page.locator('a[data-period="7"]')).to_have_attribute("aria-current", "true")
    await expect(shown).to_have_text(week)

    await tab.page.locator('a[data-period="365"]').click()
    await expect(tab.page.locator('a[data-period="365"]')).to_have_attribute("aria-current", "true")
    await expect(shown).to_have_text(year)
    start = local_today(clock, settings) - timedelta(days=364)
    await expect(tab.page.locator("#period")).to_have_attribute("data-start", start.isoformat())
    assert tab.script_errors == []


@pytest.mark.usefixtures("history")
async def test_the_console_in_chinese_shows_and_draws_chinese(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    zh = texts_for(settings, "zh_CN")
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await sign_in(tab.page, base_url, uow_factory, clock, settings, OWNER)

    await tab.page.locator('#language-form [data-locale="zh_CN"]').click()
    await expect(tab.page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(tab.page.locator("h1")).to_have_text(zh("dashboard.title"))
    await expect(tab.page.locator('[data-nav="campaigns"]')).to_have_text(zh("nav.campaigns"))
    await expect(tab.page.locator('[data-kpi="spend.revenue"] .label')).to_have_text(zh("kpi.spend.revenue.label"))
    await expect(tab.page.locator('a[data-period="7"]')).to_have_text(zh("dashboard.days", days=7))
    # The labels are there in the page, and a font on the machine draws them, not empty boxes.
    assert await tab.page.evaluate(GLYPHS_DRAWN, zh("dashboard.title")), "no font draws Chinese here"
    for canvas in await tab.page.locator("canvas[data-chart]").all():
        await expect(canvas).to_have_attribute("data-drawn", "true")
    assert tab.script_errors == []


async def test_a_marketer_cannot_open_owner_pages(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    en = texts_for(settings, "en")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")
    await sign_in(tab.page, base_url, uow_factory, clock, settings, MARKETER)
    await expect(tab.page).to_have_url(f"{base_url}/console/campaigns")
    await expect(tab.page.locator("#staff-name")).to_have_attribute("data-role", "marketer")
    await expect(tab.page.locator('[data-nav="dashboard"]')).to_have_count(0)

    response = await tab.page.goto(f"{base_url}/console/?days=365")
    assert response is not None and response.status == 403
    await expect(tab.page.locator("#message")).to_have_attribute("data-page", "forbidden")
    await expect(tab.page.locator("h1")).to_have_text(en("pages.forbidden.title"))
    await expect(tab.page.locator("[data-kpi]")).to_have_count(0)
    await expect(tab.page.locator("canvas")).to_have_count(0)


async def test_a_reused_or_expired_link_is_refused(
    tab: Tab, other_tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    en = texts_for(settings, "en")
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    link = base_url + await new_link(uow_factory, clock, settings, OWNER)
    await tab.page.goto(link)
    await expect(tab.page).to_have_url(f"{base_url}/console/")

    # The same link again, from another browser with no session: refused, and no session made.
    reused = await other_tab.page.goto(link)
    assert reused is not None and reused.status == 410
    await expect(other_tab.page.locator("#message")).to_have_attribute("data-page", "link_used")
    await expect(other_tab.page.locator("h1")).to_have_text(en("pages.link_used.title"))
    assert await other_tab.page.context.cookies() == []

    late = base_url + await new_link(uow_factory, clock, settings, OWNER)
    clock.advance(timedelta(minutes=settings.console_link_minutes, seconds=1))
    expired = await other_tab.page.goto(late)
    assert expired is not None and expired.status == 410
    await expect(other_tab.page.locator("#message")).to_have_attribute("data-page", "link_expired")
    await expect(other_tab.page.locator("h1")).to_have_text(en("pages.link_expired.title"))
    assert await other_tab.page.context.cookies() == []

    # Without a session the dashboard sends the browser to the page saying how to sign in.
    await other_tab.page.goto(f"{base_url}/console/")
    await expect(other_tab.page).to_have_url(f"{base_url}/console/signin")
    await expect(other_tab.page.locator("[data-kpi]")).to_have_count(0)
