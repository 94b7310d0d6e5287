"""The handlers of /broadcast, one or two per step, and the review that ends it.

Each takes the update, the FSM context and the staff context (`ctx`); what is chosen so far is
the draft in FSM data (draft.py). After every answer the flow asks for the first thing still
missing (`ask_next`), so an edit only has to forget one choice. Every button is checked again
when pressed: a forged tier, segment, template or coupon id is refused and writes nothing.
"""

from __future__ import annotations

import re

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import (
    BroadcastStep,
    ReviewAction,
    SegmentKind,
    StaffCouponCallback,
    StaffRepeatCallback,
    StaffReviewCallback,
    StaffSegmentCallback,
    StaffTextCallback,
)
from bot.campaign_progress import progress_text
from bot.edits import keep_answer, pressed_label
from bot.routers.staff.broadcast import views
from bot.routers.staff.broadcast.draft import (
    NO_COUPON,
    BroadcastDraft,
    Coupon,
    Segment,
    forget,
    load,
    repeats_offered,
    save,
)
from bot.routers.staff.context import StaffContext
from bot.routers.staff.menu import give_staff_menu
from bot.states import Broadcast
from loyalty.campaigns import launch, messages, service
from loyalty.campaigns.audience import audience_size
from loyalty.campaigns.rfm import RFM_SEGMENTS
from loyalty.campaigns.when import Now, WhenError, parse_when, send_day
from loyalty.config import SUPPORTED_LOCALES
from loyalty.errors import InvalidCampaign
from loyalty.i18n import localized

_UNDEFINED = re.compile(r"'(\w+)' is undefined")


async def start_broadcast(message: Message, state: FSMContext, ctx: StaffContext) -> None:
    assert message.bot is not None and message.from_user is not None
    await give_staff_menu(message.bot, message.from_user.id)
    await forget(state)
    await ask_next(message, state, BroadcastDraft(), ctx)


async def ask_next(message: Message, state: FSMContext, draft: BroadcastDraft, ctx: StaffContext) -> None:
    """Ask for the first thing not chosen yet; with everything chosen, show the preview."""
    await save(state, draft)
    texts, uow, clock, settings = ctx.texts, ctx.uow, ctx.clock, ctx.settings
    match draft.missing():
        case BroadcastStep.segment:
            await state.set_state(Broadcast.segment)
            await message.answer(
                texts("staff/broadcast/choose_segment"),
                reply_markup=await views.segment_keyboard(uow, texts, clock, settings),
            )
        case BroadcastStep.text:
            assert draft.segment is not None
            await state.set_state(Broadcast.text)
            segment = await views.segment_view(uow, draft.segment, texts.locale)
            size = await audience_size(uow, draft.segment.audience(), now=clock.now(), zone=settings.zone)
            await uow.release()
            await message.answer(
                texts("staff/broadcast/ask_text", segment=segment, size=size.total),
                reply_markup=views.ready_keyboard(texts),
            )
        case BroadcastStep.coupon:
            templates = await views.offered_coupons(uow)
            await uow.release()
            await state.set_state(Broadcast.coupon)
            await message.answer(
                texts("staff/broadcast/ask_coupon", has_templates=bool(templates)),
                reply_markup=views.coupon_keyboard(templates, texts),
            )
        case BroadcastStep.when:
            await state.set_state(Broadcast.when)
            await message.answer(
                texts("staff/broadcast/ask_when", zone=settings.timezone, example=views.example_day(clock, settings)),
                reply_markup=views.when_keyboard(texts),
            )
        case BroadcastStep.repeat:
            assert draft.when is not None
            await state.set_state(Broadcast.repeat)
            day = send_day(draft.when, now=clock.now(), zone=settings.zone).day
            await message.answer(
                texts("staff/broadcast/ask_repeat", day=day, max_day=service.RECURRING_MAX_DAY),
                reply_markup=views.repeat_keyboard(repeats_offered(day), day, texts),
            )
        case None:
            await review(message, state, draft, ctx)


async def _chose_by_button(query: CallbackQuery, state: FSMContext, draft: BroadcastDraft, ctx: StaffContext) -> None:
    """A step answered with a button: keep the choice, take the step's buttons off, ask next."""
    await query.answer()
    await _close_keyboard(query, ctx)
    await ask_next(_message(query), state, draft, ctx)


