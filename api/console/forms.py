"""Reading the console's forms: text fields into the numbers the API's models take, and a
refusal (pydantic's or a rule's) into the field it is about, for a sentence beside it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from pydantic import ValidationError

from loyalty.errors import InvalidInput


class Unreadable(ValueError):
    """A field whose text is not the number asked for."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def whole(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise Unreadable(field) from None


def money_minor(text: str, currency: str, field: str) -> int:
    """An amount typed in the currency's main unit ("60", "59.90") in its minor units."""
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise Unreadable(field) from None
    minor = amount.scaleb(get_currency_precision(currency))
    if not amount.is_finite() or minor != minor.to_integral_value():
        raise Unreadable(field)
    return int(minor)


def major(minor: int, currency: str) -> str:
    """Minor units as the form shows them back: "60" or "59.9" (no thousands separator)."""
    text = format(Decimal(minor).scaleb(-get_currency_precision(currency)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def field_of(refusal: ValidationError | InvalidInput | Unreadable, default: str) -> str:
    """The form field a refusal is about."""
    if isinstance(refusal, ValidationError):
        errors = refusal.errors()
        return str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else default
    return refusal.field or default
