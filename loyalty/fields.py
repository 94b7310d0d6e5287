"""Checks shared by the merchant's catalogues (rewards, coupon templates): per-locale texts,
bounded whole numbers and a tier named by code. Each refusal names the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from db.uow import UnitOfWork
from loyalty.config import SUPPORTED_LOCALES
from loyalty.errors import InvalidInput
from loyalty.text import check_text


def texts_by_locale(
    value: Any, *, field_name: str, required: Sequence[str] = (), any_required: bool = False, max_length: int,
    multiline: bool = False,
) -> dict[str, str]:
    """{"en": ..., "zh_CN": ...}: supported locales only, those in `required` present (or, with
    `any_required`, at least one), each text 1-`max_length` characters once stripped, without
    control characters (line breaks allowed in a `multiline` text)."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field_name} maps a locale to a text", field=field_name)
    unknown = set(value) - set(SUPPORTED_LOCALES)
    if unknown:
        raise InvalidInput(
            f"{field_name}: unsupported locale {min(unknown)!r}; use {', '.join(SUPPORTED_LOCALES)}",
            field=field_name,
        )
    missing = [locale for locale in required if locale not in value]
    if missing:
        raise InvalidInput(f"{field_name} needs a text in {', '.join(missing)}", field=field_name)
    if any_required and not value:
        raise InvalidInput(
            f"{field_name} needs a text in at least one of {', '.join(SUPPORTED_LOCALES)}", field=field_name
        )
    texts: dict[str, str] = {}
    for locale, text in value.items():
        stripped = text.strip() if isinstance(text, str) else ""
        if not stripped or len(stripped) > max_length:
            raise InvalidInput(f"{field_name}.{locale} must be 1-{max_length} characters", field=field_name)
        texts[locale] = check_text(stripped, f"{field_name}.{locale}", multiline=multiline)
    return texts


def whole_number(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


async def tier_rank(uow: UnitOfWork, code: str | None, *, field_name: str = "min_tier") -> int:
    """The rank of the tier with `code`; 0 (everyone) for None."""
    if code is None:
        return 0
    tier = await uow.program.tier_by_code(code)
    if tier is None:
        raise InvalidInput(f"no tier {code!r}", field=field_name)
    return tier.rank