async def segment_chosen(
    query: CallbackQuery, callback_data: StaffSegmentCallback, state: FSMContext, ctx: StaffContext
) -> None:
    segment = await _checked_segment(callback_data, ctx)
    if segment is None:  # a tier or segment no button offered: forged, or a tier since removed
        await query.answer(ctx.texts("staff/stale"), show_alert=True)
        return
    await _chose_by_button(query, state, (await load(state)).with_segment(segment), ctx)


async def _checked_segment(callback_data: StaffSegmentCallback, ctx: StaffContext) -> Segment | None:
    kind, value = callback_data.kind, callback_data.value
    if kind is SegmentKind.tier:
        return Segment(kind, value) if value and await ctx.uow.program.tier_by_code(value) is not None else None
    if kind is SegmentKind.rfm:
        return Segment(kind, value) if value in RFM_SEGMENTS else None
    if value:  # the other segments carry nothing
        return None
    if kind is SegmentKind.birthday:
        return Segment(kind, month=ctx.clock.now().astimezone(ctx.settings.zone).month)
    return Segment(kind)


async def ready_text_chosen(
    query: CallbackQuery, callback_data: StaffTextCallback, state: FSMContext, ctx: StaffContext
) -> None:
    if callback_data.name not in views.READY_TEXTS:
        await query.answer(ctx.texts("staff/stale"), show_alert=True)
        return
    # Every language's version: each member reads the message in their own.
    written = {locale: views.ready_text(callback_data.name, locale) for locale in SUPPORTED_LOCALES}
    await _chose_by_button(query, state, (await load(state)).with_texts(written), ctx)


async def own_text(message: Message, state: FSMContext, ctx: StaffContext) -> None:
    assert message.text is not None
    # The staff member writes in their language; members of others get it too (pick_text).
    written = {ctx.texts.locale: message.text}
    try:
        messages.check_texts(written, supported_locales=SUPPORTED_LOCALES, with_image=False)
    except InvalidCampaign as error:
        problem = error.problem
        undefined = _UNDEFINED.search(str(error))
        await message.answer(
            ctx.texts("staff/broadcast/text_invalid", problem=problem, detail=undefined[1] if undefined else None)
        )
        return
    await ask_next(message, state, (await load(state)).with_texts(written), ctx)


async def text_needed(message: Message, ctx: StaffContext) -> None:
    await message.answer(ctx.texts("staff/broadcast/text_needed"))


async def coupon_chosen(
    query: CallbackQuery, callback_data: StaffCouponCallback, state: FSMContext, ctx: StaffContext
) -> None:
    coupon = NO_COUPON
    if callback_data.template_id:
        template = await ctx.uow.coupons.template(callback_data.template_id)
        if template is None or not template.active:
            await ctx.uow.rollback()
            await query.answer(ctx.texts("staff/stale"), show_alert=True)
            return
        coupon = Coupon(id=template.id, code=template.code, names=template.names)
    await _chose_by_button(query, state, (await load(state)).with_coupon(coupon), ctx)


async def send_now(query: CallbackQuery, state: FSMContext, ctx: StaffContext) -> None:
    await _chose_by_button(query, state, (await load(state)).with_when(Now()), ctx)


async def time_typed(message: Message, state: FSMContext, ctx: StaffContext) -> None:
    assert message.text is not None
    settings = ctx.settings
    try:
        when = parse_when(message.text, now=ctx.clock.now(), zone=settings.zone)
    except WhenError as error:
        await message.answer(
            ctx.texts(
                "staff/broadcast/time_invalid",
                problem=error.problem,
                zone=settings.timezone,
                example=views.example_day(ctx.clock, settings),
            )
        )
        return
    await ask_next(message, state, (await load(state)).with_when(when), ctx)


async def repeat_chosen(
    query: CallbackQuery, callback_data: StaffRepeatCallback, state: FSMContext, ctx: StaffContext
) -> None:
    draft = await load(state)
    assert draft.when is not None  # the repeat step comes after the time
    day = send_day(draft.when, now=ctx.clock.now(), zone=ctx.settings.zone)
    if callback_data.every not in repeats_offered(day.day):  # forged: the 30th cannot repeat monthly
        await query.answer(ctx.texts("staff/stale"), show_alert=True)
        return
    await _chose_by_button(query, state, draft.with_repeat(callback_data.every), ctx)


