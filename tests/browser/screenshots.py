"""Screenshots of the merchant console's dashboard for the README, taken in Debian's chromium:
the sample café chain of `loyalty demo` (loyalty/demo.py) in a scratch database, its past days
rolled up as the nightly job leaves them, signed in as its owner through a one-time link, at a
desktop and a phone width, in English and in Chinese.

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots] [--members 120]

The clock is fixed and the demo seeded, so a run draws the same program every time.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, async_playwright

from api.main import create_app
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade_database
from db.uow import UnitOfWorkFactory
from loyalty import console_access, staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.demo import build_demo
from loyalty.kpis.rollup import build_rollups
from tests.utils.api import serve
from tests.utils.browser import CHROMIUM_FLAGS, chromium_path, open_tab

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc)  # noon in Shanghai
OWNER = 1001
# name: (Playwright context options, whole page or the first screen)
SIZES: dict[str, tuple[dict[str, object], bool]] = {
    "desktop": ({"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}, True),
    "phone": ({"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}, False),
}
LOCALES = ("en", "zh_CN")


async def shoot(browser: Browser, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock,
                settings: Settings, out: Path) -> list[Path]:
    written = []
    for locale in LOCALES:
        for size, (options, full_page) in SIZES.items():
            async with uow_factory() as uow:
                link = await console_access.create_link(uow, clock, settings, OWNER, locale=locale)
            async with open_tab(browser, locale=locale.replace("_", "-"), **options) as tab:
                await tab.page.goto(f"{base_url}/console/login?{urlsplit(link).query}")
                await tab.page.wait_for_url(f"{base_url}/console/")
                # Every chart drawn (charts.js marks each canvas) before the picture is taken.
                await tab.page.wait_for_function(
                    "() => [...document.querySelectorAll('canvas[data-chart]')]"
                    ".every(canvas => canvas.dataset.drawn === 'true')"
                )
                path = out / f"dashboard-{size}-{locale}.png"
                await tab.page.screenshot(path=path, full_page=full_page)
                if tab.script_errors or tab.blocked:
                    raise RuntimeError(f"{path.name}: script errors {tab.script_errors}, blocked {tab.blocked}")
                written.append(path)
    return written


async def main(executable: Path, out: Path, members: int) -> list[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'screenshots.sqlite3'}"
        secret = secrets.token_urlsafe(48)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="development",
            database_url=url,
            secret_key=secret,
            program_name="Harbour Coffee",
        )
        await upgrade_database(url)
        engine = create_engine(url)
        try:
            uow_factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(secret))
            clock = FixedClock(NOW)
            await build_demo(uow_factory, settings, now=NOW, member_count=members)
            await build_rollups(uow_factory, clock, settings)
            async with uow_factory() as uow:
                await staff.add(uow, clock, telegram_id=OWNER, role="owner", name="Olive")
            app = create_app(settings, uow_factory=uow_factory, clock=clock)
            async with serve(app) as base_url, async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
                try:
                    return await shoot(browser, base_url, uow_factory, clock, settings, out)
                finally:
                    await browser.close()
        finally:
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--members", type=int, default=120)
    arguments = parser.parse_args()
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("no chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH")
    arguments.out.mkdir(parents=True, exist_ok=True)
    for written in asyncio.run(main(chromium, arguments.out, arguments.members)):
        print(written, file=sys.stderr)
