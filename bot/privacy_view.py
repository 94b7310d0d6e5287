"""The privacy chat's buttons and files: typed callback payloads, keyboards, the export files.

Payloads carry ids, never trust. The last button of a deletion carries the member number it was
shown for and a one-time nonce that the chat's FSM data also holds (with when it was asked); the
handler erases only when all of them match the member pressing, within CONFIRM_FOR. A forged
nonce, a button from an earlier confirmation or from a previous membership, or an old one,
writes nothing. Anything that fails to unpack falls through to the fallback's "stale button".
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field

from bot.render import Texts
from loyalty.data_export import MemberExport
from loyalty.erasure import Losses
from loyalty.i18n import localized

NONCE_BYTES = 9  # 72 bits, 12 characters
CONFIRM_FOR = timedelta(minutes=10)  # how long the last "delete" button works
CONFIRMATION_KEY = "erase_confirmation"  # in the chat's FSM data


class PrivacyAction(str, Enum):
    menu = "menu"  # open the privacy menu (the /settings button)
    export = "export"
    erase = "erase"  # the first question
    erase_sure = "erase_sure"  # the second: what is lost, and the button that erases
    keep = "keep"  # changed their mind


class PrivacyCallback(CallbackData, prefix="pv"):
    action: PrivacyAction


class EraseConfirm(CallbackData, prefix="pvx"):
    """Erase this membership, now: the member number it was asked for and the confirmation's nonce."""

    member_number: Annotated[str, Field(pattern=r"^[0-9]{10}$")]
    nonce: Annotated[str, Field(min_length=8, max_length=24, pattern=r"^[A-Za-z0-9_-]+$")]


def new_confirmation(member_number: str, now: datetime) -> tuple[EraseConfirm, dict[str, Any]]:
    """The button's payload and what the chat's FSM data keeps to check it against."""
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    kept = {"member_number": member_number, "nonce": nonce, "asked_at": now.isoformat()}
    return EraseConfirm(member_number=member_number, nonce=nonce), kept


async def withdraw_confirmation(state: FSMContext) -> bool:
    """Forget a pending "delete my membership" confirmation (its button stops working); whether
    there was one."""
    if not (await state.get_data()).get(CONFIRMATION_KEY):
        return False
    await state.update_data({CONFIRMATION_KEY: None})
    return True


def confirmation_holds(pressed: EraseConfirm, kept: object, member_number: str, now: datetime) -> bool:
    """Whether the pressed button is the one shown last to this member, and recently."""
    fields = ("member_number", "nonce", "asked_at")
    if not isinstance(kept, dict) or not all(isinstance(kept.get(field), str) for field in fields):
        return False
    asked_at = datetime.fromisoformat(kept["asked_at"])
    return (
        pressed.member_number == member_number == kept["member_number"]
        and secrets.compare_digest(pressed.nonce, kept["nonce"])
        and asked_at <= now <= asked_at + CONFIRM_FOR
    )


def open_button(texts: Texts, builder: InlineKeyboardBuilder) -> None:
    builder.button(text=texts("privacy/buttons/open"), callback_data=PrivacyCallback(action=PrivacyAction.menu))


def menu_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("privacy/buttons/export"), callback_data=PrivacyCallback(action=PrivacyAction.export))
    builder.button(text=texts("privacy/buttons/erase"), callback_data=PrivacyCallback(action=PrivacyAction.erase))
    builder.adjust(1)
    return builder.as_markup()


def ask_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("privacy/buttons/continue"), callback_data=PrivacyCallback(action=PrivacyAction.erase_sure)
    )
    builder.button(text=texts("privacy/buttons/keep"), callback_data=PrivacyCallback(action=PrivacyAction.keep))
    builder.adjust(1)
    return builder.as_markup()


def final_text(texts: Texts, losses: Losses) -> str:
    return texts(
        "privacy/erase_final",
        points=losses.points,
        coupon_count=losses.coupons,
        code_count=losses.reward_codes,
        tier=localized(losses.tier.names, texts.locale) or losses.tier.code,
    )


def final_keyboard(texts: Texts, confirm: EraseConfirm) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("privacy/buttons/confirm"), callback_data=confirm)
    builder.button(text=texts("privacy/buttons/keep"), callback_data=PrivacyCallback(action=PrivacyAction.keep))
    builder.adjust(1)
    return builder.as_markup()


def export_files(texts: Texts, export: MemberExport) -> tuple[BufferedInputFile, BufferedInputFile]:
    """The member's data as a text file in their language, and the same as JSON."""
    name = f"my-data-{export.profile.member_number}-{export.exported_at.date().isoformat()}"
    readable = texts.plain_text("privacy/export_file", export=export)
    machine = export.model_dump_json(indent=2)
    return (
        BufferedInputFile(readable.encode(), filename=f"{name}.txt"),
        BufferedInputFile(machine.encode(), filename=f"{name}.json"),
    )
