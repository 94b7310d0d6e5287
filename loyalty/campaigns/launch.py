"""Launching a campaign drafted in a staff chat (/broadcast), one transaction per step.

Creating it commits at once, before anything slow, so the chat can drop its draft and a second
tap on Confirm finds nothing to confirm. A campaign that goes now is then started
(`service.start`, which chooses its recipients and commits itself). Last, the chat's progress
message is recorded on the campaign once it has been sent, so the watcher keeps it up to date;
no transaction stays open while that message goes out.
"""

from __future__ import annotations

from db.models import Campaign
from db.uow import UnitOfWork
from loyalty.campaigns import service
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidCampaign


async def create(
    uow: UnitOfWork, clock: Clock, settings: Settings, draft: service.CampaignDraft, *, actor: service.Actor
) -> Campaign:
    """The campaign, created and committed; a draft refused (InvalidCampaign) writes nothing
    and leaves no transaction open."""
    try:
        campaign = await service.create_campaign(uow, clock, settings, draft, actor=actor)
    except InvalidCampaign:
        await uow.rollback()
        raise
    await uow.commit()
    return campaign


async def follow(uow: UnitOfWork, campaign_id: int, *, chat_id: int, message_id: int) -> None:
    """The chat message that shows the campaign's progress, and later its report. Commits."""
    campaign = await service.get_campaign(uow, campaign_id)
    campaign.progress_chat_id = chat_id
    campaign.progress_message_id = message_id
    await uow.commit()
