"""The coupons chat's buttons and texts. A button carries a coupon id, never trust: the handler
looks the coupon up again among the pressing member's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CouponCallback, StoreVenueCallback
from bot.qr import qr_png
from bot.render import Texts, plain

MAX_LISTED = 10


def coupon_buttons(
    texts: Texts, coupons: Sequence[Mapping[str, Any]], *, store_id: int | None = None
) -> InlineKeyboardMarkup:
    """A "show code" button per coupon, and directions to the store when there is one."""
    builder = InlineKeyboardBuilder()
    for coupon in coupons[:MAX_LISTED]:
        builder.button(
            text=texts("coupons/buttons/show", name=plain(str(coupon["name"]))),
            callback_data=CouponCallback(coupon_id=int(coupon["id"])),
        )
    if store_id is not None:
        builder.button(text=texts("coupons/buttons/directions"), callback_data=StoreVenueCallback(store_id=store_id))
    builder.adjust(1)
    return builder.as_markup()


def code_photo(code: str) -> BufferedInputFile:
    # The QR holds the bare code, exactly what a till sends to POST /coupons/redeem.
    return BufferedInputFile(qr_png(code), filename=f"{code}.png")
