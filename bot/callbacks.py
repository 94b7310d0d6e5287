"""Typed inline-button payloads. Anything that fails to unpack is treated as a stale button."""

from __future__ import annotations

from enum import Enum

from aiogram.filters.callback_data import CallbackData


class ConsentAnswer(str, Enum):
    agree = "agree"
    decline = "decline"


class ConsentCallback(CallbackData, prefix="consent"):
    answer: ConsentAnswer


class LanguageCallback(CallbackData, prefix="lang"):
    locale: str
