"""Idempotent writes: the same request sent twice (or twenty times at once) posts once.

The first request's answer is stored in the transaction that did the work; a repeat with the
same key gets that answer back, and the same key with a different request is refused. Callers
check for a replay only after `lock_member`, so concurrent repeats queue behind the first and
then find its answer.

An answer says what the write did (`Outcome`), not how a protocol spells it: the API maps an
outcome to its status code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from db.models import IdempotencyRecord
from db.uow import UnitOfWork
from loyalty.errors import IdempotencyConflict


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # who is asking, e.g. "apikey:7": keys of different callers never collide
    key: str
    fingerprint: str  # of the request body, to tell a true repeat from a reused key


class Outcome(StrEnum):
    created = "created"  # the write made something new: a purchase, a refund, a redemption, a campaign
    done = "done"  # it acted on what was there: an erasure, a bonus paid (or not) once


# How an outcome is kept in idempotency_records.status_code: the numbers answers were stored
# with before outcomes had names, so an answer kept then replays as it did.
_STORED = {Outcome.created: 201, Outcome.done: 200}
_READ = {number: outcome for outcome, number in _STORED.items()}


@dataclass(frozen=True)
class StoredAnswer:
    outcome: Outcome
    body: dict[str, Any]


def fingerprint(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def previous_answer(uow: UnitOfWork, key: IdempotencyKey) -> StoredAnswer | None:
    record = await uow.idempotency.get(key.scope, key.key)
    if record is None:
        return None
    if record.request_hash != key.fingerprint:
        raise IdempotencyConflict(
            "this idempotency key was already used for a different request", field="Idempotency-Key"
        )
    return StoredAnswer(_READ[record.status_code], record.response)


def remember(
    uow: UnitOfWork, key: IdempotencyKey, answer: StoredAnswer, *, at: datetime, member_id: int | None
) -> None:
    """`member_id`: the member the request was about, if any; erasing them deletes the answer
    (loyalty/erasure.py), whose fingerprint hashes a body that may hold their phone."""
    uow.idempotency.add(
        IdempotencyRecord(
            scope=key.scope,
            key=key.key,
            request_hash=key.fingerprint,
            status_code=_STORED[answer.outcome],
            response=answer.body,
            created_at=at,
            member_id=member_id,
        )
    )
