"""Money without a database: what a value may hold, sums within one currency, and the checks
every rule applies to an amount from the outside."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loyalty.errors import InvalidCurrency, InvalidInput
from loyalty.money import (
    MAX_MINOR,
    MAX_ORDER_MINOR,
    CurrencyMismatch,
    Money,
    accept_amount,
    in_program_currency,
    is_currency_code,
)

CURRENCIES = st.sampled_from(["CNY", "USD", "EUR", "JPY", "GBP", "HKD", "KWD"])
MINOR = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)
# Small enough that a sum of three stays inside the bounds.
THIRD = st.integers(min_value=-(MAX_MINOR // 3), max_value=MAX_MINOR // 3)


def money(minor: st.SearchStrategy[int] = THIRD) -> st.SearchStrategy[Money]:
    return st.builds(Money, minor, CURRENCIES)


@given(MINOR, CURRENCIES)
def test_a_value_keeps_what_it_was_given_and_cannot_change(minor: int, currency: str) -> None:
    value = Money(minor, currency)
    assert (value.minor, value.currency) == (minor, currency)
    assert value == Money(minor, currency) and hash(value) == hash(Money(minor, currency))
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.minor = minor + 1  # type: ignore[misc]


@given(st.one_of(st.integers(max_value=-MAX_MINOR - 1), st.integers(min_value=MAX_MINOR + 1)), CURRENCIES)
def test_amounts_beyond_the_bounds_are_refused(minor: int, currency: str) -> None:
    with pytest.raises(ValueError):
        Money(minor, currency)


@pytest.mark.parametrize("minor", [1.5, 100.0, "100", True, None])
def test_only_whole_minor_units_are_money(minor: object) -> None:
    with pytest.raises(TypeError):
        Money(minor, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["cny", "CN", "CNYY", "ABC", "", " CNY", "CNY\n", "元"])
def test_currency_codes_are_iso_4217(code: str) -> None:
    assert not is_currency_code(code)
    with pytest.raises(ValueError):
        Money(100, code)


@given(st.text(max_size=4))
def test_a_currency_code_is_three_capital_letters(code: str) -> None:
    if is_currency_code(code):
        assert len(code) == 3 and code.isascii() and code.isupper() and code.isalpha()


@given(money(), money(), money())
def test_sums_in_one_currency_behave_like_the_integers(a: Money, b: Money, c: Money) -> None:
    b, c = Money(b.minor, a.currency), Money(c.minor, a.currency)
    zero = Money.zero(a.currency)
    assert a + zero == a == zero + a
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    negated = -a
    assert a - a == zero and a + negated == zero and -negated == a
    assert (a + b).minor == a.minor + b.minor and (a - b).minor == a.minor - b.minor
    assert (a - b) + b == a


@given(money(), money())
def test_order_follows_the_minor_units_within_one_currency(a: Money, b: Money) -> None:
    b = Money(b.minor, a.currency)
    assert (a < b) == (a.minor < b.minor) and (a <= b) == (a.minor <= b.minor)
    assert (a > b) == (a.minor > b.minor) and (a >= b) == (a.minor >= b.minor)
    assert a.is_positive == (a > Money.zero(a.currency))


@given(money(), money())
def test_two_currencies_never_add_up_or_compare(a: Money, b: Money) -> None:
    assume(a.currency != b.currency)
    for combine in (
        lambda: a + b, lambda: a - b, lambda: a < b, lambda: a <= b, lambda: a > b, lambda: a >= b
    ):
        with pytest.raises(CurrencyMismatch):
            combine()
    assert a != b


def test_money_does_not_mix_with_bare_numbers() -> None:
    with pytest.raises(TypeError):
        Money(100, "CNY") + 100  # type: ignore[operator]
    assert Money(100, "CNY") != 100


@given(MINOR, MINOR)
def test_a_sum_beyond_the_bounds_raises_rather_than_keeps_it(a: int, b: int) -> None:
    total = a + b
    if abs(total) <= MAX_MINOR:
        assert (Money(a, "CNY") + Money(b, "CNY")).minor == total
    else:
        with pytest.raises(ValueError):
            Money(a, "CNY") + Money(b, "CNY")


# --- what the program accepts ----------------------------------------------------------------


@given(st.integers(min_value=1, max_value=MAX_ORDER_MINOR))
def test_an_order_amount_in_the_program_currency_is_accepted(amount: int) -> None:
    accepted = accept_amount(amount, "CNY", "CNY", too_small="small", too_large="large")
    assert accepted == Money(amount, "CNY")


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_ORDER_MINOR + 1)), CURRENCIES)
def test_an_amount_out_of_range_is_refused_on_its_field_before_the_currency(amount: int, currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        accept_amount(amount, currency, "CNY", too_small="small", too_large="large")
    assert not isinstance(refused.value, InvalidCurrency)
    assert refused.value.field == "amount_minor"
    assert str(refused.value) == ("small" if amount <= 0 else "large")


@pytest.mark.parametrize("currency", ["USD", "cny", "ABC"])
def test_another_currency_is_refused_naming_both(currency: str) -> None:
    with pytest.raises(InvalidCurrency) as refused:
        accept_amount(100, currency, "CNY", too_small="small", too_large="large")
    assert refused.value.field == "currency"
    assert str(refused.value) == f"this program runs in CNY; {currency} is not accepted"


def test_a_priced_thing_defaults_to_the_program_currency_and_refuses_others() -> None:
    assert in_program_currency(None, "CNY", "no") == "CNY"
    assert in_program_currency("CNY", "CNY", "no") == "CNY"
    with pytest.raises(InvalidCurrency) as refused:
        in_program_currency("EUR", "CNY", "rewards are valued in the program's currency CNY")
    assert (str(refused.value), refused.value.field) == ("rewards are valued in the program's currency CNY", "currency")
