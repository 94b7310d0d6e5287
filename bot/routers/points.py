"""/points: balance, what expires when, the tier and what the next one (or keeping this one) takes."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.filters import ButtonText
from bot.render import Texts
from bot.routers.invite import invite_markup
from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.i18n import localized
from loyalty.points import points_summary

LAST_MOMENT = timedelta(microseconds=1)


async def show_points(
    message: Message, member: Member | None, uow: UnitOfWork, clock: Clock, texts: Texts, settings: Settings
) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    summary = await points_summary(uow, member, now=clock.now(), settings=settings)
    invite = await invite_markup(uow, texts)
    await uow.release()
    progress = summary.progress
    zone = settings.zone
    await message.answer(
        texts(
            "points/summary",
            balance=summary.available,
            tier=localized(progress.tier.names, texts.locale),
            # Shown as the last day the points can be used, not the instant they lapse (midnight after).
            expiring=[
                {"points": e.points, "date": (e.expires_at - LAST_MOMENT).astimezone(zone).date()}
                for e in summary.expiring[:3]
            ],
            next_tier=localized(progress.next_tier.names, texts.locale) if progress.next_tier else None,
            spend_to_next=progress.spend_to_next_minor,
            visits_to_next=progress.visits_to_next,
            keep_spend=progress.keep_spend_minor,
            keep_visits=progress.keep_visits,
            keep_by=progress.keep_by.astimezone(zone).date() if progress.keep_by else None,
            currency=settings.currency,
        ),
        reply_markup=invite,
    )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="points")
    router.message.register(show_points, Command("points"))
    router.message.register(show_points, ButtonText("buttons/points"))
    return router
