"""/console in the chat, through aiogram and the sandbox: staff get a one-time sign-in link in
their language that opens the web console once; members, guests and former staff get the answer
any unknown command gets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import func, select

from api.main import create_app
from bot.render import texts_for
from db.models import ConsoleLink
from loyalty import staff
from loyalty.config import Settings
from tests.e2e.conftest import Product
from tests.utils.api import running_api
from tests.utils.members import chat_member

EN = texts_for("en")
LINK = re.compile(r"(https?://\S+/console/login\?token=[A-Za-z0-9_-]+)")


async def link_count(product: Product) -> int:
    async with product.uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(ConsoleLink)) or 0)


async def test_staff_get_a_one_time_link_in_their_language_that_signs_them_in_once(
    product: Product, settings: Settings
) -> None:
    owner, owner_chat = product.member("Olive")
    marketer, marketer_chat = product.member("Mei", language="zh-hans")
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=owner.id, role="owner", name="Olive")
        await staff.add(uow, product.clock, telegram_id=marketer.id, role="marketer", name="Mei")

    [answer] = await owner_chat.say("/console")
    assert answer.text is not None and "works once, within 10 minutes" in answer.text
    found = LINK.search(answer.text)
    assert found is not None and found.group(1).startswith(settings.console_url)
    [chinese] = await marketer_chat.say("/console")
    assert chinese.text is not None and "只能使用一次" in chinese.text and LINK.search(chinese.text)

    app = create_app(settings, uow_factory=product.uow_factory, clock=product.clock)
    async with running_api(app) as api:
        login = f"/console/login?{urlsplit(found.group(1)).query}"
        opened = await api.client.get(login)
        assert opened.status_code == 303 and opened.headers["location"] == "/console/"
        assert (await api.client.get("/console/campaigns")).status_code == 200
        assert (await api.client.get(login)).status_code == 410, "a link signs in once"
        chinese_link = LINK.search(chinese.text)
        assert chinese_link is not None
        async with api.client.__class__(base_url=str(api.client.base_url)) as other:
            await other.get(f"/console/login?{urlsplit(chinese_link.group(1)).query}")
            page = await other.get("/console/campaigns")
        assert "营销活动" in page.text, "the console speaks the language the link was asked in"


async def test_members_guests_and_former_staff_get_the_unknown_command_answer(product: Product) -> None:
    member_user, member_chat = product.member("Member")
    await chat_member(product.uow_factory, product.clock, telegram_id=member_user.id)
    _, guest_chat = product.member("Guest")
    former, former_chat = product.member("Former")
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=former.id, role="marketer", name="Former")
    async with product.uow_factory() as uow:
        await staff.remove(uow, product.clock, former.id)

    [answer] = await member_chat.say("/console")
    assert answer.text == EN("fallback/member")
    [answer] = await guest_chat.say("/console")
    assert answer.text == EN("fallback/guest")
    [answer] = await former_chat.say("/console")
    assert answer.text == EN("fallback/guest")
    assert await link_count(product) == 0


async def test_a_cashier_gets_neither_a_console_link_nor_a_broadcast(product: Product) -> None:
    from tests.utils.coupons import add_store

    await add_store(product.uow_factory, product.clock, "S1")
    cashier, chat = product.member("Cashier")
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=cashier.id, role="cashier", name="Cai", store_code="S1")

    for command in ("/console", "/broadcast", "/campaigns"):
        [answer] = await chat.say(command)
        assert answer.text == EN("fallback/guest"), command
    assert await link_count(product) == 0
