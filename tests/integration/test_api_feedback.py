"""GET /api/v1/feedback/nps and /feedback/comments (marketing), over real HTTP: the figures
against a plain computation from the scores, per store and in all, and the refusals."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from sqlalchemy import update

from db.models import Notification
from db.uow import UnitOfWorkFactory
from loyalty import feedback
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.integration.test_feedback_survey import buy, surveys_of
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.coupons import add_store
from tests.utils.feedback import reference_nps
from tests.utils.members import chat_member

SCORES = {"SH-01": [random.Random(7).randint(0, 10) for _ in range(14)], "SH-02": [10, 9, 3, 8]}


@pytest.fixture
async def marketing(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, str]:
    return bearer(await new_api_key(uow_factory, clock, "console", scopes=frozenset({Scope.MARKETING})))


async def answered(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> None:
    """Members who bought at each store, were asked, and answered SCORES; two more asked only."""
    telegram_ids = iter(range(5000, 6000))
    for code, scores in SCORES.items():
        await add_store(uow_factory, clock, code)
        for score in [*scores, None] if code == "SH-01" else scores:
            member = await chat_member(uow_factory, clock, telegram_id=next(telegram_ids))
            await buy(uow_factory, clock, settings, member, store=code)
            [survey] = await surveys_of(uow_factory, member)
            async with uow_factory() as uow:
                await uow.session.execute(
                    update(Notification).where(Notification.id == survey.notification_id).values(status="sent")
                )
                await uow.commit()
            if score is not None:
                async with uow_factory() as uow:
                    await feedback.answer_score(uow, clock, settings, member, survey.id, score)
                async with uow_factory() as uow:
                    await feedback.answer_comment(uow, clock, member, survey.id, f"{code} gave {score}")
    # Owed but never sent (held, or dropped): not "asked".
    await buy(uow_factory, clock, settings, await chat_member(uow_factory, clock, telegram_id=6001), store="SH-02")


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, abs_tol=0.006)


async def test_nps_per_store_and_in_all_equal_the_reference(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, marketing: dict[str, str]
) -> None:
    await answered(uow_factory, clock, settings)
    response = await api.client.get("/api/v1/feedback/nps", params={"days": 7}, headers=marketing)
    assert response.status_code == 200, response.text
    body = response.json()
    every = [*SCORES["SH-01"], *SCORES["SH-02"]]
    figures = {"all": body["overall"]} | {row["store"]: row for row in body["stores"]}
    for key, scores, asked in (("all", every, len(every) + 1), ("SH-01", SCORES["SH-01"], 15), ("SH-02", SCORES["SH-02"], 4)):
        nps, low, high = reference_nps(scores)
        figure = figures[key]
        assert close(figure["nps"], nps) and close(figure["low"], low) and close(figure["high"], high), (key, figure)
        assert figure["responses"] == len(scores) and figure["asked"] == asked
        assert close(figure["response_rate"], len(scores) / asked)
    one = await api.client.get("/api/v1/feedback/nps", params={"days": 7, "store": "SH-02"}, headers=marketing)
    assert one.status_code == 200 and [row["store"] for row in one.json()["stores"]] == ["SH-02"]
    assert close(one.json()["overall"]["nps"], reference_nps(SCORES["SH-02"])[0])


async def test_comments_newest_first_a_page_at_a_time(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, marketing: dict[str, str]
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    for index, score in enumerate((2, 9, 7)):
        member = await chat_member(uow_factory, clock, telegram_id=7000 + index)
        await buy(uow_factory, clock, settings, member)
        [survey] = await surveys_of(uow_factory, member)
        clock.advance(timedelta(minutes=1))
        async with uow_factory() as uow:
            await feedback.answer_score(uow, clock, settings, member, survey.id, score)
        async with uow_factory() as uow:
            await feedback.answer_comment(uow, clock, member, survey.id, f"<b>comment {score}</b>")
    first = await api.client.get(
        "/api/v1/feedback/comments", params={"days": 1, "page_size": 2}, headers=marketing
    )
    assert first.status_code == 200, first.text
    assert [(row["score"], row["comment"], row["store"]) for row in first.json()["data"]] == [
        (7, "<b>comment 7</b>", "SH-01"), (9, "<b>comment 9</b>", "SH-01")
    ]
    second = await api.client.get(
        "/api/v1/feedback/comments", params={"days": 1, "page_size": 2, "page": 2}, headers=marketing
    )
    assert [row["score"] for row in second.json()["data"]] == [2]


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/feedback/nps", {"days": 7, "store": "NOPE"}, 404, None),
        ("/api/v1/feedback/nps", {"start": "2026-11-20"}, 422, "end"),
        ("/api/v1/feedback/nps", {"start": "2026-11-20", "end": "2026-11-10"}, 422, "end"),
        ("/api/v1/feedback/nps", {"days": 7, "start": "2026-11-20", "end": "2026-11-21"}, 422, "days"),
        ("/api/v1/feedback/nps", {"days": 0}, 422, "days"),
        ("/api/v1/feedback/nps", {"days": 7, "store": "a b"}, 422, "store"),
        ("/api/v1/feedback/comments", {"days": 7, "page_size": 0}, 422, "page_size"),
        ("/api/v1/feedback/comments", {"days": 7, "page": 0}, 422, "page"),
        ("/api/v1/feedback/comments", {}, 422, "start"),
    ],
)
async def test_bad_requests_are_refused_with_what_is_wrong(
    api: RunningApi, marketing: dict[str, str], path: str, params: dict[str, object], status: int, field: str | None
) -> None:
    response = await api.client.get(path, params=params, headers=marketing)
    assert response.status_code == status, response.text
    if field is not None:
        assert any(field in map(str, error["loc"]) for error in response.json()["detail"]), response.text


async def test_a_till_key_may_not_read_feedback(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    till = bearer(await new_api_key(uow_factory, clock, "till-9", scopes=frozenset({Scope.TILL})))
    for path in ("/api/v1/feedback/nps", "/api/v1/feedback/comments"):
        response = await api.client.get(path, params={"days": 7}, headers=till)
        assert response.status_code == 403, response.text
