"""The Mini App's invite: while the merchant's referral program is on, the member's own link (the
one /invite gives in the chat) and Telegram's share dialog carrying it; nothing while it is off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from db.uow import UnitOfWorkFactory
from loyalty import referrals
from loyalty.clock import FixedClock
from loyalty.config import Settings
from sandbox import SandboxServer
from tests.utils.api import RunningApi
from tests.utils.members import chat_member
from tests.utils.referrals import friend_joins, set_terms, stored_referrals
from tests.utils.webapp import sign_init_data, telegram_user, tma

ANN = 5101


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    return settings.model_copy(update={"bot_token": SecretStr(sandbox.token), "bot_api_url": sandbox.base_url})


def auth(sandbox: SandboxServer, clock: FixedClock, telegram_id: int, language_code: str = "en") -> dict[str, str]:
    return tma(sign_init_data(sandbox.token, telegram_user(telegram_id, language_code=language_code), clock.now()))


async def test_while_the_program_is_off_there_is_nothing_to_share(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=ANN)
    response = await api.client.get("/app/api/invite", headers=auth(sandbox, clock, ANN))
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False, "link": None, "share_url": None}
    async with uow_factory() as uow:
        stored = await uow.members.by_id(member.id)
        assert stored is not None and stored.referral_code is None  # no code made for nothing


async def test_the_member_gets_their_own_link_which_a_friend_joins_by(
    api: RunningApi, sandbox: SandboxServer, uow_factory: UnitOfWorkFactory, clock: FixedClock, api_settings: Settings
) -> None:
    ann = await chat_member(uow_factory, clock, telegram_id=ANN, locale="zh_CN")
    await set_terms(uow_factory, clock)

    response = await api.client.get("/app/api/invite", headers=auth(sandbox, clock, ANN))
    again = await api.client.get("/app/api/invite", headers=auth(sandbox, clock, ANN))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert again.json()["link"] == body["link"]  # one code per member, kept
    async with uow_factory() as uow:
        stored = await uow.members.by_id(ann.id)
        assert stored is not None and stored.referral_code is not None
    assert body["link"] == referrals.invite_link(sandbox.bot.username, stored.referral_code)
    shared = urlsplit(body["share_url"])
    assert (shared.scheme, shared.netloc, shared.path) == ("https", "t.me", "/share/url")
    query = parse_qs(shared.query)
    assert query["url"] == [body["link"]]
    assert "每次消费都能积分" in query["text"][0]  # in Ann's language, naming the program
    assert api_settings.program_name in query["text"][0]

    # The link is the real thing: a friend who starts the bot with it is Ann's referral.
    friend, _ = await friend_joins(uow_factory, clock, api_settings, urlsplit(body["link"]).query.removeprefix("start="))
    [referral] = await stored_referrals(uow_factory)
    assert (referral.referrer_id, referral.friend_id) == (ann.id, friend.id)


async def test_someone_not_yet_a_member_is_refused(api: RunningApi, sandbox: SandboxServer, clock: FixedClock) -> None:
    response = await api.client.get("/app/api/invite", headers=auth(sandbox, clock, 5199))
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
