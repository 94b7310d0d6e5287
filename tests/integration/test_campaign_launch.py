"""A campaign confirmed in a staff chat (loyalty.campaigns.launch) against the real database:
created and committed before the chat does anything slow, a refused draft writing nothing and
holding no transaction, and the progress message recorded in a commit of its own."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Campaign
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import launch
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidCampaign
from tests.utils.campaigns import MARKETER, add_member, campaign, draft


async def rows(uow_factory: UnitOfWorkFactory) -> tuple[int, int]:
    async with uow_factory() as uow:
        campaigns = await uow.session.scalar(select(func.count()).select_from(Campaign))
        events = await uow.session.scalar(select(func.count()).select_from(AuditEvent))
        return int(campaigns or 0), int(events or 0)


async def test_a_launched_campaign_is_committed_at_once_and_its_progress_message_recorded(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_member(uow_factory, clock)
    async with uow_factory() as uow:
        created = await launch.create(uow, clock, settings, draft(), actor=MARKETER)
        assert not uow.session.in_transaction(), "nothing held while the chat answers"
        # Seen from another transaction while this one is still open: committed.
        assert (await campaign(uow_factory, created.id)).status == "scheduled"
        await launch.follow(uow, created.id, chat_id=5001, message_id=42)
    launched = await campaign(uow_factory, created.id)
    assert (launched.created_by, launched.progress_chat_id, launched.progress_message_id) == ("staff:5001", 5001, 42)


async def test_a_refused_draft_writes_nothing_and_holds_no_transaction(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    before = await rows(uow_factory)
    async with uow_factory() as uow:
        with pytest.raises(InvalidCampaign) as refused:
            await launch.create(uow, clock, settings, draft(coupon_template="NOSUCH"), actor=MARKETER)
        assert not uow.session.in_transaction()
    assert refused.value.details["field"] == "coupon_template"
    assert await rows(uow_factory) == before
