"""The console's feedback page over real HTTP: NPS per store and in all, the response rate and
the latest comments (escaped), for owners and marketers, in the reader's language."""

from __future__ import annotations

from db.uow import UnitOfWorkFactory
from loyalty import feedback
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.integration.test_feedback_survey import buy, surveys_of
from tests.utils.api import RunningApi
from tests.utils.console import add_staff, sign_in
from tests.utils.coupons import add_store
from tests.utils.members import chat_member

OWNER, MARKETER = 7301, 7302


async def scored(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, telegram_id: int, score: int, comment: str | None) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=telegram_id)
    await buy(uow_factory, clock, settings, member)
    [survey] = await surveys_of(uow_factory, member)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, settings, member, survey.id, score)
    async with uow_factory() as uow:
        await feedback.answer_comment(uow, clock, member, survey.id, comment)


async def test_owners_and_marketers_see_nps_per_store_and_the_latest_comments(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    store = await add_store(uow_factory, clock, "SH-01")
    await add_staff(uow_factory, clock, OWNER, "owner")
    await add_staff(uow_factory, clock, MARKETER, "marketer")
    # 2 promoters, 1 passive, 1 detractor: NPS 25.
    for telegram_id, score, comment in ((801, 10, "Best <b>latte</b>"), (802, 9, None), (803, 7, None), (804, 2, "Too slow")):
        await scored(uow_factory, clock, settings, telegram_id, score, comment)
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    page = await api.client.get("/console/feedback")
    assert page.status_code == 200, page.text
    assert 'data-nav="feedback" aria-current="page"' in page.text
    assert f'data-store="{store.name}"' in page.text
    assert 'data-nps>25.0<' in page.text
    assert "Best &lt;b&gt;latte&lt;/b&gt;" in page.text and "Too slow" in page.text
    assert page.text.count("data-comment") == 2

    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    chinese = await api.client.get("/console/feedback?days=7")
    assert chinese.status_code == 200 and "全部门店" in chinese.text


async def test_an_empty_period_says_so(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner")
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/feedback?days=999")
    assert page.status_code == 200 and 'id="no-comments"' in page.text


async def test_without_a_session_the_page_asks_to_sign_in(api: RunningApi) -> None:
    page = await api.client.get("/console/feedback")
    assert page.status_code == 303 and page.headers["location"] == "/console/signin"
