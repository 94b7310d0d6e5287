"""Keeps each campaign's progress message in the staff chat up to date, then turns it into the
report.

/broadcast sends one message when a campaign is confirmed and records where it is
(campaigns.progress_chat_id / progress_message_id). Every few seconds the watcher edits it: sent
of total, the rate and the time left while sending; once the campaign is over (done or
cancelled) the report: sent, failed, skipped (opted out, unreachable), deferred, held out, and
as purchases come in during the attribution window, conversion of the targeted group against
the hold-out, the lift with its interval, revenue, coupon cost and ROI. The report is redrawn
while the window is open, less often, and left alone after it closes.

Edits are idempotent: the text last written is remembered, and Telegram's "message is not
modified" is no error. A message the staff member deleted is forgotten (its ids cleared).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent

from bot.edits import unchanged
from bot.render import Texts, texts_for
from db.models import Campaign, CampaignStatus
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.report import Report, campaign_report
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.members import member_for_chat

log = logging.getLogger(__name__)

OVER = (CampaignStatus.DONE, CampaignStatus.CANCELLED)
REPORT_EVERY = timedelta(minutes=10)  # while the attribution window is open


def moment_text(moment: datetime, locale: str, zone: ZoneInfo) -> str:
    """A date and time in `zone`, the locale's way, to the minute: "Dec 8, 2026, 10:00 AM"."""
    local = moment.astimezone(zone)
    pattern = str(Locale.parse(locale).datetime_formats["medium"])  # "{1}, {0}": date, time
    return pattern.format(format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale))


def _percent(value: float, locale: str) -> str:
    return format_percent(value, format="#,##0.#%", locale=locale)


def _signed_percent(value: float, locale: str) -> str:
    return format_percent(value, format="+#,##0.#%;-#,##0.#%", locale=locale)


def progress_view(progress: service.Progress, locale: str) -> dict[str, Any]:
    to_send = max(progress.total - progress.held_out, 0)
    return {
        "progress": {**vars(progress), "to_send": to_send},
        "percent": _percent(progress.done / to_send if to_send else 1.0, locale),
        "rate": format_decimal(progress.rate, format="#,##0.0", locale=locale),
        "eta": (
            format_timedelta(timedelta(seconds=progress.eta_seconds), threshold=1.1, locale=locale)
            if progress.eta_seconds is not None
            else None
        ),
    }


def effect_view(
    report: Report, campaign: Campaign, now: datetime, locale: str, zone: ZoneInfo
) -> dict[str, Any] | None:
    """The measured effect, once the attribution window has begun; None before."""
    if report.window_start is None or report.window_end is None or now <= report.window_start:
        return None

    def maybe(value: float | None, signed: bool = False) -> str | None:
        if value is None:
            return None
        return _signed_percent(value, locale) if signed else _percent(value, locale)

    return {
        "open": report.window_open,
        "until": moment_text(report.window_end, locale, zone),
        "days": campaign.attribution_days,
        "targeted_members": report.targeted.members,
        "holdout_members": report.holdout.members,
        "targeted_conversion": _percent(report.targeted.conversion, locale),
        "holdout_conversion": _percent(report.holdout.conversion, locale),
        "lift": maybe(report.lift, signed=True),
        "lift_low": maybe(report.lift_low, signed=True),
        "lift_high": maybe(report.lift_high, signed=True),
        "revenue_minor": report.targeted.revenue_minor,
        "incremental_minor": report.incremental_revenue_minor,
        "coupons_used": report.campaign_coupons_redeemed,
        "coupon_cost_minor": report.coupon_cost_minor,
        "roi": maybe(report.roi, signed=True),
        "currency": report.currency,
    }


def _campaign_view(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "status": campaign.status, "started": campaign.started_at is not None}


