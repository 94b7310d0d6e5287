"""Creating a campaign once per idempotency key, against the real database: a repeat gets the
first campaign, a request racing the first with the same key is rolled back and gets it too, a
key reused for another draft is refused writing nothing; and pausing, resuming or cancelling
ends its transaction, refused or not, before the caller answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.util import await_only

from db.models import AuditEvent, Campaign, IdempotencyRecord
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.service import CampaignDraft, Created
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import CampaignNotFound, CampaignStateConflict, IdempotencyConflict, StaffOnly
from loyalty.idempotency import IdempotencyKey, fingerprint
from tests.utils.campaigns import MARKETER, OWNER, draft, make_campaign


def key_for(wanted: CampaignDraft, key: str = "member-day") -> IdempotencyKey:
    return IdempotencyKey(scope="apikey:1:campaigns", key=key, fingerprint=fingerprint({"name": wanted.name}))


async def create_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, wanted: CampaignDraft,
    key: IdempotencyKey | None,
) -> Created:
    async with uow_factory() as uow:
        return await service.create_campaign_once(uow, clock, settings, wanted, actor=OWNER, key=key)


async def rows(uow_factory: UnitOfWorkFactory, model: Any) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_repeated_key_gets_the_first_campaign_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    wanted = draft()
    first = await create_once(uow_factory, clock, settings, wanted, key_for(wanted))
    assert first.replayed is False
    assert await rows(uow_factory, Campaign) == 1, "committed"
    audit = await rows(uow_factory, AuditEvent)

    again = await create_once(uow_factory, clock, settings, wanted, key_for(wanted))
    assert again == Created(first.campaign_id, replayed=True)
    assert (await rows(uow_factory, Campaign), await rows(uow_factory, AuditEvent)) == (1, audit)

    # Without a key, the same draft is another campaign.
    other = await create_once(uow_factory, clock, settings, wanted, None)
    assert other.replayed is False and other.campaign_id != first.campaign_id
    assert await rows(uow_factory, Campaign) == 2


async def test_a_key_reused_for_another_draft_is_refused_writing_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    wanted = draft()
    await create_once(uow_factory, clock, settings, wanted, key_for(wanted))
    other = draft(name="Another day")
    reused = IdempotencyKey(scope="apikey:1:campaigns", key="member-day", fingerprint=fingerprint({"name": "x"}))
    with pytest.raises(IdempotencyConflict):
        await create_once(uow_factory, clock, settings, other, reused)
    assert await rows(uow_factory, Campaign) == 1


async def test_an_answer_stored_with_the_whole_campaign_replays_its_id(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """Answers were once stored as the API rendered them: the id is still read from them."""
    campaign_id = await make_campaign(uow_factory, clock, settings)
    wanted = draft()
    key = key_for(wanted)
    async with uow_factory() as uow:
        uow.session.add(
            IdempotencyRecord(
                scope=key.scope, key=key.key, request_hash=key.fingerprint, status_code=201,
                response={"id": campaign_id, "name": "Member day", "status": "scheduled", "progress": {}},
                created_at=clock.now(), member_id=None,
            )
        )
        await uow.commit()
    assert await create_once(uow_factory, clock, settings, wanted, key) == Created(campaign_id, replayed=True)
    assert await rows(uow_factory, Campaign) == 1


async def test_concurrent_creations_with_one_key_make_one_campaign(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    wanted = draft()
    for round_ in range(3):
        key = key_for(wanted, f"race-{round_}")
        results = await asyncio.gather(*(create_once(uow_factory, clock, settings, wanted, key) for _ in range(2)))
        assert len({result.campaign_id for result in results}) == 1
        assert sorted(result.replayed for result in results) == [False, True]
        assert await rows(uow_factory, Campaign) == round_ + 1


async def test_a_request_that_loses_the_race_is_rolled_back_and_replays_the_winner(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """The winner commits after the loser looked for the key's answer and before it commits:
    the loser's campaign and answer are rolled back and it answers with the winner's campaign."""
    if uow_factory.session_factory.kw["bind"].dialect.name == "sqlite":
        pytest.skip("on SQLite a transaction holds the write lock from its start: the lookup and the commit "
                    "of one request cannot have another's commit between them")
    wanted = draft()
    key = key_for(wanted)
    winner: list[Created] = []

    async with uow_factory() as loser:
        def the_winner_commits_first(_session: Any) -> None:
            # Inside the loser's commit, before its rows are flushed: another request with the
            # same key, over a connection of its own, runs to its end.
            winner.append(await_only(create_once(uow_factory, clock, settings, wanted, key)))

        event.listen(loser.session.sync_session, "before_commit", the_winner_commits_first, once=True)
        lost = await service.create_campaign_once(loser, clock, settings, wanted, actor=OWNER, key=key)

    assert winner == [Created(winner[0].campaign_id, replayed=False)]
    assert lost == Created(winner[0].campaign_id, replayed=True)
    async with uow_factory() as uow:
        assert (await uow.session.scalars(select(Campaign.id))).all() == [winner[0].campaign_id]
        audit = (await uow.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "campaign.create"))).all()
    assert len(audit) == 1, "the loser's audit entry went with its campaign"


# --- state changes end their transaction ------------------------------------------------------


async def test_a_state_change_ends_its_transaction_refused_or_not(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """The bot answers Telegram right after a change: no transaction (nor lock) waits on it."""
    mine = await make_campaign(uow_factory, clock, settings, actor=MARKETER)
    theirs = await make_campaign(uow_factory, clock, settings)
    async with uow_factory() as uow:
        await uow.session.execute(update(Campaign).where(Campaign.id == theirs).values(status="done"))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await service.pause(uow, clock, mine, actor=MARKETER)).status == "paused"
        assert not uow.session.in_transaction()
        for refused, change, campaign_id, actor in [
            (StaffOnly, service.resume, theirs, MARKETER),
            (CampaignStateConflict, service.cancel, theirs, OWNER),
            (CampaignStateConflict, service.pause, mine, MARKETER),
            (CampaignNotFound, service.resume, 999_999, OWNER),
            (CampaignNotFound, service.cancel, 999_999, OWNER),
        ]:
            with pytest.raises(refused):
                await change(uow, clock, campaign_id, actor=actor)
            assert not uow.session.in_transaction(), (change.__name__, refused.__name__)
    async with uow_factory() as uow:
        assert (await service.get_campaign(uow, mine)).status == "paused"
        assert (await service.get_campaign(uow, theirs)).status == "done"
