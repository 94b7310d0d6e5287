"""The chat's ways into the Mini App, with WEBAPP_URL set: the chat's menu button opens it, and
/card carries an "Open the app" button. The sandbox refuses a Web App that is not https://, as
Telegram does."""

from __future__ import annotations

import pytest

from loyalty.config import Settings
from tests.e2e.conftest import Product
from tests.e2e.test_points import signed_up

WEBAPP_URL = "https://loyalty.example.com/app/"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webapp_url": WEBAPP_URL})


async def test_the_menu_button_and_the_cards_button_open_the_mini_app(product: Product) -> None:
    assert product.sandbox.menu_button() == {"type": "web_app", "text": "📱 Open the app", "web_app": {"url": WEBAPP_URL}}
    _, conv, member = await signed_up(product)

    card = (await conv.say("/card"))[-1]

    assert member.member_number in (card.caption or "")
    markup = card.reply_markup or {}
    assert markup["inline_keyboard"] == [[{"text": "📱 Open the app", "web_app": {"url": WEBAPP_URL}}]]


async def test_the_sandbox_refuses_a_web_app_that_is_not_https(product: Product) -> None:
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.types import MenuButtonWebApp, WebAppInfo

    from bot.app import build_bot

    bot = build_bot(product.sandbox.token, product.sandbox.base_url)
    try:
        with pytest.raises(TelegramBadRequest, match="Only HTTPS"):
            await bot.set_chat_menu_button(
                menu_button=MenuButtonWebApp(text="App", web_app=WebAppInfo(url="http://loyalty.example.com/app/"))
            )
    finally:
        await bot.session.close()
    assert product.sandbox.menu_button()["web_app"] == {"url": WEBAPP_URL}, "the refused one changed nothing"
