"""Rewards in the chat: browse the catalogue a page at a time, look at one reward, redeem it after
a confirmation, and get its code as a QR for the till; the member's own unused codes on demand.

Every button is re-checked against the database for the member who pressed it. A refusal is a
callback alert and writes nothing. Each handler ends its transaction (`release`, or `rollback`
after a refusal) before talking to Telegram, so slow I/O never holds a database lock.

A double tap on "Yes, redeem" must not redeem twice: the confirmation button carries a one-time
nonce, and `redeem_once` records it as an idempotency key (scope `member:<member id>`) in the
same transaction as the redemption. The record is as durable as the redemption itself, survives
a bot restart and works across bot processes, which FSM data (memory, or Redis written after the
commit) would not guarantee.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, or_f
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import rewards_view as view
from bot.edits import show_in_place
from bot.filters import ButtonText
from bot.pictures import send_picture
from bot.render import Texts
from db.models import Member, RedemptionStatus
from db.uow import UnitOfWork
from loyalty import rewards
from loyalty.clock import Clock
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    MemberBlocked,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
)
from loyalty.idempotency import IdempotencyKey, fingerprint


async def show_catalogue(message: Message, member: Member | None, texts: Texts, uow: UnitOfWork, clock: Clock) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    page = await rewards.catalogue(uow, member, now=clock.now(), page=1, page_size=view.PAGE_SIZE)
    await uow.release()
    await message.answer(view.catalogue_text(texts, page), reply_markup=view.catalogue_keyboard(texts, page))


async def catalogue_page(
    query: CallbackQuery,
    callback_data: view.RewardsPage,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    try:
        page = await rewards.catalogue(
            uow, member, now=clock.now(), page=callback_data.page, page_size=view.PAGE_SIZE
        )
    except InvalidInput:  # the catalogue shrank since the button was made, or a forged page
        await _refuse(query, uow, view.refusal(texts, "page"))
        return
    await uow.release()
    await query.answer()
    await show_in_place(query, view.catalogue_text(texts, page), view.catalogue_keyboard(texts, page))


async def reward_detail(
    query: CallbackQuery,
    callback_data: view.RewardDetail,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
) -> None:
    offer = await _offer_or_refuse(query, member, callback_data.reward_id, texts, uow, clock)
    if offer is None:
        return
    await query.answer()
    await show_in_place(
        query, view.detail_text(texts, offer), view.detail_keyboard(texts, offer, page=callback_data.page)
    )
    assert query.bot is not None
    await send_picture(query.bot, query.from_user.id, offer.reward.image_url)


async def ask_to_confirm(
    query: CallbackQuery,
    callback_data: view.RewardAsk,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    state: FSMContext,
) -> None:
    offer = await _offer_or_refuse(query, member, callback_data.reward_id, texts, uow, clock)
    if offer is None:
        return
    if offer.reason is not None:
        await query.answer(
            view.refusal(texts, offer.reason, short=offer.points_short, tier=offer.required_tier), show_alert=True
        )
        return
    nonce = view.new_nonce()
    await view.expect_confirmation(state, nonce)
    await query.answer()
    await show_in_place(
        query,
        view.confirm_text(texts, offer, available=offer.available),
        view.confirm_keyboard(texts, offer, page=callback_data.page, nonce=nonce),
    )


async def confirm_redeem(
    query: CallbackQuery,
    callback_data: view.RewardConfirm,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    state: FSMContext,
) -> None:
    if await view.was_withdrawn(state, callback_data.nonce):  # /cancel took it back
        await _refuse(query, uow, view.refusal(texts, "stale"))
        return
    # Scoped by the membership, not the Telegram id: the ledger and the idempotency answers
    # keep no chat id that erasing the member would have to find (loyalty/erasure.py).
    key = IdempotencyKey(
        scope=f"member:{member.id}",
        key=f"redeem:{callback_data.nonce}",
        fingerprint=fingerprint({"reward_id": callback_data.reward_id, "price": callback_data.price}),
    )
    try:
        result = await rewards.redeem_once(
            uow,
            clock,
            member_id=member.id,
            reward_id=callback_data.reward_id,
            actor="chat",
            key=key,
            expected_price=callback_data.price,
        )
        own = await rewards.member_redemption(uow, member, result.redemption.id)
    except InsufficientPoints as error:
        short = error.needed - error.available
        await _refuse(query, uow, view.refusal(texts, "insufficient_points", short=short))
        return
    except RewardUnavailable as error:
        await _refuse(query, uow, view.refusal(texts, error.reason, tier=error.tier))
        return
    except RewardNotFound:
        await _refuse(query, uow, view.refusal(texts, "inactive"))
        return
    except MemberBlocked:
        await _refuse(query, uow, view.refusal(texts, "blocked"))
        return
    except (RedemptionNotFound, IdempotencyConflict):  # a nonce reused for another reward: forged
        await _refuse(query, uow, view.refusal(texts, "stale"))
        return
    await uow.release()
    await view.settle_confirmation(state)
    if result.replayed:
        await query.answer(texts("rewards/already", code=own.redemption.code), show_alert=True)
        return
    await query.answer()
    await show_in_place(query, view.redeemed_text(texts, own), None)
    await _send_code(query, texts, own, balance=result.balance)


async def my_codes(
    query: CallbackQuery,
    callback_data: view.MyCodes,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
) -> None:
    codes = await rewards.member_redemptions(uow, member)
    await uow.release()
    await query.answer()
    await show_in_place(
        query, texts("rewards/my_codes", count=len(codes)), view.my_codes_keyboard(texts, codes, page=callback_data.page)
    )


async def show_code(
    query: CallbackQuery,
    callback_data: view.ShowCode,
    member: Member,
    texts: Texts,
    uow: UnitOfWork,
) -> None:
    try:
        own = await rewards.member_redemption(uow, member, callback_data.redemption_id)
    except RedemptionNotFound:  # someone else's, or made up: the same answer either way
        await _refuse(query, uow, view.refusal(texts, "stale"))
        return
    await uow.release()
    if own.redemption.status != RedemptionStatus.ISSUED:
        await query.answer(view.refusal(texts, own.redemption.status), show_alert=True)
        return
    await query.answer()
    await _send_code(query, texts, own)


async def _offer_or_refuse(
    query: CallbackQuery, member: Member, reward_id: int, texts: Texts, uow: UnitOfWork, clock: Clock
) -> rewards.RewardOffer | None:
    """The reward as offered to this member, or None after telling them why not (the id may be
    stale or forged)."""
    try:
        offer = await rewards.offer(uow, member, reward_id, now=clock.now())
    except (RewardNotFound, RewardUnavailable):
        await _refuse(query, uow, view.refusal(texts, "inactive"))
        return None
    await uow.release()
    return offer


async def _refuse(query: CallbackQuery, uow: UnitOfWork, text: str) -> None:
    await uow.rollback()  # nothing of a refused action is kept, and no lock outlives it
    await query.answer(text, show_alert=True)


async def _send_code(query: CallbackQuery, texts: Texts, own: rewards.OwnRedemption, *, balance: int | None = None) -> None:
    assert query.bot is not None
    await query.bot.send_photo(
        query.from_user.id, view.code_photo(own), caption=view.code_caption(texts, own, balance=balance)
    )


REWARD_BUTTONS = (view.RewardsPage, view.RewardDetail, view.RewardAsk, view.RewardConfirm, view.MyCodes, view.ShowCode)


def _pressed_by_guest(_: CallbackQuery, member: Member | None) -> bool:
    return member is None


async def need_signup(query: CallbackQuery, texts: Texts, uow: UnitOfWork) -> None:
    await _refuse(query, uow, texts("card/need_signup"))


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="rewards")
    router.message.register(show_catalogue, Command("rewards"))
    router.message.register(show_catalogue, ButtonText("buttons/rewards"))
    # First: a rewards button pressed by someone who is not (or no longer) a member, so every
    # handler below can count on a member.
    router.callback_query.register(
        need_signup, _pressed_by_guest, or_f(*(button.filter() for button in REWARD_BUTTONS))
    )
    router.callback_query.register(catalogue_page, view.RewardsPage.filter())
    router.callback_query.register(reward_detail, view.RewardDetail.filter())
    router.callback_query.register(ask_to_confirm, view.RewardAsk.filter())
    router.callback_query.register(confirm_redeem, view.RewardConfirm.filter())
    router.callback_query.register(my_codes, view.MyCodes.filter())
    router.callback_query.register(show_code, view.ShowCode.filter())
    return router
