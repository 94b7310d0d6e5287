"""/campaigns: the recent campaigns, each with how far it got and buttons for what its state
allows (pause, resume, cancel).

A button carries the action and the campaign id, nothing else: the service checks the state and
who may (a marketer only their own campaigns). A button made stale by a change meanwhile is
answered with the campaign's state now and changes nothing.

Cancelling cannot be undone, so ✖️ first turns the list into a question ("Yes, cancel it" /
"Keep it"). The "Yes" payload is honoured only when pressed on that question (bot.callbacks.
on_its_message): one forged onto another message, or pressed on a question the list has since
replaced, writes nothing."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CampaignAction, StaffCampaignCallback, on_its_message
from bot.campaign_progress import moment_text
from bot.edits import edit_in_place
from bot.routers.staff.context import StaffContext, StaffContextMiddleware
from bot.routers.staff.menu import give_staff_menu
from db.models import Campaign
from loyalty.campaigns import service
from loyalty.errors import CampaignNotFound, CampaignStateConflict, StaffOnly

LISTED = 10
# What each state allows; the service is the judge, this only decides which buttons to show.
ACTIONS: dict[str, tuple[CampaignAction, ...]] = {
    "scheduled": (CampaignAction.pause, CampaignAction.cancel),
    "sending": (CampaignAction.pause, CampaignAction.cancel),
    "paused": (CampaignAction.resume, CampaignAction.cancel),
}
CHANGES = {
    CampaignAction.pause: service.pause,
    CampaignAction.resume: service.resume,
    CampaignAction.cancel_confirmed: service.cancel,
}


async def listing(ctx: StaffContext) -> tuple[str, InlineKeyboardMarkup | None]:
    campaigns = await service.list_campaigns(ctx.uow, limit=LISTED)
    if not campaigns:
        return ctx.texts("staff/campaigns/none"), None
    rows = []
    for campaign in campaigns:
        progress = await service.progress(ctx.uow, ctx.clock, campaign.id)
        rows.append(
            {
                "id": campaign.id,
                "name": campaign.name,
                "status": campaign.status,
                "sent": progress.sent,
                "total": _to_send(campaign, progress),
                "recurrence": campaign.recurrence,
                **_start(campaign, ctx),
            }
        )
    await ctx.uow.release()
    return ctx.texts("staff/campaigns/list", campaigns=rows), _buttons(ctx, campaigns)


def _start(campaign: Campaign, ctx: StaffContext) -> dict[str, Any]:
    """Whether it started and, if not, when it goes out: a campaign not started has sent 0 of
    nobody yet, which "0 / 0 sent" would only confuse."""
    starts = moment_text(campaign.send_at, ctx.texts.locale, ctx.settings.zone) if campaign.send_at else None
    return {"started": campaign.started_at is not None, "starts": starts}


def _to_send(campaign: Campaign, progress: service.Progress) -> int:
    # Before it starts, recipients are not chosen yet: the audience is all there is to show.
    if campaign.started_at is None:
        return campaign.audience_size or 0
    return progress.total - progress.held_out


def _buttons(ctx: StaffContext, campaigns: list[Campaign]) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    widths = []
    for campaign in campaigns:
        actions = ACTIONS.get(campaign.status, ())
        for action in actions:
            _button(builder, ctx, action, campaign.id)
        if actions:
            widths.append(len(actions))
    if not widths:
        return None
    builder.adjust(*widths)
    return builder.as_markup()


def _button(builder: InlineKeyboardBuilder, ctx: StaffContext, action: CampaignAction, campaign_id: int) -> None:
    builder.button(
        text=ctx.texts("staff/campaigns/button", action=action.value, campaign_id=campaign_id),
        callback_data=StaffCampaignCallback(action=action, campaign_id=campaign_id),
    )


async def show_campaigns(message: Message, ctx: StaffContext) -> None:
    assert message.bot is not None and message.from_user is not None
    await give_staff_menu(message.bot, message.from_user.id)
    text, keyboard = await listing(ctx)
    await message.answer(text, reply_markup=keyboard)


async def act(query: CallbackQuery, callback_data: StaffCampaignCallback, ctx: StaffContext) -> None:
    actor = service.Actor(f"staff:{query.from_user.id}", ctx.staff_role)
    action = callback_data.action
    if action == CampaignAction.cancel_confirmed and not on_its_message(query):
        # Not pressed on the question that offered it: forged, or the list has moved on.
        await query.answer(ctx.texts("staff/stale"), show_alert=True)
        return
    try:
        if action == CampaignAction.cancel:
            campaign = await service.cancellable(ctx.uow, callback_data.campaign_id, actor=actor)
            await query.answer()
            await _ask_to_cancel(query, ctx, campaign)
            return
        if action == CampaignAction.keep:
            await query.answer()
            await _refresh(query, ctx)
            return
        await CHANGES[action](ctx.uow, ctx.clock, callback_data.campaign_id, actor=actor)  # a refusal writes nothing
    except StaffOnly:
        await query.answer(ctx.texts("staff/campaigns/not_yours"), show_alert=True)
        return
    except CampaignStateConflict as error:
        await query.answer(ctx.texts("staff/campaigns/conflict", status=error.reason), show_alert=True)
        await _refresh(query, ctx)
        return
    except CampaignNotFound:
        await query.answer(ctx.texts("staff/stale"), show_alert=True)
        return
    await query.answer(ctx.texts("staff/campaigns/changed", action=action.value))
    await _refresh(query, ctx)


async def _ask_to_cancel(query: CallbackQuery, ctx: StaffContext, campaign: Campaign) -> None:
    """The list message becomes the question; "Keep it" turns it back into the list."""
    if not isinstance(query.message, Message):
        return
    builder = InlineKeyboardBuilder()
    for action in (CampaignAction.cancel_confirmed, CampaignAction.keep):
        _button(builder, ctx, action, campaign.id)
    builder.adjust(2)
    text = ctx.texts("staff/campaigns/confirm_cancel", campaign={"id": campaign.id, "name": campaign.name})
    with edit_in_place():
        await query.message.edit_text(text, reply_markup=builder.as_markup())


async def _refresh(query: CallbackQuery, ctx: StaffContext) -> None:
    """The list message, redrawn as things are now."""
    if not isinstance(query.message, Message):
        return
    text, keyboard = await listing(ctx)
    with edit_in_place():
        await query.message.edit_text(text, reply_markup=keyboard)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-campaigns")
    router.message.middleware(StaffContextMiddleware())
    router.callback_query.middleware(StaffContextMiddleware())
    router.message.register(show_campaigns, Command("campaigns"))
    router.callback_query.register(act, StaffCampaignCallback.filter())
    return router
