"""An owner's walk through moving from an old program, in a real browser: add a marketer, create
an API key and see it once, upload a members file with a bad line (listed, nothing written), then
the corrected file (imported)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.browser import Tab
from tests.utils.console import add_staff, new_link
from tests.utils.members import next_phone

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER = 8301
HEADER = "external_id,phone,name,language,opening_points,tier,joined\n"


async def test_an_owner_adds_staff_makes_a_key_and_imports_members(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, tmp_path: Path
) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    page = tab.page
    await page.goto(base_url + await new_link(uow_factory, clock, settings, OWNER))

    await page.click('[data-nav="staff"]')
    await page.fill('#add-staff input[name="telegram_id"]', "8302")
    await page.fill('#add-staff input[name="name"]', "Mark")
    await page.click("#add-staff-submit")
    await expect(page.locator('tr[data-staff="8302"]')).to_have_attribute("data-role", "marketer")

    await page.click('[data-nav="keys"]')
    await page.fill('#create-key input[name="name"]', "till-1")
    await page.click("#create-key-submit")
    key = await page.locator("#new-key").inner_text()
    assert key.startswith("lk_")
    await page.click('[data-nav="keys"]')
    await expect(page.locator('tr[data-key="till-1"]')).to_have_attribute("data-state", "active")
    assert key not in await page.content()

    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    phone = next_phone()
    bad.write_text(HEADER + f"A-1,{phone},Ann,en,120,gold,\nA-2,nope,Bo,en,0,,\n")
    good.write_text(HEADER + f"A-1,{phone},Ann,en,120,gold,\n")
    await page.click('[data-nav="imports"]')
    await page.set_input_files('#upload-members input[type="file"]', str(bad))
    await page.click("#upload-members-submit")
    await expect(page.locator('#import-errors tr[data-line="3"]')).to_have_attribute("data-field", "phone")
    await page.set_input_files('#upload-members input[type="file"]', str(good))
    await page.click("#upload-members-submit")
    await expect(page.locator("#import-done")).to_have_attribute("data-created", "1")
    async with uow_factory() as uow:
        member = await uow.members.by_phone(phone)
    assert member is not None and member.points_balance == 120
