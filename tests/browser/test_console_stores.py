"""The stores page in a real browser: the owner adds a store by clicking its place on the map,
and the page draws a marker per located store, while every request for a map tile is refused
(as on a closed network): the markers stand on a blank background and nothing else breaks.

Tiles are the one thing the stores pages load from another host (their CSP allows it); the tab
refuses every request that leaves 127.0.0.1 and records it (tests/utils/browser.py)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from db.uow import UnitOfWorkFactory
from loyalty import stores
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.browser import Tab
from tests.utils.console import add_staff, new_link

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER = 8201
PLACES = (("SH-1", "Jing'an", 31.2243, 121.4462), ("SH-2", "Bund", 31.2400, 121.4900), ("SH-3", "Xuhui", 31.1880, 121.4360))


async def test_the_stores_map_marks_every_store_without_its_tiles_and_a_click_places_a_new_one(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    for code, name, latitude, longitude in PLACES:
        async with uow_factory() as uow:
            spec = stores.StoreSpec(code=code, name=name, latitude=latitude, longitude=longitude)
            await stores.create_store(uow, clock, spec, default_timezone=settings.timezone, actor="test")
    async with uow_factory() as uow:
        await stores.create_store(uow, clock, stores.StoreSpec(code="NOMAP", name="Unlocated"),
                                  default_timezone=settings.timezone, actor="test")
    page = tab.page
    await page.goto(base_url + await new_link(uow_factory, clock, settings, OWNER))
    await page.goto(base_url + "/console/stores/new")

    form_map = page.locator("#store-map")
    await expect(form_map).to_have_attribute("data-ready", "3")
    await page.fill('input[name="code"]', "SH-4")
    await page.fill('input[name="name"]', "Clicked into place")
    box = await form_map.bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    latitude, longitude = await page.input_value("#latitude"), await page.input_value("#longitude")
    assert latitude and longitude, "a click on the map fills in the coordinates"
    assert 31.1 < float(latitude) < 31.3 and 121.4 < float(longitude) < 121.5, (latitude, longitude)
    await page.click("#save-store")

    await expect(page.locator("#saved")).to_have_attribute("data-saved", "SH-4")
    await expect(page.locator("#store-map")).to_have_attribute("data-ready", "4")
    markers = page.locator("#store-map [data-store-marker]")
    await expect(markers).to_have_count(4)
    assert sorted([await marker.get_attribute("data-store-marker") for marker in await markers.all()]) == [
        "SH-1", "SH-2", "SH-3", "SH-4"]
    for marker in await markers.all():
        await expect(marker).to_be_visible()
    await expect(page.locator('#stores tr[data-store="NOMAP"]')).to_be_visible()
    async with uow_factory() as uow:
        placed = await stores.find_store(uow, "SH-4")
    assert (placed.latitude, placed.longitude) == (float(latitude), float(longitude))

    assert tab.blocked, "the map asked for its tiles"
    assert all(url.startswith("https://tile.openstreetmap.org/") for url in tab.blocked), tab.blocked
    assert tab.script_errors == []