async def progress_text(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int, texts: Texts) -> str:
    """The progress message while the campaign is live, the report once it is over."""
    campaign = await service.get_campaign(uow, campaign_id)
    locale = texts.locale
    if campaign.status in OVER:
        report = await campaign_report(uow, clock, settings, campaign_id)
        return texts(
            "staff/report",
            campaign=_campaign_view(campaign),
            progress=vars(report.progress),
            effect=effect_view(report, campaign, clock.now(), locale, settings.zone),
        )
    progress = await service.progress(uow, clock, campaign_id)
    starts = moment_text(campaign.send_at, locale, settings.zone) if campaign.send_at is not None else None
    return texts("staff/progress", campaign=_campaign_view(campaign), starts=starts, **progress_view(progress, locale))


class CampaignProgressWatcher:
    """Run in the bot's process: `await watcher.run()` (or `refresh_once()` from a test)."""

    def __init__(self, bot: Bot, uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> None:
        self._bot = bot
        self._uow_factory = uow_factory
        self._clock = clock
        self._settings = settings
        self._written: dict[int, str] = {}  # campaign id -> the text its message shows
        self._reported_at: dict[int, datetime] = {}  # campaign id -> last report drawn

    async def run(self, interval: float = 3.0) -> None:
        while True:
            try:
                await self.refresh_once()
            except Exception:  # a database or network hiccup: try again next time
                log.exception("campaign progress refresh failed")
            await asyncio.sleep(interval)

    async def refresh_once(self) -> int:
        """Edit every progress message whose text changed; how many were edited."""
        edited = 0
        async with self._uow_factory() as uow:
            campaigns = [c for c in await service.followed_campaigns(uow, self._clock) if self._watched(c)]
            texts = {
                c.id: await progress_text(uow, self._clock, self._settings, c.id, await self._texts_of(uow, c))
                for c in campaigns
            }
            await uow.release()
        now = self._clock.now()
        for campaign in campaigns:
            text = texts[campaign.id]
            if self._written.get(campaign.id) != text:
                if not await self._edit(campaign, text):
                    continue
                edited += 1
            if campaign.status in OVER:
                self._reported_at[campaign.id] = now
        return edited

    async def _texts_of(self, uow: UnitOfWork, campaign: Campaign) -> Texts:
        """The staff chat's language: theirs when they are a member too, else the program's."""
        assert campaign.progress_chat_id is not None
        member = await member_for_chat(uow, campaign.progress_chat_id)
        locale = member.locale if member is not None else self._settings.default_locale
        return texts_for(locale if locale in SUPPORTED_LOCALES else "en")

    def _watched(self, campaign: Campaign) -> bool:
        if campaign.progress_chat_id is None or campaign.progress_message_id is None:
            return False
        if campaign.status in service.LIVE_STATUSES:
            return True
        # Over: the report once, then again now and then while purchases may still count.
        last = self._reported_at.get(campaign.id)
        if last is None:
            return True
        started = campaign.started_at
        window_end = started + timedelta(days=campaign.attribution_days) if started is not None else None
        if window_end is None or last > window_end:
            return False
        return self._clock.now() - last >= REPORT_EVERY

    async def _edit(self, campaign: Campaign, text: str) -> bool:
        """Whether the message now shows `text`."""
        assert campaign.progress_chat_id is not None and campaign.progress_message_id is not None
        try:
            await self._bot.edit_message_text(
                text=text, chat_id=campaign.progress_chat_id, message_id=campaign.progress_message_id
            )
        except TelegramBadRequest as error:
            if unchanged(error):
                self._written[campaign.id] = text
                return True
            log.warning("progress message of campaign %s cannot be edited: %s", campaign.id, error.message)
            if "message to edit not found" in error.message:
                await self._forget_message(campaign.id)
            return False
        except TelegramAPIError as error:  # 429, 5xx: the next round tries again
            log.warning("progress message of campaign %s not edited now: %s", campaign.id, error)
            return False
        self._written[campaign.id] = text
        return True

    async def _forget_message(self, campaign_id: int) -> None:
        async with self._uow_factory() as uow:
            campaign = await service.get_campaign(uow, campaign_id)
            campaign.progress_chat_id = None
            campaign.progress_message_id = None
            await uow.commit()
