"""The rewards chat's buttons and texts: typed callback payloads, keyboards and messages.

Payloads carry ids, never trust: every handler looks the reward or redemption up again for the
member pressing, so a forged id finds nothing or someone else's nothing. Out-of-range numbers
fail to unpack and fall through to the fallback router's "stale button".
"""

from __future__ import annotations

import secrets
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field

from bot.qr import qr_png
from bot.render import Texts, plain
from db.models import Reward, Tier
from loyalty.i18n import localized
from loyalty.rewards import CataloguePage, OwnRedemption, RewardOffer

PAGE_SIZE = 5
MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL
MAX_PAGE = 10_000
NONCE_BYTES = 9  # 72 bits, 12 characters: unguessable, and the payload stays within 64 bytes

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE)]


class RewardsPage(CallbackData, prefix="rwp"):
    page: Page


class RewardDetail(CallbackData, prefix="rwd"):
    reward_id: RowId
    page: Page  # where "back" goes


class RewardAsk(CallbackData, prefix="rwa"):
    reward_id: RowId
    page: Page


class RewardConfirm(CallbackData, prefix="rwc"):
    reward_id: RowId
    price: Annotated[int, Field(ge=1, le=MAX_ROW_ID)]  # what the member agreed to pay
    nonce: Annotated[str, Field(min_length=8, max_length=24, pattern=r"^[A-Za-z0-9_-]+$")]


class MyCodes(CallbackData, prefix="rwm"):
    page: Page


class ShowCode(CallbackData, prefix="rws"):
    redemption_id: RowId


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


# In the chat's FSM data: the nonce of the "Yes, redeem" button last shown, and one /cancel took
# back. Only a withdrawn nonce is refused: a confirmation from before a restart (memory storage
# forgets) still works, as it did before /cancel could withdraw one.
PENDING_REDEEM = "redeem_pending"
WITHDRAWN_REDEEM = "redeem_withdrawn"


async def expect_confirmation(state: FSMContext, nonce: str) -> None:
    await state.update_data({PENDING_REDEEM: nonce})


async def settle_confirmation(state: FSMContext) -> None:
    """Redeemed: nothing is pending any more (a second tap still gets the same code)."""
    await state.update_data({PENDING_REDEEM: None})


async def withdraw_confirmation(state: FSMContext) -> bool:
    """/cancel: the pending "Yes, redeem" button stops working; whether there was one."""
    pending = (await state.get_data()).get(PENDING_REDEEM)
    if not pending:
        return False
    await state.update_data({PENDING_REDEEM: None, WITHDRAWN_REDEEM: pending})
    return True


async def was_withdrawn(state: FSMContext, nonce: str) -> bool:
    withdrawn = (await state.get_data()).get(WITHDRAWN_REDEEM)
    return isinstance(withdrawn, str) and secrets.compare_digest(withdrawn, nonce)


def reward_name(reward: Reward, locale: str) -> str:
    return localized(reward.names, locale) or reward.code


def tier_name(tier: Tier | None, locale: str) -> str | None:
    return localized(tier.names, locale) if tier is not None else None


# --- the catalogue ---------------------------------------------------------------------------


def catalogue_text(texts: Texts, page: CataloguePage) -> str:
    return texts("rewards/catalogue", points=page.available, page=page.page, pages=page.pages, total=page.total)


def catalogue_keyboard(texts: Texts, page: CataloguePage) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for offer in page.offers:
        builder.button(
            text=texts(
                "rewards/buttons/item",
                name=plain(reward_name(offer.reward, texts.locale)),
                price=offer.reward.points_price,
            ),
            callback_data=RewardDetail(reward_id=offer.reward.id, page=page.page),
        )
    rows = [1] * len(page.offers)
    nav = 0
    if page.page > 1:
        builder.button(text=texts("rewards/buttons/prev"), callback_data=RewardsPage(page=page.page - 1))
        nav += 1
    if page.page < page.pages:
        builder.button(text=texts("rewards/buttons/next"), callback_data=RewardsPage(page=page.page + 1))
        nav += 1
    builder.button(text=texts("rewards/buttons/my_codes"), callback_data=MyCodes(page=page.page))
    builder.adjust(*rows, *([nav] if nav else []), 1)
    return builder.as_markup()


# --- one reward ------------------------------------------------------------------------------


def detail_text(texts: Texts, offer: RewardOffer) -> str:
    reward = offer.reward
    return texts(
        "rewards/detail",
        name=reward_name(reward, texts.locale),
        description=localized(reward.descriptions, texts.locale),
        value=reward.cash_value_minor,
        currency=reward.currency,
        price=reward.points_price,
        reason=offer.reason,
        short=offer.points_short,
        tier=tier_name(offer.required_tier, texts.locale),
    )


def detail_keyboard(texts: Texts, offer: RewardOffer, *, page: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if offer.can_redeem:
        builder.button(
            text=texts("rewards/buttons/redeem"), callback_data=RewardAsk(reward_id=offer.reward.id, page=page)
        )
    builder.button(text=texts("rewards/buttons/back"), callback_data=RewardsPage(page=page))
    builder.adjust(1)
    return builder.as_markup()


def confirm_text(texts: Texts, offer: RewardOffer, *, available: int) -> str:
    price = offer.reward.points_price
    return texts(
        "rewards/confirm", name=reward_name(offer.reward, texts.locale), price=price, left=available - price
    )


def confirm_keyboard(texts: Texts, offer: RewardOffer, *, page: int, nonce: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("rewards/buttons/confirm"),
        callback_data=RewardConfirm(reward_id=offer.reward.id, price=offer.reward.points_price, nonce=nonce),
    )
    builder.button(
        text=texts("rewards/buttons/cancel"), callback_data=RewardDetail(reward_id=offer.reward.id, page=page)
    )
    builder.adjust(2)
    return builder.as_markup()


def refusal(texts: Texts, reason: str, *, short: int = 0, tier: Tier | None = None) -> str:
    """Why a button did nothing, for a callback alert (plain text, at most 200 characters)."""
    name = tier_name(tier, texts.locale)
    return texts("rewards/refused", reason=reason, short=short, tier=plain(name) if name else None)


# --- codes -----------------------------------------------------------------------------------


def code_photo(own: OwnRedemption) -> BufferedInputFile:
    # The QR holds the bare code, exactly what a till types into POST /redemptions/{code}/use.
    return BufferedInputFile(qr_png(own.redemption.code), filename=f"{own.redemption.code}.png")


def code_caption(texts: Texts, own: OwnRedemption, *, balance: int | None = None) -> str:
    return texts(
        "rewards/code",
        name=reward_name(own.reward, texts.locale),
        code=own.redemption.code,
        points=balance,
    )


def redeemed_text(texts: Texts, own: OwnRedemption) -> str:
    return texts("rewards/redeemed", name=reward_name(own.reward, texts.locale), price=own.redemption.points)


def my_codes_keyboard(texts: Texts, codes: list[OwnRedemption], *, page: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for own in codes:
        builder.button(
            text=texts("rewards/buttons/code", name=plain(reward_name(own.reward, texts.locale)), code=own.redemption.code),
            callback_data=ShowCode(redemption_id=own.redemption.id),
        )
    builder.button(text=texts("rewards/buttons/back"), callback_data=RewardsPage(page=page))
    builder.adjust(1)
    return builder.as_markup()
