"""Points for a purchase: integer maths with one floor, promotions per line, rule validation."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.repositories.program import EarningRuleValue, TierValue
from loyalty.earning import (
    Line,
    RuleSet,
    RuleSpec,
    check_lines,
    in_window,
    points_for,
    validate_rule,
)
from loyalty.errors import InvalidInput

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
MICRO = timedelta(microseconds=1)


def base_rule(points: int = 1, per_amount_minor: int = 100) -> EarningRuleValue:
    return EarningRuleValue(
        id=1,
        name="Base rate",
        kind="base",
        points=points,
        per_amount_minor=per_amount_minor,
        active=True,
    )


def promotion(
    pct: int,
    *,
    category: str | None = None,
    rule_id: int = 10,
    name: str | None = None,
    **window: datetime,
) -> EarningRuleValue:
    return EarningRuleValue(
        id=rule_id,
        name=name or f"x{pct / 100:g} {category or 'all'}",
        kind="promotion",
        multiplier_pct=pct,
        category=category,
        active=True,
        starts_at=window.get("starts_at"),
        ends_at=window.get("ends_at"),
    )


def tier(earn: int = 100, birthday: int = 100, code: str = "gold") -> TierValue:
    return TierValue(id=3, code=code, rank=2, earn_multiplier_pct=earn, birthday_multiplier_pct=birthday)


def line(amount: int, category: str | None = None) -> Line:
    return Line(sku=f"SKU-{amount}", category=category, quantity=1, amount_minor=amount)


# --- examples ---------------------------------------------------------------------------------


def test_the_seeded_base_rate_is_one_point_per_currency_unit_floored() -> None:
    earned = points_for(
        RuleSet(base_rule(), ()), amount_minor=12_899, lines=(), tier=tier(), birthday_month=False
    )
    assert (earned.base, earned.total, earned.applied) == (128, 128, ("Base rate",))


def test_tier_and_birthday_multiply_on_top_and_are_named() -> None:
    rules = RuleSet(base_rule(), ())
    gold = tier(earn=125, birthday=200)
    earned = points_for(rules, amount_minor=12_800, lines=(), tier=gold, birthday_month=True)
    assert (earned.base, earned.total) == (128, 320)  # 128 x 1.25 x 2
    assert earned.applied == ("Base rate", "tier:gold", "birthday")
    assert (
        points_for(rules, amount_minor=12_800, lines=(), tier=gold, birthday_month=False).total
        == 160
    )


def test_birthday_needs_the_tier_to_give_something() -> None:
    earned = points_for(
        RuleSet(base_rule(), ()), amount_minor=10_000, lines=(), tier=tier(), birthday_month=True
    )
    assert earned.total == 100 and earned.applied == ("Base rate",)


def test_rounding_happens_once_at_the_end_not_per_line_or_multiplier() -> None:
    # Three lines of 0.99 each earn 0.99 points: per-line floors would give 0, the whole 2.97 gives 2.
    lines = (line(99), line(99), line(99))
    earned = points_for(
        RuleSet(base_rule(), ()), amount_minor=297, lines=lines, tier=tier(), birthday_month=False
    )
    assert earned.total == 2
    # 1.99 x 1.10 x 2 = 4.378 earns 4; flooring the base first would give floor(1 x 1.1 x 2) = 2.
    silver = tier(earn=110, birthday=200, code="silver")
    assert (
        points_for(
            RuleSet(base_rule(), ()), amount_minor=199, lines=(), tier=silver, birthday_month=True
        ).total
        == 4
    )


def test_a_category_promotion_applies_to_its_lines_only() -> None:
    coffee = promotion(200, category="coffee", name="Double coffee")
    lines = (line(3_000, "coffee"), line(7_000, "cake"))
    earned = points_for(
        RuleSet(base_rule(), (coffee,)),
        amount_minor=10_000,
        lines=lines,
        tier=tier(),
        birthday_month=False,
    )
    assert (earned.base, earned.total) == (100, 130)
    assert earned.applied == ("Base rate", "Double coffee")


def test_a_category_promotion_without_lines_applies_to_nothing() -> None:
    coffee = promotion(200, category="coffee")
    earned = points_for(
        RuleSet(base_rule(), (coffee,)),
        amount_minor=10_000,
        lines=(),
        tier=tier(),
        birthday_month=False,
    )
    assert earned.total == 100 and earned.applied == ("Base rate",)


def test_promotions_never_stack_each_line_gets_its_best() -> None:
    everything = promotion(150, rule_id=10, name="Weekend x1.5")
    coffee = promotion(300, category="coffee", rule_id=11, name="Coffee x3")
    cake = promotion(120, category="cake", rule_id=12, name="Cake x1.2")
    lines = (line(1_000, "coffee"), line(1_000, "cake"), line(1_000, None))
    rules = RuleSet(base_rule(), (everything, coffee, cake))
    earned = points_for(rules, amount_minor=3_000, lines=lines, tier=tier(), birthday_month=False)
    # coffee x3 (not x4.5), cake gets the better whole-purchase x1.5, the rest x1.5
    assert earned.total == 30 + 15 + 15
    assert earned.applied == ("Base rate", "Coffee x3", "Weekend x1.5")


def test_no_base_rate_earns_nothing_and_is_not_an_error() -> None:
    earned = points_for(
        RuleSet(None, (promotion(200),)),
        amount_minor=50_000,
        lines=(),
        tier=tier(150),
        birthday_month=True,
    )
    assert earned == type(earned)(base=0, total=0, applied=())


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param((line(5_000), line(4_999)), id="short"),
        pytest.param((line(10_000), line(1)), id="over"),
        pytest.param((Line("A", None, 1, -1), line(10_001)), id="negative-line"),
        pytest.param((Line("A", None, 0, 10_000),), id="zero-quantity"),
    ],
)
def test_lines_must_add_up_to_the_amount(lines: tuple[Line, ...]) -> None:
    with pytest.raises(InvalidInput) as error:
        check_lines(10_000, lines)
    assert error.value.details["field"] == "lines"
    with pytest.raises(InvalidInput):
        points_for(
            RuleSet(base_rule(), ()),
            amount_minor=10_000,
            lines=lines,
            tier=tier(),
            birthday_month=False,
        )


def test_no_lines_is_fine_and_zero_lines_are_fine() -> None:
    check_lines(10_000, ())
    check_lines(10_000, (line(10_000), line(0)))


# --- promotion windows at their exact boundaries ----------------------------------------------


def test_a_promotion_applies_from_its_start_inclusive() -> None:
    rule = promotion(200, starts_at=NOW, ends_at=NOW + timedelta(days=7))
    assert not in_window(rule, NOW - MICRO)
    assert in_window(rule, NOW)


def test_a_promotion_stops_at_its_end_exclusive() -> None:
    end = NOW + timedelta(days=7)
    rule = promotion(200, starts_at=NOW, ends_at=end)
    assert in_window(rule, end - MICRO)
    assert not in_window(rule, end)


def test_open_ended_windows() -> None:
    assert in_window(promotion(200), datetime(1970, 1, 2, tzinfo=timezone.utc))
    assert in_window(promotion(200, starts_at=NOW), datetime(9999, 1, 1, tzinfo=timezone.utc))
    assert in_window(promotion(200, ends_at=NOW), datetime(1970, 1, 2, tzinfo=timezone.utc))
    assert not in_window(promotion(200, ends_at=NOW), NOW)


def test_an_inactive_promotion_never_applies() -> None:
    rule = replace(promotion(200), active=False)
    assert not in_window(rule, NOW)


# --- rule validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(
            RuleSpec(name="b", kind="base", points=1), "per_amount_minor", id="base-no-per-amount"
        ),
        pytest.param(
            RuleSpec(name="b", kind="base", per_amount_minor=100), "points", id="base-no-points"
        ),
        pytest.param(
            RuleSpec(name="b", kind="base", points=1, per_amount_minor=100, starts_at=NOW),
            "starts_at",
            id="base-window",
        ),
        pytest.param(
            RuleSpec(name="b", kind="base", points=1, per_amount_minor=100, multiplier_pct=200),
            "multiplier_pct",
            id="base-multiplier",
        ),
        pytest.param(
            RuleSpec(name="p", kind="promotion"), "multiplier_pct", id="promo-no-multiplier"
        ),
        pytest.param(
            RuleSpec(name="p", kind="promotion", multiplier_pct=99),
            "multiplier_pct",
            id="promo-below-x1",
        ),
        pytest.param(
            RuleSpec(name="p", kind="promotion", multiplier_pct=200, points=5),
            "points",
            id="promo-points",
        ),
        pytest.param(
            RuleSpec(name="p", kind="promotion", multiplier_pct=200, starts_at=NOW, ends_at=NOW),
            "ends_at",
            id="empty-window",
        ),
        pytest.param(
            RuleSpec(
                name="p", kind="promotion", multiplier_pct=200, starts_at=NOW, ends_at=NOW - MICRO
            ),
            "ends_at",
            id="reversed-window",
        ),
        pytest.param(RuleSpec(name="x", kind="bonus", points=10), "event", id="bonus-no-event"),
        pytest.param(
            RuleSpec(name="x", kind="bonus", event="birthday", points=10),
            "event",
            id="bonus-unknown-event",
        ),
        pytest.param(
            RuleSpec(name="x", kind="bonus", event="signup"), "points", id="bonus-no-points"
        ),
        pytest.param(
            RuleSpec(name="x", kind="bonus", event="signup", points=0),
            "points",
            id="bonus-zero-points",
        ),
        pytest.param(RuleSpec(name="x", kind="cashback"), "kind", id="unknown-kind"),
        pytest.param(
            RuleSpec(name="  ", kind="promotion", multiplier_pct=200), "name", id="blank-name"
        ),
    ],
)
def test_each_kind_needs_its_fields_and_only_those(spec: RuleSpec, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_rule(spec)
    assert error.value.details["field"] == field


@pytest.mark.parametrize(
    "spec",
    [
        RuleSpec(name="Base", kind="base", points=3, per_amount_minor=1_000),
        RuleSpec(
            name="Coffee", kind="promotion", multiplier_pct=200, category="coffee", starts_at=NOW
        ),
        RuleSpec(name="Welcome", kind="bonus", event="signup", points=100, ends_at=NOW),
    ],
)
def test_valid_rules_pass(spec: RuleSpec) -> None:
    validate_rule(spec)


# --- properties -------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**11)
base_rules = st.builds(
    base_rule, points=st.integers(1, 1_000), per_amount_minor=st.integers(1, 100_000)
)
tiers = st.builds(tier, earn=st.integers(100, 1_000), birthday=st.integers(100, 1_000))
categories = st.sampled_from([None, "coffee", "cake", "beans"])
promotions = st.lists(
    st.builds(
        promotion, st.integers(100, 1_000), category=categories, rule_id=st.integers(1, 10**6)
    ),
    max_size=4,
)


@st.composite
def split(draw: st.DrawFn, amount: int) -> tuple[Line, ...]:
    """`amount` cut into 1-6 lines of random categories."""
    cuts = sorted(draw(st.lists(st.integers(0, amount), max_size=5)))
    edges = [0, *cuts, amount]
    return tuple(
        Line(
            sku=f"S{index}",
            category=draw(categories),
            quantity=draw(st.integers(1, 5)),
            amount_minor=high - low,
        )
        for index, (low, high) in enumerate(itertools.pairwise(edges))
    )


def oracle(
    rules: RuleSet, amount: int, lines: tuple[Line, ...], tier_: TierValue, birthday: bool
) -> int:
    """The same definition with exact fractions: best promotion per line, everything multiplied,
    floored once."""
    assert rules.base is not None
    parts = lines or (Line("", None, 1, amount),)
    exact = Fraction(0)
    for part in parts:
        pcts = [p.multiplier_pct for p in rules.promotions if p.category in (None, part.category)]
        exact += Fraction(part.amount_minor) * Fraction(max(pcts, default=100), 100)
    exact *= Fraction(rules.base.points, rules.base.per_amount_minor)
    exact *= Fraction(tier_.earn_multiplier_pct, 100)
    if birthday:
        exact *= Fraction(tier_.birthday_multiplier_pct, 100)
    return floor(exact)


@given(
    base=base_rules,
    promos=promotions,
    tier_=tiers,
    birthday=st.booleans(),
    data=st.data(),
    amount=amounts,
)
def test_points_equal_the_exact_fraction_floored_once(
    base: EarningRuleValue,
    promos: list[EarningRuleValue],
    tier_: TierValue,
    birthday: bool,
    data: st.DataObject,
    amount: int,
) -> None:
    lines = data.draw(st.one_of(st.just(()), split(amount)))
    rules = RuleSet(base, tuple(promos))
    earned = points_for(
        rules, amount_minor=amount, lines=lines, tier=tier_, birthday_month=birthday
    )
    assert earned.total == oracle(rules, amount, lines, tier_, birthday)
    assert earned.base == floor(Fraction(amount * base.points, base.per_amount_minor))


@given(
    base=base_rules,
    promos=promotions,
    tier_=tiers,
    birthday=st.booleans(),
    data=st.data(),
    amount=amounts,
)
def test_points_are_never_negative_and_never_below_the_base(
    base: EarningRuleValue,
    promos: list[EarningRuleValue],
    tier_: TierValue,
    birthday: bool,
    data: st.DataObject,
    amount: int,
) -> None:
    lines = data.draw(st.one_of(st.just(()), split(amount)))
    earned = points_for(
        RuleSet(base, tuple(promos)),
        amount_minor=amount,
        lines=lines,
        tier=tier_,
        birthday_month=birthday,
    )
    assert 0 <= earned.base <= earned.total


@given(
    base=base_rules, promos=promotions, tier_=tiers, birthday=st.booleans(), a=amounts, b=amounts
)
def test_points_grow_with_the_amount(
    base: EarningRuleValue, promos: list[EarningRuleValue], tier_: TierValue, birthday: bool, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    rules = RuleSet(base, tuple(promos))
    smaller, larger = (
        points_for(rules, amount_minor=amount, lines=(), tier=tier_, birthday_month=birthday)
        for amount in (low, high)
    )
    assert smaller.total <= larger.total
    assert smaller.base <= larger.base


@given(
    base=base_rules,
    whole_purchase_promos=st.lists(
        st.builds(promotion, st.integers(100, 1_000), rule_id=st.integers(1, 10**6)), max_size=3
    ),
    tier_=tiers,
    birthday=st.booleans(),
    data=st.data(),
    amount=amounts,
)
def test_how_an_amount_is_split_into_lines_does_not_change_its_points(
    base: EarningRuleValue,
    whole_purchase_promos: list[EarningRuleValue],
    tier_: TierValue,
    birthday: bool,
    data: st.DataObject,
    amount: int,
) -> None:
    # Without category promotions every line earns alike, so any split earns what one line does.
    lines = data.draw(split(amount))
    for rules in (RuleSet(base, ()), RuleSet(base, tuple(whole_purchase_promos))):
        one = points_for(
            rules, amount_minor=amount, lines=(line(amount),), tier=tier_, birthday_month=birthday
        )
        none = points_for(rules, amount_minor=amount, lines=(), tier=tier_, birthday_month=birthday)
        many = points_for(
            rules, amount_minor=amount, lines=lines, tier=tier_, birthday_month=birthday
        )
        reordered = points_for(
            rules,
            amount_minor=amount,
            lines=tuple(reversed(lines)),
            tier=tier_,
            birthday_month=birthday,
        )
        assert one.total == none.total == many.total == reordered.total
