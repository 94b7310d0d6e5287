"""What a purchase earns, from the earning rules the merchant keeps as data.

Integer maths only. Every multiplier is a percentage (100 = x1), and all of them are applied to
the exact fraction before one floor at the very end, so the result never depends on how the
lines of a purchase were split or ordered: floor(sum(line * promo%) * points * tier% * birthday% /
(per_amount * 100^3)).

This module also holds the merchant's rules for configuring earning rules (create, change,
deactivate): they are validated here, not in the API, so any front end gets the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any

from db.models import EarningRule, RuleKind
from db.repositories.program import EarningRuleValue, TierValue
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidInput, RuleNotFound

KINDS = tuple(RuleKind)
BONUS_EVENTS = ("signup", "first_purchase", "profile_complete")
PCT = 100  # a multiplier of 100 percent leaves points unchanged
MAX_MULTIPLIER_PCT = 1_000  # x10: more is a typo, and would overflow the points of a large purchase
MAX_RULE_POINTS = 1_000_000
MAX_PER_AMOUNT_MINOR = 10**12
NAME_MAX_LENGTH = 80
CATEGORY_MAX_LENGTH = 64

# Which optional fields each kind of rule uses; any other one given is a mistake, not ignored.
REQUIRED_FIELDS = {
    "base": ("points", "per_amount_minor"),
    "promotion": ("multiplier_pct",),
    "bonus": ("event", "points"),
}
ALLOWED_FIELDS = {
    # A base rate has no window: it holds until another replaces it (one base rate at a time).
    "base": {"points", "per_amount_minor"},
    "promotion": {"multiplier_pct", "category", "starts_at", "ends_at"},
    "bonus": {"event", "points", "starts_at", "ends_at"},
}
OPTIONAL_FIELDS = (
    "points",
    "per_amount_minor",
    "multiplier_pct",
    "category",
    "event",
    "starts_at",
    "ends_at",
)


@dataclass(frozen=True)
class Line:
    sku: str
    category: str | None
    quantity: int
    amount_minor: int


@dataclass(frozen=True)
class Earned:
    base: int  # what the base rate alone gives
    total: int  # with promotions, tier and birthday multipliers
    # What contributed, for the receipt: rule names, then "tier:<code>" and "birthday" when they
    # raised the points.
    applied: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    base: EarningRuleValue | None
    promotions: tuple[EarningRuleValue, ...]
    bonuses: tuple[EarningRuleValue, ...] = ()

    def bonus(self, event: str) -> EarningRuleValue | None:
        """The bonus for `event` (the newest, should several be active)."""
        if event not in BONUS_EVENTS:
            raise ValueError(f"unknown bonus event {event!r}")
        matching = [rule for rule in self.bonuses if rule.event == event]
        return max(matching, key=lambda rule: rule.id) if matching else None


# --- computing points ----------------------------------------------------------------------------


def in_window(rule: EarningRuleValue, at: datetime) -> bool:
    """Active and starts_at <= at < ends_at; either end may be open."""
    return (
        rule.active
        and (rule.starts_at is None or rule.starts_at <= at)
        and (rule.ends_at is None or at < rule.ends_at)
    )


async def active_rules(uow: UnitOfWork, *, at: datetime) -> RuleSet:
    rules = [
        rule
        for rule in await uow.program.live_rules()
        if in_window(rule, at)
    ]
    bases = [rule for rule in rules if rule.kind == RuleKind.BASE]
    # Creating a base rate deactivates the previous one; should two ever be active, the newest wins.
    base = max(bases, key=lambda rule: rule.id) if bases else None
    promotions = tuple(
        sorted((rule for rule in rules if rule.kind == RuleKind.PROMOTION), key=lambda rule: rule.id)
    )
    bonuses = tuple(rule for rule in rules if rule.kind == RuleKind.BONUS)
    return RuleSet(base=base, promotions=promotions, bonuses=bonuses)


async def bonus_rule(uow: UnitOfWork, *, event: str, at: datetime) -> EarningRuleValue | None:
    """The bonus granted for `event` at `at` (the newest, should several be active)."""
    return (await active_rules(uow, at=at)).bonus(event)


def check_lines(amount_minor: int, lines: Sequence[Line]) -> None:
    """Lines are optional; given, they must be sane and add up to the purchase amount."""
    if not lines:
        return
    for index, line in enumerate(lines):
        if line.amount_minor < 0 or line.quantity <= 0:
            raise InvalidInput(
                f"line {index + 1} needs an amount of at least 0 and a positive quantity",
                field="lines",
            )
    total = sum(line.amount_minor for line in lines)
    if total != amount_minor:
        raise InvalidInput(
            f"the lines add up to {total}, not to the purchase amount {amount_minor}", field="lines"
        )


def _best_promotion(promotions: Sequence[EarningRuleValue], category: str | None) -> EarningRuleValue | None:
    # Promotions never stack: the line gets the single best one that covers it. Equal
    # multipliers go to the older rule, so the choice is stable.
    best: EarningRuleValue | None = None
    for rule in promotions:
        if rule.category is not None and rule.category != category:
            continue
        if best is None or (rule.multiplier_pct or PCT) > (best.multiplier_pct or PCT):
            best = rule
    return best


def points_for(
    rules: RuleSet,
    *,
    amount_minor: int,
    lines: Sequence[Line],
    tier: TierValue,
    birthday_month: bool,
) -> Earned:
    if amount_minor < 0:
        raise InvalidInput("the amount cannot be negative", field="amount_minor")
    check_lines(amount_minor, lines)
    base_rule = rules.base
    if base_rule is None or base_rule.points is None or base_rule.per_amount_minor is None:
        return Earned(base=0, total=0, applied=())
    parts = lines or (Line(sku="", category=None, quantity=1, amount_minor=amount_minor),)

    applied: list[str] = [base_rule.name]
    weighted = 0  # sum of line amounts times their promotion percentage
    for line in parts:
        promotion = _best_promotion(rules.promotions, line.category)
        if promotion is None or line.amount_minor == 0:
            weighted += line.amount_minor * PCT
            continue
        weighted += line.amount_minor * (promotion.multiplier_pct or PCT)
        if promotion.multiplier_pct != PCT and promotion.name not in applied:
            applied.append(promotion.name)

    tier_pct = tier.earn_multiplier_pct
    if tier_pct != PCT:
        applied.append(f"tier:{tier.code}")
    birthday_pct = tier.birthday_multiplier_pct if birthday_month else PCT
    if birthday_pct != PCT:
        applied.append("birthday")

    base = amount_minor * base_rule.points // base_rule.per_amount_minor
    total = (weighted * base_rule.points * tier_pct * birthday_pct) // (
        base_rule.per_amount_minor * PCT**3
    )
    return Earned(base=base, total=total, applied=tuple(applied))


# --- configuring rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the merchant describes it; which optional fields apply depends on `kind`."""

    name: str
    kind: str
    points: int | None = None
    per_amount_minor: int | None = None
    multiplier_pct: int | None = None
    category: str | None = None
    event: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True


