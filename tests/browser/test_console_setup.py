"""Setting the program up in a real browser (Debian's chromium driven by Playwright): an owner
signs in, raises a tier's threshold in the ladder table, previews who would move, saves; then
adds a reward named in Chinese only and a coupon template issued on joining. Nothing sleeps:
Playwright's `expect` waits for what the page must reach."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from db.models import CouponTemplate, Reward, Tier
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.browser import Tab
from tests.utils.console import add_staff, new_link

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER = 8201


async def test_an_owner_sets_up_tiers_a_reward_and_a_coupon_template(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    page = tab.page
    await page.goto(base_url + await new_link(uow_factory, clock, settings, OWNER))
    await page.click('[data-nav="tiers"]')

    silver_spend = page.locator('tr[data-tier="silver"] [data-column="spend"] input')
    await expect(silver_spend).to_have_value("2000")
    await silver_spend.fill("2500")
    await page.click("#tiers-preview")
    await expect(page.locator("#ladder-preview")).to_have_attribute("data-up", "0")
    await expect(page.locator('tr[data-tier="silver"] [data-column="spend"] input')).to_have_value("2500")
    await page.click("#tiers-save")
    await expect(page.locator("#tiers-saved")).to_be_visible()

    await page.click('[data-nav="rewards"]')
    form = page.locator("#catalogue-form")
    await form.locator('[name="code"]').fill("LATTE")
    await form.locator('[name="name_zh_CN"]').fill("拿铁")
    await form.locator('[name="points_price"]').fill("250")
    await form.locator('[name="cash_value"]').fill("32")
    await page.click("#catalogue-submit")
    await expect(page.locator('#catalogue tr[data-code="LATTE"]')).to_contain_text("拿铁")

    await page.click('[data-nav="coupon_templates"]')
    form = page.locator("#catalogue-form")
    await form.locator('[name="code"]').fill("WELCOME10")
    await form.locator('[name="name_en"]').fill("10% off")
    await form.locator('[name="value"]').fill("10")
    await form.locator('[name="valid_days"]').fill("0")  # first a refusal: a value too high
    await form.locator('[name="value"]').fill("150")
    await form.locator('[name="auto_issue"]').select_option("signup")
    await page.click("#catalogue-submit")
    await expect(page.locator('[data-problem="value"]')).to_be_visible()
    await page.locator('#catalogue-form [name="value"]').fill("10")
    await page.click("#catalogue-submit")
    await expect(page.locator('#catalogue tr[data-code="WELCOME10"]')).to_be_visible()

    async with uow_factory() as uow:
        silver = await uow.session.scalar(select(Tier).where(Tier.code == "silver"))
        reward = await uow.session.scalar(select(Reward).where(Reward.code == "LATTE"))
        template = await uow.session.scalar(select(CouponTemplate).where(CouponTemplate.code == "WELCOME10"))
    assert silver is not None and silver.min_spend_minor == 250_000
    assert reward is not None and reward.names == {"zh_CN": "拿铁"}
    assert template is not None and (template.value, template.auto_issue, template.valid_days) == (10, "signup", 0)
    assert tab.script_errors == [] and tab.blocked == []