async def review(message: Message, state: FSMContext, draft: BroadcastDraft, ctx: StaffContext) -> None:
    assert draft.segment is not None and draft.coupon is not None
    assert draft.when is not None and draft.repeat is not None
    uow, texts, clock, settings = ctx.uow, ctx.texts, ctx.clock, ctx.settings
    campaign_draft = draft.campaign_draft()
    await state.set_state(Broadcast.review)  # from here on the edit buttons work
    try:
        preview = await service.preview(uow, clock, settings, campaign_draft, samples=1)
    except InvalidCampaign as error:  # the tier or coupon went away meanwhile
        await uow.rollback()
        await _refused(message, ctx, error)
        return
    preview_text = await views.preview_text(uow, campaign_draft, preview, texts, settings, ctx.member)
    segment = await views.segment_view(uow, draft.segment, texts.locale)
    await uow.release()
    await message.answer(
        preview_text, reply_markup=views.preview_buttons(campaign_draft, draft.coupon, texts.locale, settings)
    )
    await message.answer(
        texts(
            "staff/broadcast/summary",
            segment=segment,
            audience=preview.audience,
            expected=preview.expected,
            coupon_name=localized(draft.coupon.names, texts.locale) if draft.coupon.names else None,
            coupon_rules_not_applied=preview.coupon_rules_not_applied,
            test=views.readability_view(
                preview,
                holdout_pct=_or(campaign_draft.holdout_pct, settings.campaign_holdout_pct),
                days=_or(campaign_draft.attribution_days, settings.campaign_attribution_days),
            ),
            when=views.when_view(draft.when, texts.locale, settings),
            repeat=draft.repeat.value,
            day=send_day(draft.when, now=clock.now(), zone=settings.zone).day,
            zone=settings.timezone,
        ),
        reply_markup=views.review_keyboard(texts),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


async def review_pressed(
    query: CallbackQuery, callback_data: StaffReviewCallback, state: FSMContext, ctx: StaffContext
) -> None:
    draft = await load(state)
    if callback_data.action is ReviewAction.cancel:
        await query.answer()
        await forget(state)
        await _close_keyboard(query, ctx)
        await _message(query).answer(ctx.texts("staff/broadcast/cancelled"))
        return
    if callback_data.action is ReviewAction.edit:
        await query.answer()
        if callback_data.step is None:
            await _message(query).edit_reply_markup(reply_markup=views.edit_keyboard(ctx.texts))
            return
        await _close_keyboard(query, ctx)
        await ask_next(_message(query), state, draft.without(callback_data.step), ctx)
        return
    await confirm(query, state, draft, ctx)


async def confirm(query: CallbackQuery, state: FSMContext, draft: BroadcastDraft, ctx: StaffContext) -> None:
    uow, clock, settings = ctx.uow, ctx.clock, ctx.settings
    actor = service.Actor(f"staff:{query.from_user.id}", ctx.staff_role)
    try:
        campaign = await launch.create(uow, clock, settings, draft.campaign_draft(), actor=actor)
    except InvalidCampaign as error:
        await query.answer()
        await _refused(_message(query), ctx, error)
        return
    # Left before anything slow: a second tap on Confirm now finds no flow to confirm.
    await forget(state)
    await query.answer()
    await _close_keyboard(query, ctx)
    if isinstance(draft.when, Now):
        await service.start(uow, clock, settings, campaign.id)  # commits itself
    text = await progress_text(uow, clock, settings, campaign.id, ctx.texts)
    await uow.release()
    sent = await _message(query).answer(text)
    await launch.follow(uow, campaign.id, chat_id=sent.chat.id, message_id=sent.message_id)


async def _refused(message: Message, ctx: StaffContext, error: InvalidCampaign) -> None:
    await message.answer(ctx.texts("staff/broadcast/refused", field=error.field))
    await message.answer(ctx.texts("staff/broadcast/edit_which"), reply_markup=views.edit_keyboard(ctx.texts))


async def cancel(message: Message, state: FSMContext, ctx: StaffContext) -> None:
    await forget(state)
    await message.answer(ctx.texts("staff/broadcast/cancelled"))


async def not_now(query: CallbackQuery, ctx: StaffContext) -> None:
    """A staff button of this flow pressed outside its step: an old message."""
    await query.answer(ctx.texts("staff/stale"), show_alert=True)


def _message(query: CallbackQuery) -> Message:
    assert isinstance(query.message, Message)
    return query.message


async def _close_keyboard(query: CallbackQuery, ctx: StaffContext) -> None:
    """Take the buttons off a step's message once it is answered, so it cannot be pressed again,
    and leave the question with the answer chosen under it ("→ Tier Gold")."""
    label = pressed_label(query)
    await keep_answer(query, ctx.texts("answered", answer=label) if label is not None else None)
