"""GET /api/v1/feedback/nps against a plain computation, for random answers at random stores
(hypothesis): NPS, its interval, the counts and the response rate, per store and in all."""

from __future__ import annotations

import math

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import FeedbackSurvey, Notification, Purchase
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from tests.conftest import START, reset_tables
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.coupons import add_store
from tests.utils.feedback import reference_nps
from tests.utils.members import till_member

STORES = ("SH-01", "SH-02", "BJ-01")
# One survey: its store, its score (None: asked, not answered) and whether the question went out.
Survey = tuple[str, int | None, bool]
surveys = st.lists(
    st.tuples(st.sampled_from(STORES), st.none() | st.integers(0, 10), st.booleans()).map(
        lambda s: (s[0], s[1], s[2] or s[1] is not None)  # an answer means it was asked
    ),
    max_size=40,
)


async def write(uow_factory: UnitOfWorkFactory, clock: FixedClock, rows: list[Survey]) -> None:
    ids = {code: (await add_store(uow_factory, clock, code)).id for code in STORES}
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        for index, (code, score, asked) in enumerate(rows):
            purchase = Purchase(
                member_id=member.id, order_id=f"P-{index}", channel="store", store_id=ids[code], amount_minor=100,
                currency="CNY", purchased_at=clock.now(), points_earned=0, refunded_minor=0, created_at=clock.now(),
            )
            question = Notification(
                member_id=member.id, kind="feedback_asked", payload={}, status="sent" if asked else "skipped",
                attempts=1, created_at=clock.now(),
            )
            uow.session.add_all([purchase, question])
            await uow.flush()
            uow.session.add(FeedbackSurvey(
                member_id=member.id, purchase_id=purchase.id, store_id=ids[code], notification_id=question.id,
                created_at=clock.now(), score=score, answered_at=clock.now() if score is not None else None,
                points_awarded=0,
            ))
        await uow.commit()


def matches(figure: dict[str, object], rows: list[Survey]) -> None:
    scores = [score for _, score, _ in rows if score is not None]
    asked = sum(1 for _, _, was_asked in rows if was_asked)
    assert figure["responses"] == len(scores) and figure["asked"] == asked
    assert figure["response_rate"] == (len(scores) / asked if asked else None)
    if not scores:
        assert figure["nps"] is None and figure["low"] is None and figure["high"] is None
        return
    for got, expected in zip((figure["nps"], figure["low"], figure["high"]), reference_nps(scores), strict=True):
        assert isinstance(got, float) and math.isclose(got, expected, abs_tol=0.006), (got, expected)


@hypothesis.settings(
    max_examples=15, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=surveys)
async def test_the_apis_nps_equals_the_reference(
    engine: AsyncEngine, seed_rows: dict[str, list[dict[str, object]]], api: RunningApi,
    uow_factory: UnitOfWorkFactory, rows: list[Survey],
) -> None:
    await reset_tables(engine, seed_rows)
    clock = FixedClock(START)
    await write(uow_factory, clock, rows)
    key = bearer(await new_api_key(uow_factory, clock, "console", scopes=frozenset({Scope.MARKETING})))
    response = await api.client.get("/api/v1/feedback/nps", params={"days": 1}, headers=key)
    assert response.status_code == 200, response.text
    body = response.json()
    matches(body["overall"], rows)
    by_store = {row["store"]: row for row in body["stores"]}
    assert set(by_store) == {code for code, _, _ in rows}
    for code in by_store:
        matches(by_store[code], [row for row in rows if row[0] == code])
