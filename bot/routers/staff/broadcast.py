"""/broadcast: a staff member sends a message to a segment of members, one step at a time.

1. the segment, each button showing its live audience size;
2. the text: their own (checked like any campaign text) or a ready one, in every language;
3. a coupon template to attach, or none;
4. when: now, at a time in the program's zone, or at a local time in each member's own zone;
   it goes once, unless the summary's Edit > Repeat makes it a monthly or quarterly member day
   on the same day of the month;
5. a preview, sent to the staff member as a member would get it, and a summary to confirm,
   edit (one step) or cancel;
6. confirmed: the campaign is created (loyalty.campaigns.service) and a progress message is
   sent, which bot/campaign_progress.py keeps up to date and turns into the report.

What is chosen waits in FSM data (JSON only, so Redis storage keeps it) under one key, so a
guest's language choice kept there survives the flow. The flow asks for the first thing still
missing: an edit forgets one choice and the same code asks for it again. Every button is checked
again when pressed: a forged tier, segment, template or coupon id is refused and writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
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
from bot.campaign_progress import moment_text, progress_text
from bot.edits import edit_in_place
from bot.render import TEMPLATES_DIR, Texts, plain, texts_for
from bot.routers.staff.menu import give_staff_menu
from bot.states import Broadcast
from db.models import Member
from db.uow import UnitOfWork
from loyalty.campaigns import messages, service
from loyalty.campaigns.audience import Audience, audience_size
from loyalty.campaigns.rfm import RFM_SEGMENTS
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.errors import InvalidCampaign
from loyalty.i18n import localized

DATA_KEY = "broadcast"
READY_TEXTS = ("member_day", "new_offer")  # templates/messages/<locale>/campaigns/<name>.j2
MAX_COUPON_BUTTONS = 20
NAME_TEXT_CHARS = 40  # of the text, in the campaign's name
NOT_COMMAND = ~F.text.startswith("/")
PREVIEW_BUTTON = f"{STAFF_PREFIX}preview"  # a staff payload no handler takes: "no longer active"
_UNDEFINED = re.compile(r"'(\w+)' is undefined")
_AT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})(\s+local)?$", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


# --- what is chosen, as FSM data -------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    value: str = ""  # tier code or RFM segment
    month: int | None = None  # birthday month, fixed when chosen

    def audience(self) -> Audience:
        match self.kind:
            case SegmentKind.tier:
                return Audience(tiers=[self.value])
            case SegmentKind.rfm:
                return Audience(rfm=[self.value])  # type: ignore[list-item]  # checked when chosen
            case SegmentKind.birthday:
                return Audience(birthday_month=self.month)
            case SegmentKind.coupon:
                return Audience(has_unused_coupon=True)
        return Audience()

    def as_data(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "value": self.value, "month": self.month}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Segment:
        return cls(SegmentKind(data["kind"]), data["value"], data["month"])


class WhenError(ValueError):
    def __init__(self, problem: str) -> None:  # "malformed" or "past"
        super().__init__(problem)
        self.problem = problem


def parse_when(text: str, *, now: datetime, zone: ZoneInfo) -> dict[str, str]:
    """A typed send time, as FSM data: "2026-12-08 10:00" in the program's zone; "10:00" (the
    next 10:00 there) or "2026-12-08 10:00 local" in each member's own zone. A time already past
    in the program's zone is refused, like one that cannot be read (WhenError)."""
    text = " ".join(text.split())
    local_now = now.astimezone(zone)
    if match := _LOCAL_TIME.match(text):
        at = _time(int(match[1]), int(match[2]))
        day = local_now.date()
        if datetime.combine(day, at, zone) <= now:
            day += timedelta(days=1)
        return {"kind": "local", "date": day.isoformat(), "time": at.strftime("%H:%M")}
    match = _AT.match(text)
    if match is None:
        raise WhenError("malformed")
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as error:
        raise WhenError("malformed") from error
    at = _time(int(match[4]), int(match[5]))
    moment = datetime.combine(day, at, zone)
    if moment <= now:
        raise WhenError("past")
    if match[6]:
        return {"kind": "local", "date": day.isoformat(), "time": at.strftime("%H:%M")}
    return {"kind": "at", "at": moment.isoformat()}


