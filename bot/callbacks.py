"""Typed inline-button payloads. Anything that fails to unpack is treated as a stale button."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field


class ConsentAnswer(str, Enum):
    agree = "agree"
    decline = "decline"


class ConsentCallback(CallbackData, prefix="consent"):
    answer: ConsentAnswer


class LanguageCallback(CallbackData, prefix="lang"):
    locale: str


class StoreVenueCallback(CallbackData, prefix="venue"):
    """Send this store as a venue; the id is re-checked (active, on the map) when pressed."""

    # A forged id beyond the 32-bit id columns fails to unpack (a stale button), never reaching SQL.
    store_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class CouponCallback(CallbackData, prefix="coupon"):
    """Show this coupon's code and QR; the id is re-checked (the member's own, still usable)."""

    coupon_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class TopicCallback(CallbackData, prefix="topic"):
    """Turn one topic of messages on or off in /settings. It carries the state wanted, not
    "toggle": pressing an old settings message, or twice quickly, sets what its label offered
    instead of flipping back. The topic is checked by loyalty.nudges.preferences."""

    topic: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[a-z_]+$")]
    on: bool
