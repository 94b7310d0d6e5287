"""The member's screens of the Mini App in a real browser (Debian's chromium through Playwright),
opened as Telegram opens it: a stand-in `window.Telegram.WebApp` (tests/utils/webapp.py) gives
init data signed with the test bot's token and records what the page asks of Telegram. The page
talks to the real app over HTTP. Each test checks what the screen drew, not only that nothing
failed."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Response, expect
from sqlalchemy import func, select, update

from db.models import Reward, RewardRedemption
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.app_members import BOT_TOKEN, with_bot_token
from tests.utils.browser import Tab
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import chat_member
from tests.utils.rewards import give_points, make_reward
from tests.utils.stores import add_stores, located_store
from tests.utils.webapp import DARK_THEME, sign_init_data, stand_in_script, telegram_user

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBER = 9201
WAIT_MS = 10_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_bot_token(settings)


async def open_app(page: Page, base_url: str, clock: FixedClock, *, language: str = "en", scheme: str = "light") -> None:
    init_data = sign_init_data(BOT_TOKEN, telegram_user(MEMBER, language_code=language), clock.now())
    await page.add_init_script(stand_in_script(init_data, color_scheme=scheme))
    await page.goto(base_url + "/app/")


async def open_tab(page: Page, screen: str) -> None:
    await page.locator(f'#tabs button[data-screen="{screen}"]').click()


async def test_a_member_redeems_a_reward_through_the_main_button_once_and_sees_its_code(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    await give_points(uow_factory, clock, member, 500)
    reward = await make_reward(uow_factory, clock, price=300, name="Latte")
    page = tab.page
    await open_app(page, base_url, clock)
    await open_tab(page, "rewards")
    await expect(page.locator("#rewards-available")).to_have_text("You have 500 points", timeout=WAIT_MS)
    await page.locator(f'#catalogue li[data-reward="{reward.id}"] button').click()
    await expect(page.locator("#reward h2")).to_have_text("Latte", timeout=WAIT_MS)
    main = await page.evaluate("({text: Telegram.WebApp.MainButton.text, visible: Telegram.WebApp.MainButton.isVisible})")
    assert main == {"text": "Redeem for 300 points", "visible": True}

    await page.evaluate("__tg.pressMainButton(); __tg.pressMainButton()")  # a double press
    code_box = page.locator("#reward-code")
    await expect(code_box.locator(".code")).to_contain_text("RW", timeout=WAIT_MS)
    code = await code_box.get_attribute("data-code")
    assert code is not None and await code_box.locator("img.qr").get_attribute("data-payload") == code
    await expect(code_box).to_contain_text("200 points left")
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(RewardRedemption)) == 1
    assert await page.evaluate("Telegram.WebApp.MainButton.isVisible") is False
    assert tab.script_errors == []


async def test_a_member_shows_a_coupon_with_its_code_and_qr(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    template = await make_template(uow_factory, clock, name="Ten off", kind="amount_off", value=1000, min_spend_minor=5000)
    coupon = await give_coupon(uow_factory, clock, member, template)
    page = tab.page
    await open_app(page, base_url, clock)
    await open_tab(page, "coupons")
    listed = page.locator(f'#coupons li[data-coupon="{coupon.id}"]')
    await expect(listed.locator(".coupon-worth")).to_have_text("¥10.00 off on ¥50.00 or more", timeout=WAIT_MS)
    await listed.locator("button.show-code").click()
    shown = page.locator("#coupon-code")
    await expect(shown.locator(".code")).to_have_text(f"Code {coupon.code}", timeout=WAIT_MS)
    qr = shown.locator("img.qr")
    assert await qr.get_attribute("data-payload") == coupon.code
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    assert await page.evaluate("Telegram.WebApp.BackButton.isVisible") is True
    await page.evaluate("__tg.pressBackButton()")
    await expect(listed).to_be_visible(timeout=WAIT_MS)
    assert tab.script_errors == []


async def test_the_screens_speak_chinese_to_a_chinese_member(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER, locale="zh_CN")
    await give_points(uow_factory, clock, member, 120)
    page = tab.page
    own: dict[str, int] = {}

    async def weigh(response: Response) -> None:
        if response.url.startswith(base_url + "/app/") and "/app/api/" not in response.url:
            own[response.url] = len(await response.body())

    page.on("response", weigh)
    await open_app(page, base_url, clock, language="zh")
    await expect(page.locator('#tabs button[data-screen="tier"]')).to_contain_text("等级", timeout=WAIT_MS)
    # The first screen, with every screen's script and style: under 100 KB of our own assets.
    assert any(url.endswith("/screens/kit.js") for url in own) and sum(own.values()) < 100_000, own
    await open_tab(page, "tier")
    await expect(page.locator("#tier-now")).to_have_text("您是普通会员", timeout=WAIT_MS)
    await expect(page.locator("#to-next")).to_contain_text("升级到银卡")
    await open_tab(page, "history")
    await expect(page.locator("#balance")).to_have_text("120 积分", timeout=WAIT_MS)
    assert tab.script_errors == []


async def test_the_dark_theme_takes_telegrams_colours(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=MEMBER)
    await make_reward(uow_factory, clock, price=300, name="Latte")
    page = tab.page
    await open_app(page, base_url, clock, scheme="dark")
    await open_tab(page, "rewards")
    card = page.locator("#catalogue li").first
    await expect(card).to_be_visible(timeout=WAIT_MS)
    colours = await card.evaluate("node => [getComputedStyle(node).backgroundColor, getComputedStyle(node).color]")
    assert colours == [_rgb(DARK_THEME["secondary_bg_color"]), _rgb(DARK_THEME["text_color"])]
    assert tab.script_errors == []


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


async def test_stores_give_directions_and_settings_switch_the_language(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=MEMBER)
    hours = {day: [["08:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    await add_stores(uow_factory, [located_store("WT1", 31.2305, 121.474, clock, name="Water Town", hours=hours)])
    page = tab.page
    await open_app(page, base_url, clock)
    await open_tab(page, "stores")
    store = page.locator("#stores li.store").first
    await expect(store.locator(".open")).to_have_text("Open · closes at 22:00", timeout=WAIT_MS)  # 20:00 in Shanghai
    await store.locator("button.directions").click()
    links = await page.evaluate("__tg.called('openLink').map((call) => call.args[0])")
    assert links == ["https://www.google.com/maps/search/?api=1&query=31.2305%2C121.474"]

    await open_tab(page, "settings")
    await page.locator('#topics input[data-topic="offers"]').uncheck()
    await expect(page.locator("#settings-message")).to_have_text("Saved", timeout=WAIT_MS)
    await page.locator('#languages button[data-locale="zh_CN"]').click()
    await expect(page.locator('#tabs button[data-screen="settings"]')).to_contain_text("设置", timeout=WAIT_MS)
    await expect(page.locator('#topics input[data-topic="offers"]')).not_to_be_checked()
    assert tab.script_errors == []


async def test_deleting_the_membership_is_asked_twice(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER)
    await give_points(uow_factory, clock, member, 120)
    page = tab.page
    await open_app(page, base_url, clock)
    await open_tab(page, "settings")
    await page.evaluate("__tg.confirm = false")
    await page.locator("#erase").click()
    await page.wait_for_function("__tg.called('showConfirm').length === 1", timeout=WAIT_MS)
    await expect(page.locator("#erase-losses")).to_have_count(0)  # "no" to the first question: nothing asked of the server

    await page.evaluate("__tg.confirm = true")
    await page.locator("#erase").click()
    await expect(page.locator("#erase-losses")).to_contain_text("You lose 120 points", timeout=WAIT_MS)
    async with uow_factory() as uow:
        assert (await uow.lock_member(member.id)).erased_at is None  # the first "yes" erases nothing
    await page.locator("#erase-confirm").click()
    await expect(page.locator("#erased")).to_be_visible(timeout=WAIT_MS)
    async with uow_factory() as uow:
        assert (await uow.lock_member(member.id)).erased_at is not None
    assert tab.script_errors == []


async def test_a_refused_redemption_is_said_in_the_members_language(
    tab: Tab, base_url: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER, locale="zh_CN")
    await give_points(uow_factory, clock, member, 500)
    reward = await make_reward(uow_factory, clock, price=300, stock=1)
    page = tab.page
    await open_app(page, base_url, clock, language="zh")
    await open_tab(page, "rewards")
    await page.locator(f'#catalogue li[data-reward="{reward.id}"] button').click()
    await expect(page.locator("#reward")).to_be_visible(timeout=WAIT_MS)
    assert await page.evaluate("Telegram.WebApp.MainButton.text") == "用 300 积分兑换"
    async with uow_factory() as uow:  # the last one goes to someone else meanwhile
        await uow.session.execute(update(Reward).where(Reward.id == reward.id).values(stock=0))
        await uow.commit()
    await page.evaluate("__tg.pressMainButton()")
    await expect(page.locator("#reward-message")).to_have_text("抱歉，此礼品刚刚兑完。", timeout=WAIT_MS)
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(RewardRedemption)) == 0
    assert tab.script_errors == []