def _time(hour: int, minute: int) -> time:
    try:
        return time(hour, minute)
    except ValueError as error:
        raise WhenError("malformed") from error


async def _chosen(state: FSMContext) -> dict[str, Any]:
    return dict((await state.get_data()).get(DATA_KEY) or {})


async def _save(state: FSMContext, chosen: dict[str, Any]) -> None:
    await state.update_data({DATA_KEY: chosen})


async def forget(state: FSMContext) -> None:
    """Leave the flow, keeping whatever else the chat keeps in FSM data (a guest's language)."""
    data = await state.get_data()
    data.pop(DATA_KEY, None)
    await state.set_data(data)
    await state.set_state(None)


def draft_of(chosen: dict[str, Any], *, settings: Settings) -> service.CampaignDraft:
    segment = Segment.from_data(chosen["segment"])
    audience = segment.audience()
    when = chosen["when"]
    repeat = repeat_of(chosen)
    source = next(iter(chosen["texts"].values()))
    first_line = " ".join(source.split())[:NAME_TEXT_CHARS]
    name = f"{first_line} · {audience.describe()}"[:120]
    return service.CampaignDraft(
        name=name,
        texts=chosen["texts"],
        audience=audience,
        coupon_template=chosen["coupon"]["code"],
        send_at=datetime.fromisoformat(when["at"]) if when["kind"] == "at" else None,
        local_date=date.fromisoformat(when["date"]) if when["kind"] == "local" else None,
        local_time=time.fromisoformat(when["time"]) if when["kind"] == "local" else None,
        recurrence=None if repeat is Repeat.once else repeat.value,
    )


def repeat_of(chosen: dict[str, Any]) -> Repeat:
    return Repeat(chosen.get("repeat", Repeat.once.value))


def send_day(when: dict[str, str], *, now: datetime, zone: ZoneInfo) -> date:
    """The day of the month it goes out on, in the program's zone: a repeat keeps that day."""
    if when["kind"] == "at":
        return datetime.fromisoformat(when["at"]).astimezone(zone).date()
    if when["kind"] == "local":
        return date.fromisoformat(when["date"])
    return now.astimezone(zone).date()


def repeats_offered(day: date) -> list[Repeat]:
    """Once always; monthly and quarterly only on a day every month has."""
    if not service.can_recur_on(day.day):
        return [Repeat.once]
    return list(Repeat)


# --- the steps -----------------------------------------------------------------------------------


async def start_broadcast(
    message: Message, state: FSMContext, uow: UnitOfWork, texts: Texts, clock: Clock, settings: Settings
) -> None:
    assert message.bot is not None and message.from_user is not None
    await give_staff_menu(message.bot, message.from_user.id)
    await forget(state)
    await _ask_next(message, state, {}, uow, texts, clock, settings)


