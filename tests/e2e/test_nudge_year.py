"""A year of nudges for a population, with the injected clock: the scheduler's sweeps and the
bot's sender run as they would (sweeps through the day, the outbox drained through the local
Bot API sandbox), points are earned and expire, birthdays and anniversaries come round.

At the end: every nudge owed was owed once and sent at most once, every sent one reached its
member's chat exactly once, none went out in quiet hours, the weekly cap held in every 7-day
window, nothing went out after its moment, muted topics and a blocked member got nothing."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from db.models import Member, MemberMute, Notification
from loyalty import ledger
from loyalty.config import Settings
from loyalty.nudges.kinds import SCHEDULED
from loyalty.nudges.sweeps import run_sweeps
from loyalty.quiet_hours import is_quiet, member_zone
from tests.e2e.conftest import Product
from tests.utils.members import chat_member
from tests.utils.rewards import give_points

POPULATION = 8
DAYS = 368  # the members' first anniversaries come round at the end
# Local times the scheduler happens to run at: one in quiet hours, so holding is exercised.
SWEEP_HOURS = (time(7, 0), time(12, 0), time(23, 0))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A tight weekly cap, so a year of nudges meets it often.
    return settings.model_copy(update={"nudges_per_week": 2})


async def test_a_year_of_nudges_is_sent_once_outside_quiet_hours_and_under_the_cap(
    product: Product, settings: Settings
) -> None:
    rng = random.Random(20261124)
    clock, factory = product.clock, product.uow_factory
    zone = settings.zone
    members: list[Member] = []
    users = {}
    for n in range(POPULATION):
        user, conv = product.member(f"M{n}")
        member = await chat_member(factory, clock, telegram_id=user.id)
        members.append(member)
        users[member.id] = conv
    async with factory() as uow:
        for member in members:
            birthday = date(1990, 1, 1) + timedelta(days=rng.randrange(365))
            uow.members.set_birthday(await uow.lock_member(member.id), birthday)
        # One member mutes points reminders, one blocked the bot.
        uow.session.add(MemberMute(member_id=members[0].id, topic="points", created_at=clock.now()))
        await uow.session.execute(
            update(Member).where(Member.id == members[1].id).values(chat_blocked_at=clock.now())
        )
        await uow.commit()

    start = clock.now()
    for day in range(DAYS):
        today = (start + timedelta(days=day)).astimezone(zone).date()
        if day % 9 == 0:  # points earned now and then, expiring a few months on
            for member in members:
                if rng.random() < 0.6:
                    clock.set(datetime.combine(today, time(10, 0), tzinfo=zone))
                    await give_points(factory, clock, member, rng.randrange(100, 3000),
                                      expires_in=timedelta(days=rng.randrange(40, 150)))
        for at in SWEEP_HOURS:
            clock.set(datetime.combine(today, at, tzinfo=zone))
            await ledger.expire_due(factory, clock)
            await run_sweeps(factory, clock, settings)
            while await product.notifier.drain_once():
                pass

    async with factory() as uow:
        rows = list(await uow.session.scalars(select(Notification).order_by(Notification.id)))
        muted, blocked = members[0].id, members[1].id

    nudges = [row for row in rows if row.kind in SCHEDULED]
    kinds = Counter(row.kind for row in nudges)
    assert kinds["points_expiring"] > 10 and kinds["birthday"] >= POPULATION - 1, f"a year owes plenty: {kinds}"
    assert len({row.dedupe_key for row in nudges}) == len(nudges), "each nudge owed once"

    sent = [row for row in nudges if row.status == "sent"]
    assert sent, "nudges went out"
    assert not [row for row in nudges if row.status in ("pending", "sending") and row.stale_after
                and row.stale_after < clock.now()], "nothing stale left waiting"
    by_member: dict[int, list[datetime]] = defaultdict(list)
    for row in sent:
        assert row.sent_at is not None
        member = next(m for m in members if m.id == row.member_id)
        assert not is_quiet(row.sent_at, member_zone(member, settings), settings.quiet_hours_start,
                            settings.quiet_hours_end), f"{row.dedupe_key} sent in quiet hours"
        assert row.stale_after is None or row.sent_at <= row.stale_after, f"{row.dedupe_key} sent late"
        assert row.member_id != blocked
        assert not (row.member_id == muted and row.kind == "points_expiring")
        by_member[row.member_id].append(row.sent_at)
    for member_id, times in by_member.items():
        times.sort()
        for i, first in enumerate(times):
            in_week = [t for t in times[i:] if t < first + timedelta(days=7)]
            assert len(in_week) <= settings.nudges_per_week, f"member {member_id}: {len(in_week)} in a week"

    # What the member saw: one chat message per nudge marked sent, none for anything else.
    for member in members:
        received = [m for m in users[member.id].messages if m.from_bot]
        assert len(received) == len(by_member.get(member.id, [])), f"member {member.id}"
    # The rules were met, not dodged: some nudges were held (quiet hours, the cap) and sent
    # later; some held past their moment were dropped, not sent late.
    assert any(row.deliver_after is not None for row in sent), "some were held, then sent"
    dropped = [row for row in nudges if row.status == "skipped" and (row.last_error or "").startswith("stale")]
    assert dropped, "some held past their moment were dropped"
    assert kinds["anniversary"] >= POPULATION - 1, "first anniversaries, the blocked member's excepted"