def validate_rule(spec: RuleSpec) -> None:
    if not isinstance(spec.name, str) or not spec.name.strip() or len(spec.name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"a rule's name is 1-{NAME_MAX_LENGTH} characters", field="name")
    if not isinstance(spec.active, bool):
        raise InvalidInput("active is true or false", field="active")
    if spec.kind not in KINDS:
        raise InvalidInput(f"kind is one of {', '.join(KINDS)}", field="kind")
    for name in REQUIRED_FIELDS[spec.kind]:
        if getattr(spec, name) is None:
            raise InvalidInput(f"a {spec.kind} rule needs {name}", field=name)
    for name in OPTIONAL_FIELDS:
        if getattr(spec, name) is not None and name not in ALLOWED_FIELDS[spec.kind]:
            raise InvalidInput(f"{name} does not apply to a {spec.kind} rule", field=name)
    if spec.points is not None and not 0 < spec.points <= MAX_RULE_POINTS:
        raise InvalidInput(f"points is 1-{MAX_RULE_POINTS}", field="points")
    if spec.per_amount_minor is not None and not 0 < spec.per_amount_minor <= MAX_PER_AMOUNT_MINOR:
        raise InvalidInput(
            f"per_amount_minor is 1-{MAX_PER_AMOUNT_MINOR}", field="per_amount_minor"
        )
    if spec.multiplier_pct is not None and not PCT <= spec.multiplier_pct <= MAX_MULTIPLIER_PCT:
        raise InvalidInput(
            f"multiplier_pct is {PCT} (x1) to {MAX_MULTIPLIER_PCT}", field="multiplier_pct"
        )
    if spec.category is not None and not 0 < len(spec.category.strip()) <= CATEGORY_MAX_LENGTH:
        raise InvalidInput(f"a category is 1-{CATEGORY_MAX_LENGTH} characters", field="category")
    if spec.event is not None and spec.event not in BONUS_EVENTS:
        raise InvalidInput(f"event is one of {', '.join(BONUS_EVENTS)}", field="event")
    for name in ("starts_at", "ends_at"):
        moment = getattr(spec, name)
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", field=name)
    if spec.starts_at is not None and spec.ends_at is not None and spec.ends_at <= spec.starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


SPEC_FIELDS = tuple(field.name for field in fields(RuleSpec))


def _in_utc(spec: RuleSpec) -> RuleSpec:
    # Stored and answered in UTC, whatever offset the merchant wrote the window in.
    return replace(
        spec,
        starts_at=spec.starts_at.astimezone(timezone.utc) if spec.starts_at else None,
        ends_at=spec.ends_at.astimezone(timezone.utc) if spec.ends_at else None,
    )