async def _ask_next(
    message: Message,
    state: FSMContext,
    chosen: dict[str, Any],
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None = None,
) -> None:
    """Ask for the first thing not chosen yet; with everything chosen, show the preview."""
    await _save(state, chosen)
    if "segment" not in chosen:
        await state.set_state(Broadcast.segment)
        await message.answer(
            texts("staff/broadcast/choose_segment"), reply_markup=await _segment_keyboard(uow, texts, clock, settings)
        )
    elif "texts" not in chosen:
        await state.set_state(Broadcast.text)
        chosen_segment = Segment.from_data(chosen["segment"])
        segment = await _segment_view(uow, chosen_segment, texts.locale)
        size = await audience_size(uow, chosen_segment.audience(), now=clock.now(), zone=settings.zone)
        await uow.release()
        await message.answer(
            texts("staff/broadcast/ask_text", segment=segment, size=size.total), reply_markup=_ready_keyboard(texts)
        )
    elif "coupon" not in chosen:
        templates = [t for t in await _coupon_templates(uow) if t.active][:MAX_COUPON_BUTTONS]
        await uow.release()
        await state.set_state(Broadcast.coupon)
        builder = InlineKeyboardBuilder()
        for template in templates:
            label = texts("staff/broadcast/coupon_button", coupon_name=plain(localized(template.names, texts.locale)))
            builder.button(text=label, callback_data=StaffCouponCallback(template_id=template.id))
        builder.button(
            text=texts("staff/broadcast/coupon_button", coupon_name=None),
            callback_data=StaffCouponCallback(template_id=0),
        )
        builder.adjust(1)
        await message.answer(
            texts("staff/broadcast/ask_coupon", has_templates=bool(templates)), reply_markup=builder.as_markup()
        )
    elif "when" not in chosen:
        await state.set_state(Broadcast.when)
        builder = InlineKeyboardBuilder()
        builder.button(text=texts("staff/broadcast/now_button"), callback_data=StaffWhenCallback())
        await message.answer(
            texts("staff/broadcast/ask_when", zone=settings.timezone, example=_example_day(clock, settings)),
            reply_markup=builder.as_markup(),
        )
    elif "repeat" not in chosen:
        await state.set_state(Broadcast.repeat)
        day = send_day(chosen["when"], now=clock.now(), zone=settings.zone)
        builder = InlineKeyboardBuilder()
        for every in repeats_offered(day):
            builder.button(
                text=texts("staff/broadcast/repeat_button", every=every.value, day=day.day),
                callback_data=StaffRepeatCallback(every=every),
            )
        builder.adjust(1)
        await message.answer(
            texts("staff/broadcast/ask_repeat", day=day.day, max_day=service.RECURRING_MAX_DAY),
            reply_markup=builder.as_markup(),
        )
    else:
        await _review(message, state, chosen, uow, texts, clock, settings, member)


