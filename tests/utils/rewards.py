"""Factories for rewards and for members with points to spend."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from db.models import Member, Reward
from db.uow import UnitOfWorkFactory
from loyalty import ledger
from loyalty.clock import Clock
from loyalty.rewards import RewardSpec, create_reward
from tests.utils.members import TEST_SETTINGS

_codes = itertools.count(1)

# Values for every variable the rewards/ templates use, for tests that render all templates
# (tests/unit/test_templates.py's SAMPLE): the names are hostile on purpose.
TEMPLATE_SAMPLE: dict[str, object] = {
    "name": "<b>Al & Ex</b>",
    "description": "<i>Any</i> size & any milk",
    "points": 1234567,
    "page": 2,
    "pages": 3,
    "total": 12,
    "value": 3200,
    "currency": "CNY",
    "price": 250,
    "left": 1210,
    "short": 40,
    "tier": "<b>Gold</b>",
    "reason": "insufficient_points",
    "code": "RW-7KQ4-M9XD-2HPA",
    "count": 2,
}


async def make_reward(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    code: str | None = None,
    price: int = 250,
    name: str | None = None,
    zh_name: str | None = None,
    cash_value_minor: int = 3200,
    stock: int | None = None,
    min_tier: str | None = None,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
    active: bool = True,
    description: str | None = None,
) -> Reward:
    code = code or f"R{next(_codes)}"
    spec = RewardSpec(
        code=code,
        names={"en": name or f"Reward {code}", "zh_CN": zh_name or f"礼品 {code}"},
        descriptions={"en": description} if description else {},
        points_price=price,
        cash_value_minor=cash_value_minor,
        stock=stock,
        min_tier=min_tier,
        active_from=active_from,
        active_until=active_until,
        active=active,
    )
    async with uow_factory() as uow:
        definition = await create_reward(uow, clock, spec, program_currency=TEST_SETTINGS.currency, actor="test")
        return definition.reward


async def give_points(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    member: Member,
    points: int,
    *,
    expires_in: timedelta = timedelta(days=365),
) -> None:
    """Credit points the way a purchase would: one lot, under the member's lock."""
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        now = clock.now()
        await ledger.credit(
            uow, locked, points=points, kind="adjust", at=now, expires_at=now + expires_in, actor="test"
        )
        await uow.commit()


async def set_tier(uow_factory: UnitOfWorkFactory, member: Member, tier_code: str) -> None:
    async with uow_factory() as uow:
        tier = await uow.program.tier_by_code(tier_code)
        assert tier is not None, tier_code
        locked = await uow.lock_member(member.id)
        locked.tier_id = tier.id
        await uow.commit()
