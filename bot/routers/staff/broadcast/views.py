"""What /broadcast shows: each step's question and buttons, the preview and the summary."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    STAFF_PREFIX,
    BroadcastStep,
    Repeat,
    ReviewAction,
    SegmentKind,
    StaffCouponCallback,
    StaffRepeatCallback,
    StaffReviewCallback,
    StaffSegmentCallback,
    StaffTextCallback,
    StaffWhenCallback,
)
from bot.campaign_progress import moment_text
from bot.render import TEMPLATES_DIR, Texts, plain, texts_for
from bot.routers.staff.broadcast.draft import Coupon, Segment
from db.models import CouponTemplate, Member
from db.uow import UnitOfWork
from loyalty.campaigns import messages, power, service
from loyalty.campaigns.audience import audience_size
from loyalty.campaigns.rfm import RFM_SEGMENTS
from loyalty.campaigns.when import At, LocalAt, SendTime
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.i18n import localized

READY_TEXTS = ("member_day", "new_offer")  # templates/messages/<locale>/campaigns/<name>.j2
MAX_COUPON_BUTTONS = 20
PREVIEW_BUTTON = f"{STAFF_PREFIX}preview"  # a staff payload no handler takes: "no longer active"


# --- step 1: the segment --------------------------------------------------------------------------


async def segment_options(uow: UnitOfWork, clock: Clock, settings: Settings) -> list[tuple[Segment, int]]:
    """Every segment /broadcast offers, with how many members it holds now."""
    now = clock.now()
    month = now.astimezone(settings.zone).month
    segments = [Segment(SegmentKind.all)]
    tiers = sorted(await uow.program.tiers(), key=lambda tier: tier.rank)
    segments += [Segment(SegmentKind.tier, tier.code) for tier in tiers]
    segments += [Segment(SegmentKind.rfm, name) for name in RFM_SEGMENTS]
    segments += [Segment(SegmentKind.birthday, month=month), Segment(SegmentKind.coupon)]
    sizes = [await audience_size(uow, segment.audience(), now=now, zone=settings.zone) for segment in segments]
    return [(segment, size.total) for segment, size in zip(segments, sizes, strict=True)]


async def segment_keyboard(uow: UnitOfWork, texts: Texts, clock: Clock, settings: Settings) -> InlineKeyboardMarkup:
    options = await segment_options(uow, clock, settings)
    builder = InlineKeyboardBuilder()
    for segment, size in options:
        view = await segment_view(uow, segment, texts.locale)
        builder.button(
            text=texts("staff/broadcast/segment_button", segment=view, size=size),
            callback_data=StaffSegmentCallback(kind=segment.kind, value=segment.value),
        )
    await uow.release()
    builder.adjust(1, 2)
    return builder.as_markup()


async def segment_view(uow: UnitOfWork, segment: Segment, locale: str) -> dict[str, Any]:
    tier = await uow.program.tier_by_code(segment.value) if segment.kind is SegmentKind.tier else None
    return {
        "kind": segment.kind.value,
        "value": segment.value,
        "tier": plain(localized(tier.names, locale)) if tier else segment.value,
        "month": date(2000, segment.month, 1) if segment.month else None,
    }


# --- step 2: the text -----------------------------------------------------------------------------


def ready_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for name in READY_TEXTS:
        builder.button(
            text=texts("staff/broadcast/ready_button", ready=name), callback_data=StaffTextCallback(name=name)
        )
    return builder.as_markup()


def ready_text(name: str, locale: str) -> str:
    """The merchant-editable source of a ready text (a campaign template, filled in per member
    when sent), not rendered here."""
    path: Path = TEMPLATES_DIR / locale / "campaigns" / f"{name}.j2"
    return path.read_text(encoding="utf-8").strip()


# --- step 3: the coupon ---------------------------------------------------------------------------


async def offered_coupons(uow: UnitOfWork) -> list[CouponTemplate]:
    templates, _ = await uow.coupons.templates(offset=0, limit=500)
    return [template for template in templates if template.active][:MAX_COUPON_BUTTONS]


def coupon_keyboard(templates: list[CouponTemplate], texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for template in templates:
        label = texts("staff/broadcast/coupon_button", coupon_name=plain(localized(template.names, texts.locale)))
        builder.button(text=label, callback_data=StaffCouponCallback(template_id=template.id))
    builder.button(
        text=texts("staff/broadcast/coupon_button", coupon_name=None),
        callback_data=StaffCouponCallback(template_id=0),
    )
    builder.adjust(1)
    return builder.as_markup()


# --- steps 4 and 5: when, and how often -----------------------------------------------------------


def when_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("staff/broadcast/now_button"), callback_data=StaffWhenCallback())
    return builder.as_markup()


def example_day(clock: Clock, settings: Settings) -> str:
    return (clock.now().astimezone(settings.zone).date() + timedelta(days=7)).isoformat()


def repeat_keyboard(offered: list[Repeat], day_of_month: int, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for every in offered:
        builder.button(
            text=texts("staff/broadcast/repeat_button", every=every.value, day=day_of_month),
            callback_data=StaffRepeatCallback(every=every),
        )
    builder.adjust(1)
    return builder.as_markup()


def when_view(when: SendTime, locale: str, settings: Settings) -> dict[str, Any]:
    match when:
        case At(at=at):
            return {"kind": "at", "at": moment_text(at, locale, settings.zone)}
        case LocalAt(date=day, time=at):
            return {"kind": "local", "date": day, "time": f"{at:%H:%M}"}
    return {"kind": "now"}


# --- the review -----------------------------------------------------------------------------------


def readability_view(preview: service.Preview, *, holdout_pct: int, days: int) -> dict[str, Any] | None:
    """Whether the hold-out test could be read, as staff/broadcast/readability words it: shares in
    whole percent (the baseline to a tenth)."""
    test = preview.readability
    if test is None:
        return None
    mde = test.mde
    if test.warning is power.Unreadable.AUDIENCE_TOO_SMALL and test.baseline_conversion:
        # No share would do: say what the largest one could show at best.
        mde = power.mde_for_share(test.baseline_conversion, preview.audience.total, service.HOLDOUT_MAX_PCT)
    return {
        "warning": test.warning.value if test.warning else None,
        "mde": round(mde.relative * 100) if mde else None,
        "baseline": f"{(test.baseline_conversion or 0) * 100:.1f}",
        "suggested": test.suggested_holdout_pct,
        "target": round(power.READABLE_MDE * 100),
        "holdout": holdout_pct,
        "days": days,
    }



async def preview_text(
    uow: UnitOfWork,
    draft: service.CampaignDraft,
    preview: service.Preview,
    texts: Texts,
    settings: Settings,
    member: Member | None,
) -> str:
    """The message as a member gets it: filled in with the staff member's own values when they
    are a member too, else with one member of the audience's, else with example values."""
    if member is not None:
        tier = await uow.program.tier(member.tier_id)
        addressee = messages.Addressee(
            texts.locale, member.points_balance, tier.names if tier else {}, member.member_number,
            uow.members.first_name_of(member),
        )
        return messages.render(draft.texts, addressee, default_locale=settings.default_locale)
    if preview.samples:
        return preview.samples[0].text
    entry = await uow.program.entry_tier()
    addressee = messages.Addressee(texts.locale, 1280, entry.names, "0000000000")
    return messages.render(draft.texts, addressee, default_locale=settings.default_locale)