async def _chose_by_button(
    query: CallbackQuery,
    state: FSMContext,
    choice: dict[str, Any],
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    """A step answered with a button: keep the choice, take the step's buttons off, ask next."""
    await query.answer()
    chosen = await _chosen(state) | choice
    await _close_keyboard(query)
    await _ask_next(_message(query), state, chosen, uow, texts, clock, settings, member)


async def segment_chosen(
    query: CallbackQuery,
    callback_data: StaffSegmentCallback,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    segment = await _checked_segment(uow, callback_data, clock, settings)
    if segment is None:  # a tier or segment no button offered: forged, or a tier since removed
        await query.answer(texts("staff/stale"), show_alert=True)
        return
    await _chose_by_button(query, state, {"segment": segment.as_data()}, uow, texts, clock, settings, member)


async def ready_text_chosen(
    query: CallbackQuery,
    callback_data: StaffTextCallback,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    if callback_data.name not in READY_TEXTS:
        await query.answer(texts("staff/stale"), show_alert=True)
        return
    # Every language's version: each member reads the message in their own.
    choice = {
        "texts": {locale: ready_text(callback_data.name, locale) for locale in SUPPORTED_LOCALES},
        "ready": callback_data.name,
    }
    await _chose_by_button(query, state, choice, uow, texts, clock, settings, member)


def ready_text(name: str, locale: str) -> str:
    """The merchant-editable source of a ready text (a campaign template, filled in per member
    when sent), not rendered here."""
    path: Path = TEMPLATES_DIR / locale / "campaigns" / f"{name}.j2"
    return path.read_text(encoding="utf-8").strip()


async def own_text(
    message: Message,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    assert message.text is not None
    # The staff member writes in their language; members of others get it too (pick_text).
    written = {texts.locale: message.text}
    try:
        messages.check_texts(written, supported_locales=SUPPORTED_LOCALES, with_image=False)
    except InvalidCampaign as error:
        problem = str(error.details.get("problem", "template"))
        undefined = _UNDEFINED.search(str(error))
        await message.answer(
            texts("staff/broadcast/text_invalid", problem=problem, detail=undefined[1] if undefined else None)
        )
        return
    chosen = await _chosen(state)
    chosen["texts"] = written
    chosen["ready"] = None
    await _ask_next(message, state, chosen, uow, texts, clock, settings, member)


async def text_needed(message: Message, texts: Texts) -> None:
    await message.answer(texts("staff/broadcast/text_needed"))


async def coupon_chosen(
    query: CallbackQuery,
    callback_data: StaffCouponCallback,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    coupon: dict[str, Any] = {"id": 0, "code": None, "name": None}
    if callback_data.template_id:
        template = await uow.coupons.template(callback_data.template_id)
        if template is None or not template.active:
            await uow.rollback()
            await query.answer(texts("staff/stale"), show_alert=True)
            return
        coupon = {"id": template.id, "code": template.code, "name": template.names}
    await _chose_by_button(query, state, {"coupon": coupon}, uow, texts, clock, settings, member)


async def send_now(
    query: CallbackQuery,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    choice = _when_chosen(await _chosen(state), {"kind": "now"})
    await _chose_by_button(query, state, choice, uow, texts, clock, settings, member)


def _when_chosen(chosen: dict[str, Any], when: dict[str, str]) -> dict[str, Any]:
    """The send time, and the repeat: once, unless one was chosen before (an edited time keeps
    it; the review refuses it if the new day cannot repeat)."""
    return {"when": when, "repeat": chosen.get("repeat", Repeat.once.value)}


async def repeat_chosen(
    query: CallbackQuery,
    callback_data: StaffRepeatCallback,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    chosen = await _chosen(state)
    day = send_day(chosen["when"], now=clock.now(), zone=settings.zone)
    if callback_data.every not in repeats_offered(day):  # forged: the 30th cannot repeat monthly
        await query.answer(texts("staff/stale"), show_alert=True)
        return
    await _chose_by_button(query, state, {"repeat": callback_data.every.value}, uow, texts, clock, settings, member)


async def time_typed(
    message: Message,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    assert message.text is not None
    try:
        when = parse_when(message.text, now=clock.now(), zone=settings.zone)
    except WhenError as error:
        await message.answer(
            texts(
                "staff/broadcast/time_invalid",
                problem=error.problem,
                zone=settings.timezone,
                example=_example_day(clock, settings),
            )
        )
        return
    chosen = await _chosen(state)
    chosen |= _when_chosen(chosen, when)
    await _ask_next(message, state, chosen, uow, texts, clock, settings, member)


async def _review(
    message: Message,
    state: FSMContext,
    chosen: dict[str, Any],
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    member: Member | None,
) -> None:
    draft = draft_of(chosen, settings=settings)
    await state.set_state(Broadcast.review)  # from here on the edit buttons work
    try:
        preview = await service.preview(uow, clock, settings, draft, samples=1)
    except InvalidCampaign as error:  # the tier or coupon went away meanwhile
        await uow.rollback()
        await _refused(message, texts, error)
        return
    preview_text = await _preview_text(uow, draft, preview, texts, settings, member)
    segment = await _segment_view(uow, Segment.from_data(chosen["segment"]), texts.locale)
    await uow.release()
    await message.answer(preview_text, reply_markup=_preview_buttons(draft, chosen, texts.locale, settings))
    await message.answer(
        texts(
            "staff/broadcast/summary",
            segment=segment,
            audience=preview.audience,
            holdout=preview.holdout,
            reach=round(preview.audience.reachable * (100 - settings.campaign_holdout_pct) / 100),
            coupon_name=localized(chosen["coupon"]["name"], texts.locale) if chosen["coupon"]["name"] else None,
            when=_when_view(chosen["when"], texts.locale, settings),
            repeat=repeat_of(chosen).value,
            day=send_day(chosen["when"], now=clock.now(), zone=settings.zone).day,
            zone=settings.timezone,
        ),
        reply_markup=_review_keyboard(texts),
    )


async def _preview_text(
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
            texts.locale, member.points_balance, tier.names if tier else {}, member.member_number
        )
        return messages.render(draft.texts, addressee, default_locale=settings.default_locale)
    if preview.samples:
        return preview.samples[0].text
    entry = await uow.program.entry_tier()
    addressee = messages.Addressee(texts.locale, 1280, entry.names, "0000000000")
    return messages.render(draft.texts, addressee, default_locale=settings.default_locale)


def _preview_buttons(
    draft: service.CampaignDraft, chosen: dict[str, Any], locale: str, settings: Settings
) -> InlineKeyboardMarkup | None:
    """The buttons members get under the message (bot/broadcast/engine.py): the links, then their
    coupon's. The coupon does not exist yet, so here its button only answers that it is a preview."""
    rows = [
        [InlineKeyboardButton(text=messages.pick_text(b.texts, locale, settings.default_locale), url=b.url)]
        for b in draft.buttons
    ]
    if chosen["coupon"]["name"]:
        name = plain(localized(chosen["coupon"]["name"], locale))
        label = texts_for(locale)("coupons/buttons/show", name=name)
        rows.append([InlineKeyboardButton(text=label, callback_data=PREVIEW_BUTTON)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def review_pressed(
    query: CallbackQuery,
    callback_data: StaffReviewCallback,
    state: FSMContext,
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    staff_role: str,
    member: Member | None,
) -> None:
    chosen = await _chosen(state)
    if callback_data.action is ReviewAction.cancel:
        await query.answer()
        await forget(state)
        await _close_keyboard(query)
        await _message(query).answer(texts("staff/broadcast/cancelled"))
        return
    if callback_data.action is ReviewAction.edit:
        await query.answer()
        if callback_data.step is None:
            await _message(query).edit_reply_markup(reply_markup=_edit_keyboard(texts))
            return
        chosen.pop(callback_data.step.value, None)
        await _close_keyboard(query)
        await _ask_next(_message(query), state, chosen, uow, texts, clock, settings, member)
        return
    await confirm(query, state, chosen, uow, texts, clock, settings, staff_role)


async def confirm(
    query: CallbackQuery,
    state: FSMContext,
    chosen: dict[str, Any],
    uow: UnitOfWork,
    texts: Texts,
    clock: Clock,
    settings: Settings,
    staff_role: str,
) -> None:
    draft = draft_of(chosen, settings=settings)
    actor = service.Actor(f"staff:{query.from_user.id}", staff_role)  # type: ignore[arg-type]
    try:
        campaign = await service.create_campaign(uow, clock, settings, draft, actor=actor)
    except InvalidCampaign as error:
        await uow.rollback()
        await query.answer()
        await _refused(_message(query), texts, error)
        return
    await uow.commit()
    # Left before anything slow: a second tap on Confirm now finds no flow to confirm.
    await forget(state)
    await query.answer()
    await _close_keyboard(query)
    if chosen["when"]["kind"] == "now":
        await service.start(uow, clock, settings, campaign.id)
        await uow.commit()
    text = await progress_text(uow, clock, settings, campaign.id, texts)
    await uow.release()
    sent = await _message(query).answer(text)
    campaign = await service.get_campaign(uow, campaign.id)
    campaign.progress_chat_id = sent.chat.id
    campaign.progress_message_id = sent.message_id
    await uow.commit()


async def _refused(message: Message, texts: Texts, error: InvalidCampaign) -> None:
    await message.answer(texts("staff/broadcast/refused", field=str(error.details.get("field", ""))))
    await message.answer(texts("staff/broadcast/edit_which"), reply_markup=_edit_keyboard(texts))


async def cancel(message: Message, state: FSMContext, texts: Texts) -> None:
    await forget(state)
    await message.answer(texts("staff/broadcast/cancelled"))


async def not_now(query: CallbackQuery, texts: Texts) -> None:
    """A staff button of this flow pressed outside its step: an old message."""
    await query.answer(texts("staff/stale"), show_alert=True)


# --- views -----------------------------------------------------------------------------------------


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


async def _segment_keyboard(uow: UnitOfWork, texts: Texts, clock: Clock, settings: Settings) -> InlineKeyboardMarkup:
    options = await segment_options(uow, clock, settings)
    builder = InlineKeyboardBuilder()
    for segment, size in options:
        view = await _segment_view(uow, segment, texts.locale)
        builder.button(
            text=texts("staff/broadcast/segment_button", segment=view, size=size),
            callback_data=StaffSegmentCallback(kind=segment.kind, value=segment.value),
        )
    await uow.release()
    builder.adjust(1, 2)
    return builder.as_markup()


async def _segment_view(uow: UnitOfWork, segment: Segment, locale: str) -> dict[str, Any]:
    tier = await uow.program.tier_by_code(segment.value) if segment.kind is SegmentKind.tier else None
    return {
        "kind": segment.kind.value,
        "value": segment.value,
        "tier": plain(localized(tier.names, locale)) if tier else segment.value,
        "month": date(2000, segment.month, 1) if segment.month else None,
    }


async def _checked_segment(
    uow: UnitOfWork, callback_data: StaffSegmentCallback, clock: Clock, settings: Settings
) -> Segment | None:
    kind, value = callback_data.kind, callback_data.value
    if kind is SegmentKind.tier:
        return Segment(kind, value) if value and await uow.program.tier_by_code(value) is not None else None
    if kind is SegmentKind.rfm:
        return Segment(kind, value) if value in RFM_SEGMENTS else None
    if value:  # the other segments carry nothing
        return None
    if kind is SegmentKind.birthday:
        return Segment(kind, month=clock.now().astimezone(settings.zone).month)
    return Segment(kind)


async def _coupon_templates(uow: UnitOfWork) -> list[Any]:
    templates, _ = await uow.coupons.templates(offset=0, limit=500)
    return list(templates)


def _ready_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for name in READY_TEXTS:
        builder.button(
            text=texts("staff/broadcast/ready_button", ready=name), callback_data=StaffTextCallback(name=name)
        )
    return builder.as_markup()


def _review_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in ReviewAction:
        builder.button(
            text=texts("staff/broadcast/review_button", action=action.value, step=None),
            callback_data=StaffReviewCallback(action=action),
        )
    return builder.as_markup()


def _edit_keyboard(texts: Texts) -> InlineKeyboardMarkup:
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


def _when_view(when: dict[str, str], locale: str, settings: Settings) -> dict[str, Any]:
    if when["kind"] == "at":
        return {"kind": "at", "at": moment_text(datetime.fromisoformat(when["at"]), locale, settings.zone)}
    if when["kind"] == "local":
        return {"kind": "local", "date": date.fromisoformat(when["date"]), "time": when["time"]}
    return {"kind": "now"}


def _example_day(clock: Clock, settings: Settings) -> str:
    return (clock.now().astimezone(settings.zone).date() + timedelta(days=7)).isoformat()


def _message(query: CallbackQuery) -> Message:
    assert isinstance(query.message, Message)
    return query.message


async def _close_keyboard(query: CallbackQuery) -> None:
    """Take the buttons off a step's message once it is answered, so it cannot be pressed again."""
    if isinstance(query.message, Message):
        with edit_in_place():
            await query.message.edit_reply_markup(reply_markup=None)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-broadcast")
    in_flow = StateFilter(Broadcast)
    router.message.register(start_broadcast, Command("broadcast"))
    router.message.register(cancel, Command("cancel"), in_flow)
    router.callback_query.register(segment_chosen, Broadcast.segment, StaffSegmentCallback.filter())
    router.callback_query.register(ready_text_chosen, Broadcast.text, StaffTextCallback.filter())
    router.message.register(own_text, Broadcast.text, F.text, NOT_COMMAND)
    router.message.register(text_needed, Broadcast.text, NOT_COMMAND)
    router.callback_query.register(coupon_chosen, Broadcast.coupon, StaffCouponCallback.filter())
    router.callback_query.register(send_now, Broadcast.when, StaffWhenCallback.filter())
    router.message.register(time_typed, Broadcast.when, F.text, NOT_COMMAND)
    router.callback_query.register(repeat_chosen, Broadcast.repeat, StaffRepeatCallback.filter())
    router.callback_query.register(review_pressed, Broadcast.review, StaffReviewCallback.filter())
    for payload in (
        StaffSegmentCallback, StaffTextCallback, StaffCouponCallback, StaffWhenCallback, StaffRepeatCallback,
        StaffReviewCallback,
    ):
        router.callback_query.register(not_now, payload.filter())
    return router
