"""The Mini App's door: only init data Telegram signed for this bot, recently, opens it, and it acts
for the user that init data names; `/app/api/me` tells the page who that is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from db.uow import UnitOfWorkFactory
from loyalty import staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.api import RunningApi
from tests.utils.members import chat_member
from tests.utils.webapp import sign_init_data, telegram_user, tma

MEMBER_ID = 4242
FOREIGN_TOKEN = "999999:forged-token-of-another-bot"


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    return settings.model_copy(update={"bot_token": SecretStr(sandbox.token), "bot_api_url": sandbox.base_url})


def signed(sandbox: SandboxServer, clock: FixedClock, telegram_id: int = MEMBER_ID, **user: str) -> str:
    return sign_init_data(sandbox.token, telegram_user(telegram_id, **user), clock.now())


async def test_a_member_gets_their_number_tier_balance_and_words(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=MEMBER_ID, locale="zh_CN")

    response = await api.client.get("/app/api/me", headers=tma(signed(sandbox, clock, first_name="Ada")))

    assert response.status_code == 200, response.text
    me = response.json()
    assert me["locale"] == "zh_CN"  # the member's saved language, over the client's "en"
    assert me["member"]["number"] == member.member_number
    assert me["member"]["first_name"] == "Ada"
    assert me["member"]["balance"] == 0
    assert me["member"]["tier_name"]  # the default tier's name in Chinese
    assert me["words"]["card.tab"] == "会员卡"
    assert me["join"] is None and me["staff"] is None


async def test_someone_who_is_not_a_member_gets_the_link_to_join_in_the_chat(
    api: RunningApi, sandbox: SandboxServer, clock: FixedClock
) -> None:
    response = await api.client.get("/app/api/me", headers=tma(signed(sandbox, clock, 777, language_code="zh-hans")))

    assert response.status_code == 200, response.text
    me = response.json()
    assert me["member"] is None
    assert me["locale"] == "zh_CN"  # Telegram's language_code, mapped as the bot maps it
    assert me["join"]["bot_url"] == f"https://t.me/{sandbox.bot.username}?start=miniapp"


async def test_a_staff_member_sees_their_role_and_store(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=555, role="owner", name="Olga")

    me = (await api.client.get("/app/api/me", headers=tma(signed(sandbox, clock, 555)))).json()

    assert me["staff"] == {"role": "owner", "store": None}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_signed_in"),
        ({"Authorization": "Bearer lk_whatever"}, "not_signed_in"),
        ({"Authorization": "tma"}, "not_signed_in"),
        ({"Authorization": "tma not-init-data"}, "not_signed_in"),
    ],
)
async def test_missing_or_malformed_init_data_is_a_401(
    api: RunningApi, headers: dict[str, str], code: str
) -> None:
    response = await api.client.get("/app/api/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["WWW-Authenticate"] == "tma"


async def test_init_data_signed_by_another_bot_is_a_401(api: RunningApi, clock: FixedClock) -> None:
    init_data = sign_init_data(FOREIGN_TOKEN, telegram_user(MEMBER_ID), clock.now())

    response = await api.client.get("/app/api/me", headers=tma(init_data))

    assert response.status_code == 401 and response.json()["code"] == "not_signed_in"


async def test_init_data_naming_another_user_than_was_signed_is_a_401(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=MEMBER_ID)
    mine = signed(sandbox, clock, 111)
    tampered = mine.replace("%22id%22%3A111", f"%22id%22%3A{MEMBER_ID}")
    assert tampered != mine

    response = await api.client.get("/app/api/me", headers=tma(tampered))

    assert response.status_code == 401
    assert str(MEMBER_ID) not in response.text


async def test_old_init_data_is_refused_and_recent_is_not(
    api: RunningApi, api_settings: Settings, sandbox: SandboxServer, clock: FixedClock
) -> None:
    max_age = api_settings.webapp_init_data_max_age
    old = sign_init_data(sandbox.token, telegram_user(MEMBER_ID), clock.now() - timedelta(seconds=max_age + 1))
    recent = sign_init_data(sandbox.token, telegram_user(MEMBER_ID), clock.now() - timedelta(seconds=max_age - 1))
    future = sign_init_data(sandbox.token, telegram_user(MEMBER_ID), clock.now() + timedelta(minutes=10))

    expired = await api.client.get("/app/api/me", headers=tma(old))
    assert expired.status_code == 401 and expired.json()["code"] == "init_data_expired"
    assert (await api.client.get("/app/api/me", headers=tma(recent))).status_code == 200
    assert (await api.client.get("/app/api/me", headers=tma(future))).status_code == 401


async def test_without_a_bot_token_the_mini_app_is_unavailable(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    from api.main import create_app
    from tests.utils.api import running_api

    async with running_api(create_app(settings, uow_factory=uow_factory, clock=clock)) as api:
        response = await api.client.get("/app/api/me", headers=tma("user=x&hash=y"))

    assert response.status_code == 503
    assert response.json()["code"] == "webapp_unavailable"


async def test_the_page_and_its_assets_are_served_with_telegram_the_only_foreign_script(api: RunningApi) -> None:
    page = await api.client.get("/app/")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' https://telegram.org" in policy
    assert "https://telegram.org/js/telegram-web-app.js" in page.text
    for asset in ("static/app.js", "static/app.css", "static/screens/card.js", "static/screens/till.js"):
        assert asset in page.text
        assert (await api.client.get(f"/app/{asset}")).status_code == 200


async def test_the_pages_words_come_without_signing_in_for_its_refusals(api: RunningApi) -> None:
    chinese = (await api.client.get("/app/api/words", params={"language_code": "zh-hans"})).json()
    english = (await api.client.get("/app/api/words")).json()

    assert chinese["locale"] == "zh_CN" and chinese["words"]["app.not_signed_in"].startswith("请在 Telegram")
    assert english["locale"] == "en" and set(english["words"]) == set(chinese["words"])
