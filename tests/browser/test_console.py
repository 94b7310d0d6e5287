"""The merchant console in a real browser (Debian's chromium driven by Playwright): what a
merchant sees, with the scripts the console serves itself and nothing from outside 127.0.0.1.

One module, one browser (tests/browser/conftest.py): each test opens a fresh context in it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Tab

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_api_docs_render_offline(tab: Tab, base_url: str) -> None:
    """The harness itself: a served page, rendered by its own scripts, with no request leaving."""
    await tab.page.goto(f"{base_url}/docs")
    await expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("merchant API")
    await expect(tab.page.locator(".opblock-summary-path").first).to_be_visible()
    assert tab.script_errors == []
    assert tab.blocked == []
