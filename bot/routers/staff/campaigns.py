"""/campaigns: the recent campaigns, each with how far it got and buttons for what its state
allows (pause, resume, cancel).

A button carries the action and the campaign id, nothing else: the service checks the state and
who may (a marketer only their own campaigns). A button made stale by a change meanwhile is
answered with the campaign's state now and changes nothing."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CampaignAction, StaffCampaignCallback
from bot.edits import edit_in_place
from bot.render import Texts
from bot.routers.staff.menu import give_staff_menu
from db.models import Campaign
from db.uow import UnitOfWork
from loyalty.campaigns import service
from loyalty.clock import Clock
from loyalty.errors import CampaignNotFound, CampaignStateConflict, StaffOnly

LISTED = 10
# What each state allows; the service is the judge, this only decides which buttons to show.
ACTIONS: dict[str, tuple[CampaignAction, ...]] = {
    "scheduled": (CampaignAction.pause, CampaignAction.cancel),
    "sending": (CampaignAction.pause, CampaignAction.cancel),
    "paused": (CampaignAction.resume, CampaignAction.cancel),
}


async def listing(uow: UnitOfWork, clock: Clock, texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    campaigns = await service.list_campaigns(uow, limit=LISTED)
    if not campaigns:
        return texts("staff/campaigns/none"), None
    rows = []
    for campaign in campaigns:
        progress = await service.progress(uow, clock, campaign.id)
        rows.append(
            {
                "id": campaign.id,
                "name": campaign.name,
                "status": campaign.status,
                "sent": progress.sent,
                "total": _to_send(campaign, progress),
                "recurrence": campaign.recurrence,
            }
        )
    await uow.release()
    return texts("staff/campaigns/list", campaigns=rows), _buttons(texts, campaigns)


def _to_send(campaign: Campaign, progress: service.Progress) -> int:
    # Before it starts, recipients are not chosen yet: the audience is all there is to show.
    if campaign.started_at is None:
        return campaign.audience_size or 0
    return progress.total - progress.held_out


def _buttons(texts: Texts, campaigns: list[Campaign]) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    widths = []
    for campaign in campaigns:
        actions = ACTIONS.get(campaign.status, ())
        for action in actions:
            builder.button(
                text=texts("staff/campaigns/button", action=action.value, campaign_id=campaign.id),
                callback_data=StaffCampaignCallback(action=action, campaign_id=campaign.id),
            )
        if actions:
            widths.append(len(actions))
    if not widths:
        return None
    builder.adjust(*widths)
    return builder.as_markup()


async def show_campaigns(message: Message, uow: UnitOfWork, clock: Clock, texts: Texts) -> None:
    assert message.bot is not None and message.from_user is not None
    await give_staff_menu(message.bot, message.from_user.id)
    text, keyboard = await listing(uow, clock, texts)
    await message.answer(text, reply_markup=keyboard)


async def act(
    query: CallbackQuery,
    callback_data: StaffCampaignCallback,
    uow: UnitOfWork,
    clock: Clock,
    texts: Texts,
    staff_role: str,
) -> None:
    actor = service.Actor(f"staff:{query.from_user.id}", staff_role)  # type: ignore[arg-type]
    change = {
        CampaignAction.pause: service.pause,
        CampaignAction.resume: service.resume,
        CampaignAction.cancel: service.cancel,
    }[callback_data.action]
    try:
        await change(uow, clock, callback_data.campaign_id, actor=actor)  # commits; a refusal writes nothing
    except StaffOnly:
        await query.answer(texts("staff/campaigns/not_yours"), show_alert=True)
        return
    except CampaignStateConflict as error:
        await query.answer(
            texts("staff/campaigns/conflict", status=error.reason), show_alert=True
        )
        await _refresh(query, uow, clock, texts)
        return
    except CampaignNotFound:
        await query.answer(texts("staff/stale"), show_alert=True)
        return
    await query.answer(texts("staff/campaigns/changed", action=callback_data.action.value))
    await _refresh(query, uow, clock, texts)


async def _refresh(query: CallbackQuery, uow: UnitOfWork, clock: Clock, texts: Texts) -> None:
    """The list message, redrawn as things are now."""
    if not isinstance(query.message, Message):
        return
    text, keyboard = await listing(uow, clock, texts)
    with edit_in_place():
        await query.message.edit_text(text, reply_markup=keyboard)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-campaigns")
    router.message.register(show_campaigns, Command("campaigns"))
    router.callback_query.register(act, StaffCampaignCallback.filter())
    return router
