"""Checks shared by the merchant's catalogues (rewards, coupon templates): per-locale texts,
bounded whole numbers, a picture's https address and a tier named by code. Each refusal names the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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


IMAGE_URL_MAX_LENGTH = 500


def image_url(value: Any, name: str = "image_url") -> str | None:
    """An https address of a picture (the chat fetches it from there), or None for none."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text) if text else None
        host = parts.hostname if parts is not None else None
    except ValueError:  # "https://[": a bracket that opens an IPv6 address and never closes
        parts, host = None, None
    if (
        parts is None
        or parts.scheme != "https"
        or not host
        or parts.username is not None
        or len(text) > IMAGE_URL_MAX_LENGTH
        or any(character.isspace() or not character.isprintable() for character in text)
    ):
        raise InvalidInput(f"{name} is an https:// address of at most {IMAGE_URL_MAX_LENGTH} characters", field=name)
    return text
