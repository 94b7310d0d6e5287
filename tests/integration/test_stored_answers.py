"""Answers to idempotent writes say what the write did, and are kept in the column and with the
numbers they always were: an answer stored before outcomes had names replays as it did."""

from __future__ import annotations

from sqlalchemy import select

from db.models import IdempotencyRecord
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember


async def test_an_outcome_is_kept_as_before_and_read_back(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    created = IdempotencyKey(scope="apikey:1", key="order:1", fingerprint="a")
    done = IdempotencyKey(scope="erasure", key="7", fingerprint="erase")
    async with uow_factory() as uow:
        remember(uow, created, StoredAnswer(Outcome.created, {"points": 10}), at=clock.now(), member_id=None)
        remember(uow, done, StoredAnswer(Outcome.done, {"member_number": "x"}), at=clock.now(), member_id=None)
        await uow.commit()
    async with uow_factory() as uow:
        stored = {row.scope: row.status_code for row in (await uow.session.scalars(select(IdempotencyRecord))).all()}
        assert stored == {"apikey:1": 201, "erasure": 200}, "the numbers answers were always stored with"
        assert await previous_answer(uow, created) == StoredAnswer(Outcome.created, {"points": 10})
        assert await previous_answer(uow, done) == StoredAnswer(Outcome.done, {"member_number": "x"})


async def test_answers_stored_before_read_as_their_outcome(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async with uow_factory() as uow:
        for key, number in (("then-created", 201), ("then-done", 200)):
            uow.session.add(
                IdempotencyRecord(
                    scope="apikey:1", key=key, request_hash="h", status_code=number, response={"id": 1},
                    created_at=clock.now(), member_id=None,
                )
            )
        await uow.commit()
    async with uow_factory() as uow:
        for key, outcome in (("then-created", Outcome.created), ("then-done", Outcome.done)):
            answer = await previous_answer(uow, IdempotencyKey(scope="apikey:1", key=key, fingerprint="h"))
            assert answer == StoredAnswer(outcome, {"id": 1})
