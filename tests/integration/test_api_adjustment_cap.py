"""Hand adjustments of points have a per-key daily cap (ADJUSTMENT_DAILY_CAP): points adjusted
by one key in one day of the program's time zone, gains and losses added up."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from db.models import LedgerEntry, Member
from db.uow import UnitOfWorkFactory
from loyalty.apikeys import Scope
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, bearer, new_api_key
from tests.utils.members import till_member

CAP = 1000
ADMIN = frozenset({Scope.ADMIN})


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"adjustment_daily_cap": CAP})


async def adjustments(uow_factory: UnitOfWorkFactory) -> list[tuple[str, int]]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            select(LedgerEntry.actor, LedgerEntry.points).where(LedgerEntry.kind == "adjust").order_by(LedgerEntry.id)
        )
        return [(actor, points) for actor, points in rows]


async def balance(uow_factory: UnitOfWorkFactory, member: Member) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(Member.points_balance).where(Member.id == member.id)) or 0)


def adjust(api: RunningApi, key: dict[str, str], member: Member, points: int, idempotency: str):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/api/v1/members/{member.member_number}/adjustments",
        json={"points": points, "reason": "goodwill"},
        headers={**key, "Idempotency-Key": idempotency},
    )


async def test_adjustments_beyond_the_daily_cap_are_refused_and_write_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    key = bearer(await new_api_key(uow_factory, clock, "owner", scopes=ADMIN))
    assert (await adjust(api, key, member, 600, "a")).status_code == 201
    assert (await adjust(api, key, member, -400, "b")).status_code == 201  # 1,000: at the cap
    refused = await adjust(api, key, member, 1, "c")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "adjustment_cap_exceeded" and body["reason"] == "daily_cap"
    assert "at most 1,000 points a day (Asia/Shanghai); 1,000 adjusted today, 1 more asked" in body["detail"]
    assert await balance(uow_factory, member) == 200
    assert await adjustments(uow_factory) == [("apikey:owner", 600), ("apikey:owner", -400)]
    # A retry of an adjustment that went through still gets its answer.
    replay = await adjust(api, key, member, 600, "a")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    # Another key has a cap of its own.
    other = bearer(await new_api_key(uow_factory, clock, "owner-2", scopes=ADMIN))
    assert (await adjust(api, other, member, 1000, "d")).status_code == 201


async def test_the_cap_starts_again_at_midnight_in_the_programs_time_zone(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    key = bearer(await new_api_key(uow_factory, clock, "owner", scopes=ADMIN))
    local = clock.now().astimezone(settings.zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=settings.zone)
    clock.set(midnight - timedelta(seconds=1))
    assert (await adjust(api, key, member, CAP, "late")).status_code == 201
    assert (await adjust(api, key, member, 1, "later")).status_code == 409
    clock.set(midnight)
    assert (await adjust(api, key, member, CAP, "next-day")).status_code == 201


async def test_parallel_adjustments_by_one_key_never_pass_the_cap(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    members = [await till_member(uow_factory, clock) for _ in range(4)]
    key = bearer(await new_api_key(uow_factory, clock, "owner", scopes=ADMIN))
    responses = await asyncio.gather(
        *(adjust(api, key, members[n % 4], 300, f"race-{n}") for n in range(12))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [409] * 9, [r.text for r in responses if r.status_code not in (201, 409)]
    written = await adjustments(uow_factory)
    assert len(written) == 3 and sum(abs(points) for _, points in written) == 900
    async with uow_factory() as uow:
        total = await uow.session.scalar(select(func.sum(Member.points_balance)))
    assert total == 900
