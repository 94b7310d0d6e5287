"""Money: integer minor units of one ISO 4217 currency (12800 CNY is ¥128.00).

Amounts are never floats, and two currencies never meet in one sum or comparison: adding CNY to
USD is a bug, so it raises rather than yielding a number. Showing an amount to a person (symbol,
decimals, digit grouping per locale) is the front ends' job with Babel, not this module's.

The program accepts money from the outside in one currency, its own, and within plausible
bounds; `accept_amount` and `in_program_currency` are those two checks, used by every rule that
takes an amount or a currency from a till, the API or the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from babel.numbers import list_currencies

from loyalty.errors import InvalidCurrency, InvalidInput

# Larger than any sum the program keeps (a tier's spend threshold is at most 10**15) and far
# inside a signed 64-bit column, so no total of stored amounts overflows one.
MAX_MINOR = 10**15
# An order, a refund or a coupon's value: a billion major units. Anything larger is a typo.
MAX_ORDER_MINOR = 10**11
_CODE = re.compile(r"[A-Z]{3}")


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency_code(code: str) -> bool:
    """Three capital letters that ISO 4217 lists (as Babel knows it): "CNY", not "cny" or "ABC"."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None and code in _iso_codes()


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were added, subtracted or compared."""


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int to Python, never an amount.
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError(f"money is whole minor units, not {type(self.minor).__name__}")
        if not is_currency_code(self.currency):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")
        if not -MAX_MINOR <= self.minor <= MAX_MINOR:
            raise ValueError(f"{self.minor} minor units is beyond what the program keeps (±{MAX_MINOR:,})")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} do not add up")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor


def not_accepted(currency: str, program_currency: str) -> str:
    """The refusal of money a till sent in another currency."""
    return f"this program runs in {program_currency}; {currency} is not accepted"


def in_program_currency(currency: str | None, program_currency: str, refusal: str) -> str:
    """The currency something is priced in: the program's when none was given. Any other is
    refused with `refusal`: the program keeps one currency, so its sums need no exchange rates."""
    chosen = program_currency if currency is None else currency
    if chosen != program_currency:
        raise InvalidCurrency(refusal, field="currency")
    return chosen


def accept_amount(
    amount_minor: int,
    currency: str,
    program_currency: str,
    *,
    too_small: str,
    too_large: str,
    most: int = MAX_ORDER_MINOR,
) -> Money:
    """An amount a till sent for an order or a refund: more than zero, at most `most`, in the
    program's currency. The refusals' words are each caller's (`amount_minor` and `currency`
    are the fields they name), as clients have read them since the endpoints first shipped."""
    if amount_minor <= 0:
        raise InvalidInput(too_small, field="amount_minor")
    if amount_minor > most:
        raise InvalidInput(too_large, field="amount_minor")
    in_program_currency(currency, program_currency, not_accepted(currency, program_currency))
    return Money(amount_minor, currency)
