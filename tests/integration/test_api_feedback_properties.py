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
from tests.utils.console import add_staff
from tests.utils.coupons import add_store
from tests.utils.feedback import reference_nps
from tests.utils.members import till_member

STORES = ("SH-01", "SH-02", "BJ-01")
STAFF = {5101: "Mia", 5102: "Cai"}
# One survey: its store, its score (None: asked, not answered), whether the question went out,
# and who rang the purchase up (a Telegram id in STAFF, or None: an API till).
Survey = tuple[str, int | None, bool, int | None]
surveys = st.lists(
    st.tuples(
        st.sampled_from(STORES), st.none() | st.integers(0, 10), st.booleans(), st.sampled_from([None, *STAFF])
    ).map(lambda s: (s[0], s[1], s[2] or s[1] is not None, s[3])),  # an answer means it was asked
    max_size=40,
)


async def write(uow_factory: UnitOfWorkFactory, clock: FixedClock, rows: list[Survey]) -> None:
    ids = {code: (await add_store(uow_factory, clock, code)).id for code in STORES}
    for telegram_id, name in STAFF.items():
        await add_staff(uow_factory, clock, telegram_id, "marketer", name)
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        staff_ids = {person.telegram_id: person.id for person in await uow.staff.all()}
        for index, (code, score, asked, rang) in enumerate(rows):
            staff_id = staff_ids[rang] if rang is not None else None
            purchase = Purchase(
                member_id=member.id, order_id=f"P-{index}", channel="store", store_id=ids[code], amount_minor=100,
                currency="CNY", purchased_at=clock.now(), points_earned=0, refunded_minor=0, created_at=clock.now(),
                staff_id=staff_id,
            )
            question = Notification(
                member_id=member.id, kind="feedback_asked", payload={}, status="sent" if asked else "skipped",
                attempts=1, created_at=clock.now(),
            )
            uow.session.add_all([purchase, question])
            await uow.flush()
            uow.session.add(FeedbackSurvey(
                member_id=member.id, purchase_id=purchase.id, store_id=ids[code], staff_id=staff_id,
                notification_id=question.id,
                created_at=clock.now(), score=score, answered_at=clock.now() if score is not None else None,
                points_awarded=0,
            ))
        await uow.commit()


def matches(figure: dict[str, object], rows: list[Survey]) -> None:
    scores = [row[1] for row in rows if row[1] is not None]
    asked = sum(1 for row in rows if row[2])
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
    assert set(by_store) == {row[0] for row in rows}
    for code in by_store:
        matches(by_store[code], [row for row in rows if row[0] == code])
    by_staff = {row["staff_name"]: row for row in body["staff"]}
    assert set(by_staff) == {STAFF[row[3]] for row in rows if row[3] is not None}
    for telegram_id, name in STAFF.items():
        if name in by_staff:
            matches(by_staff[name], [row for row in rows if row[3] == telegram_id])