def preview_buttons(
    draft: service.CampaignDraft, coupon: Coupon, locale: str, settings: Settings
) -> InlineKeyboardMarkup | None:
    """The buttons members get under the message (bot/broadcast/engine.py): the links, then their
    coupon's. The coupon does not exist yet, so here its button only answers that it is a preview."""
    rows = [
        [InlineKeyboardButton(text=messages.pick_text(b.texts, locale, settings.default_locale), url=b.url)]
        for b in draft.buttons
    ]
    if coupon.names:
        name = plain(localized(coupon.names, locale))
        label = texts_for(locale)("coupons/buttons/show", name=name)
        rows.append([InlineKeyboardButton(text=label, callback_data=PREVIEW_BUTTON)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def review_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in ReviewAction:
        builder.button(
            text=texts("staff/broadcast/review_button", action=action.value, step=None),
            callback_data=StaffReviewCallback(action=action),
        )
    return builder.as_markup()


def edit_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for step in BroadcastStep:
        builder.button(
            text=texts("staff/broadcast/review_button", action="edit", step=step.value),
            callback_data=StaffReviewCallback(action=ReviewAction.edit, step=step),
        )
    builder.button(
        text=texts("staff/broadcast/review_button", action="cancel", step=None),
        callback_data=StaffReviewCallback(action=ReviewAction.cancel),
    )
    builder.adjust(2)
    return builder.as_markup()