def _spec_of(rule: EarningRule) -> RuleSpec:
    return RuleSpec(**{name: getattr(rule, name) for name in SPEC_FIELDS})


def _detail(rule: EarningRule, **extra: Any) -> str:
    """The audit trail keeps what the rule became, so a change can be read without a diff."""
    values = {name: getattr(rule, name) for name in SPEC_FIELDS if getattr(rule, name) is not None}
    return json.dumps({"id": rule.id, **values, **extra}, default=str, ensure_ascii=False)


async def _one_base_rate(uow: UnitOfWork, rule: EarningRule, *, at: datetime, actor: str) -> None:
    # One base rate at a time: an active base rule replaces the one before it, in the same
    # transaction, so there is never a moment with two rates or with none.
    if rule.kind != RuleKind.BASE or not rule.active:
        return
    for previous in await uow.program.active_earning_rules((RuleKind.BASE,)):
        if previous.id != rule.id:
            previous.active = False
            uow.audit.record(
                at=at,
                actor=actor,
                action="earning_rule.deactivate",
                detail=_detail(previous, replaced_by=rule.id),
            )


async def list_rules(
    uow: UnitOfWork, *, kind: str | None = None, active: bool | None = None
) -> Sequence[EarningRule]:
    return await uow.program.earning_rules(kind=kind, active=active)


async def find_rule(uow: UnitOfWork, rule_id: int) -> EarningRule:
    rule = await uow.program.earning_rule(rule_id)
    if rule is None:
        raise RuleNotFound(f"no earning rule {rule_id}")
    return rule


async def create_rule(uow: UnitOfWork, clock: Clock, spec: RuleSpec, *, actor: str) -> EarningRule:
    validate_rule(spec)
    now = clock.now()
    rule = EarningRule(**asdict(_in_utc(spec)), created_at=now)
    await uow.program.add_earning_rule(rule)
    await _one_base_rate(uow, rule, at=now, actor=actor)
    uow.audit.record(at=now, actor=actor, action="earning_rule.create", detail=_detail(rule))
    await uow.commit()
    return rule


async def update_rule(
    uow: UnitOfWork, clock: Clock, rule_id: int, changes: dict[str, Any], *, actor: str
) -> EarningRule:
    """Change some fields of a rule (its kind stays); the result is validated as a whole."""
    if "kind" in changes:
        raise InvalidInput("a rule's kind cannot change; create a new rule", field="kind")
    rule = await find_rule(uow, rule_id)
    current = _spec_of(rule)
    spec = replace(current, **changes)
    validate_rule(spec)
    spec = _in_utc(spec)
    if spec == current:
        return rule
    now = clock.now()
    for name in changes:
        setattr(rule, name, getattr(spec, name))
    await _one_base_rate(uow, rule, at=now, actor=actor)
    uow.audit.record(
        at=now,
        actor=actor,
        action="earning_rule.update",
        detail=_detail(rule, changed=sorted(changes)),
    )
    await uow.commit()
    return rule


async def deactivate_rule(
    uow: UnitOfWork, clock: Clock, rule_id: int, *, actor: str
) -> EarningRule:
    """Rules are never deleted (purchases and receipts refer to them by name): they stop applying.
    Deactivating the base rate leaves purchases earning nothing until a new one is created."""
    rule = await find_rule(uow, rule_id)
    if rule.active:
        rule.active = False
        uow.audit.record(
            at=clock.now(), actor=actor, action="earning_rule.deactivate", detail=_detail(rule)
        )
        await uow.commit()
    return rule


# --- a sample purchase, for the merchant trying rules out ----------------------------------------


async def sample_points(
    uow: UnitOfWork,
    clock: Clock,
    *,
    amount_minor: int,
    tier_code: str,
    category: str | None = None,
    birthday_month: bool = False,
) -> Earned:
    """What a purchase of `amount_minor` (one line of `category`, when given) made now by a
    member of `tier_code` would earn: the rules and arithmetic a recorded purchase goes through,
    with nothing written."""
    if amount_minor <= 0 or amount_minor > MAX_PER_AMOUNT_MINOR:
        raise InvalidInput(f"the amount is 1-{MAX_PER_AMOUNT_MINOR}", field="amount_minor")
    if category is not None and not 0 < len(category.strip()) <= CATEGORY_MAX_LENGTH:
        raise InvalidInput(f"a category is 1-{CATEGORY_MAX_LENGTH} characters", field="category")
    tier = next((tier for tier in await uow.program.ladder() if tier.code == tier_code), None)
    if tier is None:
        raise InvalidInput(f"no tier {tier_code!r}", field="tier")
    lines = [Line(sku="sample", category=category, quantity=1, amount_minor=amount_minor)] if category else []
    rules = await active_rules(uow, at=clock.now())
    return points_for(rules, amount_minor=amount_minor, lines=lines, tier=tier, birthday_month=birthday_month)
