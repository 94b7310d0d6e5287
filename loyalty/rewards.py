"""The reward catalogue, members redeeming points for rewards, and the till honouring them.

A redemption is one transaction: lock the member, check the reward (on offer, tier, price), take
one unit of a limited stock with a conditional UPDATE, issue the redemption with an unguessable
code, and debit the points against it. Anything refused on the way writes nothing.

A reward is on offer while `active` and inside its window, which is half-open: from
`active_from` (included) until `active_until` (excluded).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from db.models import LedgerKind, Member, RedemptionStatus, Reward, RewardRedemption, Tier
from db.uow import IntegrityError, UnitOfWork
from loyalty import codes, ledger
from loyalty.blocking import refuse_if_blocked
from loyalty.clock import Clock
from loyalty.errors import (
    InsufficientPoints,
    InvalidInput,
    RedemptionNotFound,
    RedemptionNotUsable,
    RewardExists,
    RewardNotFound,
    RewardUnavailable,
    UnknownStore,
)
from loyalty.fields import image_url, texts_by_locale, tier_rank, whole_number
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.money import in_program_currency

log = logging.getLogger(__name__)

REWARD_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NAME_MAX_LENGTH = 80
DESCRIPTION_MAX_LENGTH = 1000
MAX_POINTS_PRICE = ledger.MAX_BALANCE  # dearer than any member can ever afford: a typo
MAX_CASH_VALUE_MINOR = 10**11
MAX_STOCK = 2**31 - 1

CODE_PREFIX = "RW"
CODE_ATTEMPTS = 5


# --- redemption codes ------------------------------------------------------------------------


def new_redemption_code() -> str:
    return codes.new_code(CODE_PREFIX)


def normalize_redemption_code(raw: str) -> str | None:
    return codes.normalize_code(raw, CODE_PREFIX)


# --- what a member sees -----------------------------------------------------------------------


def is_on_offer(reward: Reward, now: datetime) -> bool:
    """Mirrors the catalogue query in db/repositories/rewards.py for one loaded reward."""
    return (
        reward.active
        and (reward.active_from is None or reward.active_from <= now)
        and (reward.active_until is None or now < reward.active_until)
    )


def tier_for_rank(tiers: Sequence[Tier], rank: int) -> Tier | None:
    """The lowest tier at or above `rank`: the tier a reward's minimum actually asks for, even
    after the merchant renumbered the tiers. None if no tier is that high."""
    return min((tier for tier in tiers if tier.rank >= rank), key=lambda tier: tier.rank, default=None)


@dataclass(frozen=True)
class RewardOffer:
    """A reward as one member sees it now."""

    reward: Reward
    available: int  # the member's spendable points
    in_stock: bool
    tier_ok: bool
    required_tier: Tier | None  # the tier the reward needs (None: no tier is high enough)

    @property
    def points_short(self) -> int:
        """How many more points the member needs; 0 when they can pay."""
        return max(0, self.reward.points_price - self.available)

    @property
    def affordable(self) -> bool:
        return self.points_short == 0

    @property
    def can_redeem(self) -> bool:
        return self.reason is None

    @property
    def reason(self) -> str | None:
        """Why not, the most fundamental first: no amount of points fixes a tier or a sell-out."""
        if not self.tier_ok:
            return "tier"
        if not self.in_stock:
            return "out_of_stock"
        if not self.affordable:
            return "insufficient_points"
        return None


@dataclass(frozen=True)
class CataloguePage:
    offers: tuple[RewardOffer, ...]
    page: int
    page_size: int
    total: int
    available: int  # the member's spendable points now

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


@dataclass(frozen=True)
class _Standing:
    available: int
    rank: int
    tiers: Sequence[Tier]

    def offer(self, reward: Reward) -> RewardOffer:
        return RewardOffer(
            reward=reward,
            available=self.available,
            in_stock=reward.stock is None or reward.stock > 0,
            tier_ok=self.rank >= reward.min_tier_rank,
            required_tier=tier_for_rank(self.tiers, reward.min_tier_rank),
        )


async def _standing(uow: UnitOfWork, member: Member, *, available: int) -> _Standing:
    tiers = await uow.program.tiers()
    rank = next((tier.rank for tier in tiers if tier.id == member.tier_id), 0)
    return _Standing(available, rank, tiers)


async def _standing_now(uow: UnitOfWork, member: Member, *, now: datetime) -> _Standing:
    """With the points the member can spend at `now` (lots expired by then excluded)."""
    return await _standing(uow, member, available=await ledger.available(uow, member.id, at=now))


async def catalogue(
    uow: UnitOfWork, member: Member, *, now: datetime, page: int, page_size: int
) -> CataloguePage:
    """One page of the rewards on offer, cheapest first, each with what stands in the way."""
    if page_size < 1:
        raise InvalidInput("page_size must be at least 1", field="page_size")
    if page < 1:
        raise InvalidInput("pages start at 1", field="page")
    rewards, total = await uow.rewards.on_offer(now=now, offset=(page - 1) * page_size, limit=page_size)
    if page > 1 and not rewards:
        raise InvalidInput(f"there is no page {page}", field="page")
    standing = await _standing_now(uow, member, now=now)
    return CataloguePage(
        offers=tuple(standing.offer(reward) for reward in rewards),
        page=page,
        page_size=page_size,
        total=total,
        available=standing.available,
    )


async def offer(uow: UnitOfWork, member: Member, reward_id: int, *, now: datetime) -> RewardOffer:
    """One reward on offer as this member sees it; refused when it is not on offer."""
    reward = await _reward_on_offer(uow, reward_id, now=now)
    return (await _standing_now(uow, member, now=now)).offer(reward)


async def _reward_on_offer(uow: UnitOfWork, reward_id: int, *, now: datetime) -> Reward:
    reward = await uow.rewards.by_id(reward_id)
    if reward is None:
        raise RewardNotFound("no such reward")
    if not is_on_offer(reward, now):
        raise RewardUnavailable("this reward is not on offer", reason="inactive")
    return reward


class Affordable(NamedTuple):
    reward: Reward
    quantity: int  # not `count`, which would hide tuple.count


async def what_points_buy(
    uow: UnitOfWork, member: Member, points: int, *, now: datetime, limit: int = 2
) -> list[Affordable]:
    """What `points` buys this member, in rewards rather than numbers: rewards they may redeem
    now that it pays for and how many of each, the ones they redeemed before first (the ones
    they care about), then the cheapest."""
    if points <= 0 or limit <= 0:
        return []
    rewards, _ = await uow.rewards.on_offer(now=now, max_price=points)
    # As if the member had exactly `points`: what is left is what their tier and the stock allow.
    standing = await _standing(uow, member, available=points)
    before = await uow.rewards.redeemed_reward_ids(member.id)
    usable = [reward for reward in rewards if standing.offer(reward).can_redeem]
    usable.sort(key=lambda reward: (reward.id not in before, reward.points_price, reward.id))
    return [
        Affordable(reward, min(points // reward.points_price, reward.stock if reward.stock is not None else points))
        for reward in usable[:limit]
    ]


# --- redeeming --------------------------------------------------------------------------------


async def redeem(
    uow: UnitOfWork,
    clock: Clock,
    *,
    member_id: int,
    reward_id: int,
    actor: str,
    expected_price: int | None = None,
) -> RewardRedemption:
    """Spend the member's points on one unit of a reward; commits.

    `expected_price` is the price the member agreed to: if the merchant changed it since, the
    redemption is refused (reason "price_changed") rather than charged at a price never shown."""
    member = await uow.lock_member(member_id)
    redemption = await _redeem_locked(
        uow, member, reward_id, now=clock.now(), actor=actor, expected_price=expected_price
    )
    await uow.commit()
    return redemption


@dataclass(frozen=True)
class Redeemed:
    redemption: RewardRedemption
    replayed: bool  # the same request was already carried out; this is its redemption
    balance: int  # the member's points now


async def redeem_once(
    uow: UnitOfWork,
    clock: Clock,
    *,
    member_id: int,
    reward_id: int,
    actor: str,
    key: IdempotencyKey,
    expected_price: int | None = None,
) -> Redeemed:
    """`redeem`, at most once per key: a repeat of the key (a double tap on a confirmation)
    gets the first redemption back. The key is recorded in the redemption's own transaction,
    so it cannot be kept without the redemption or the other way round."""
    now = clock.now()
    member = await uow.lock_member(member_id)
    replay = await previous_answer(uow, key)  # after the lock: a concurrent repeat waits for us
    if replay is not None:
        earlier = await uow.rewards.redemption(int(replay.body["redemption_id"]))
        if earlier is None or earlier.member_id != member.id:
            raise RedemptionNotFound("no such redemption")
        return Redeemed(earlier, replayed=True, balance=member.points_balance)
    redemption = await _redeem_locked(
        uow, member, reward_id, now=now, actor=actor, expected_price=expected_price
    )
    remember(uow, key, StoredAnswer(Outcome.created, {"redemption_id": redemption.id}), at=now, member_id=member.id)
    await uow.commit()
    return Redeemed(redemption, replayed=False, balance=member.points_balance)


async def _redeem_locked(
    uow: UnitOfWork,
    member: Member,
    reward_id: int,
    *,
    now: datetime,
    actor: str,
    expected_price: int | None,
) -> RewardRedemption:
    refuse_if_blocked(member)
    reward = await _reward_on_offer(uow, reward_id, now=now)
    if expected_price is not None and reward.points_price != expected_price:
        raise RewardUnavailable("the price of this reward has changed", reason="price_changed")
    seen = (await _standing_now(uow, member, now=now)).offer(reward)
    refusal = seen.reason
    if refusal == "tier":
        raise RewardUnavailable(
            "the member's tier is too low for this reward", reason="tier", tier=seen.required_tier
        )
    if refusal == "insufficient_points":
        # Checked before the stock so a member who cannot pay never queues on the reward's row;
        # the debit below checks again under the member's lock, which is what makes it safe.
        raise InsufficientPoints(
            f"{reward.points_price} points needed, {seen.available} available",
            needed=reward.points_price,
            available=seen.available,
        )
    if reward.stock is not None and not await uow.rewards.take_one(reward.id):
        raise RewardUnavailable("this reward is out of stock", reason="out_of_stock")
    redemption = await _issue(uow, member, reward, now=now)
    await ledger.debit(
        uow, member, points=reward.points_price, kind=LedgerKind.REDEEM, at=now, actor=actor,
        redemption_id=redemption.id,
    )
    log.info("member %s redeemed reward %s as %s", member.member_number, reward.code, redemption.id)
    return redemption


async def _issue(uow: UnitOfWork, member: Member, reward: Reward, *, now: datetime) -> RewardRedemption:
    for _ in range(CODE_ATTEMPTS):
        redemption = RewardRedemption(
            member_id=member.id,
            reward_id=reward.id,
            code=new_redemption_code(),
            points=reward.points_price,
            status=RedemptionStatus.ISSUED,
            issued_at=now,
        )
        # 60 random bits make a collision all but impossible; the unique constraint decides.
        if await uow.rewards.add_redemption(redemption):
            return redemption
        log.warning("redemption code collision; drawing another")
    raise RuntimeError(f"no unused redemption code in {CODE_ATTEMPTS} tries")


@dataclass(frozen=True)
class OwnRedemption:
    redemption: RewardRedemption
    reward: Reward


async def member_redemptions(uow: UnitOfWork, member: Member, *, limit: int = 10) -> list[OwnRedemption]:
    """The member's own codes still to be used at a till, newest first."""
    rows = await uow.rewards.for_member(member.id, status=RedemptionStatus.ISSUED, limit=limit)
    return [OwnRedemption(redemption, reward) for redemption, reward in rows]


async def member_redemption(uow: UnitOfWork, member: Member, redemption_id: int) -> OwnRedemption:
    """One of the member's own redemptions; anyone else's is "not found", never shown."""
    redemption = await uow.rewards.redemption(redemption_id)
    if redemption is None or redemption.member_id != member.id:
        raise RedemptionNotFound("no such redemption")
    reward = await uow.rewards.by_id(redemption.reward_id)
    assert reward is not None  # a foreign key
    return OwnRedemption(redemption, reward)


# --- the till ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedemptionDetails:
    redemption: RewardRedemption
    reward: Reward
    member_number: str
    store_code: str | None


async def find_redemption(uow: UnitOfWork, code: str) -> RedemptionDetails:
    normal = normalize_redemption_code(code)
    found = await uow.rewards.details_by_code(normal) if normal is not None else None
    if found is None:
        raise RedemptionNotFound("no redemption with this code")
    return RedemptionDetails(*found)


async def use_redemption(
    uow: UnitOfWork, clock: Clock, *, code: str, store_code: str | None, actor: str
) -> RewardRedemption:
    """The till hands the reward over: issued -> used, once; commits."""
    now = clock.now()
    normal = normalize_redemption_code(code)
    store_id = None
    if store_code is not None:
        store = await uow.program.store_by_code(store_code)
        if store is None or not store.active:
            raise UnknownStore(f"no active store {store_code!r}", field="store")
        store_id = store.id
    redemption = await uow.rewards.redemption_by_code(normal) if normal is not None else None
    if redemption is None:
        raise RedemptionNotFound("no redemption with this code")
    if not await uow.rewards.mark_used(redemption.id, at=now, store_id=store_id):
        await uow.rewards.refresh_redemption(redemption)
        when = f" at {redemption.used_at.isoformat()}" if redemption.used_at else ""
        raise RedemptionNotUsable(
            f"this code was already {redemption.status}{when}", reason=redemption.status
        )
    await uow.rewards.refresh_redemption(redemption)
    uow.audit.record(
        at=now,
        actor=actor,
        action="redemption.use",
        member_id=redemption.member_id,
        detail=f"{redemption.code} at {store_code}" if store_code else redemption.code,
    )
    await uow.commit()
    log.info("redemption %s used by %s", redemption.id, actor)
    return redemption


# --- the merchant's catalogue -----------------------------------------------------------------


@dataclass(frozen=True)
class RewardSpec:
    code: str
    names: Mapping[str, str]
    points_price: int
    cash_value_minor: int
    descriptions: Mapping[str, str] = field(default_factory=dict)
    currency: str | None = None  # None: the program's
    stock: int | None = None  # None: unlimited
    min_tier: str | None = None  # a tier code; None: everyone
    active_from: datetime | None = None
    active_until: datetime | None = None
    active: bool = True
    image_url: str | None = None


EDITABLE = frozenset(
    {
        "names",
        "image_url",
        "descriptions",
        "points_price",
        "cash_value_minor",
        "currency",
        "stock",
        "min_tier",
        "active_from",
        "active_until",
        "active",
    }
)


@dataclass(frozen=True)
class RewardDefinition:
    """A reward as the merchant manages it: its minimum tier by code, not by rank."""

    reward: Reward
    min_tier: Tier | None


async def create_reward(
    uow: UnitOfWork, clock: Clock, spec: RewardSpec, *, program_currency: str, actor: str
) -> RewardDefinition:
    if not REWARD_CODE.match(spec.code):
        raise InvalidInput("a reward code is 1-32 of A-Z, a-z, 0-9, _ and -", field="code")
    if await uow.rewards.by_code(spec.code) is not None:
        raise RewardExists(f"a reward with code {spec.code!r} exists")
    now = clock.now()
    values = await _clean(uow, {name: getattr(spec, name) for name in EDITABLE}, program_currency)
    _check_window(values["active_from"], values["active_until"])
    reward = Reward(code=spec.code, created_at=now, **values)
    try:
        await uow.rewards.add(reward)
        uow.audit.record(at=now, actor=actor, action="reward.create", detail=spec.code)
        await uow.commit()
    except IntegrityError as exc:  # created concurrently with the same code
        await uow.rollback()
        raise RewardExists(f"a reward with code {spec.code!r} exists") from exc
    log.info("reward %s created by %s", spec.code, actor)
    return await _definition(uow, reward)


async def update_reward(
    uow: UnitOfWork,
    clock: Clock,
    code: str,
    changes: Mapping[str, Any],
    *,
    program_currency: str,
    actor: str,
) -> RewardDefinition:
    """Change any of a reward's fields; `stock` is set to the value given (None: unlimited)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}", field=min(unknown))
    reward = await find_reward(uow, code)
    values = await _clean(uow, changes, program_currency)
    _check_window(
        values.get("active_from", reward.active_from), values.get("active_until", reward.active_until)
    )
    if values:
        for name, value in values.items():
            setattr(reward, name, value)
        uow.audit.record(
            at=clock.now(),
            actor=actor,
            action="reward.update",
            detail=f"{code}: {json.dumps(_audit_view(changes), default=str, ensure_ascii=False)}",
        )
        await uow.commit()
        log.info("reward %s changed (%s) by %s", code, ", ".join(sorted(values)), actor)
    return await _definition(uow, reward)


async def find_reward(uow: UnitOfWork, code: str) -> Reward:
    reward = await uow.rewards.by_code(code)
    if reward is None:
        raise RewardNotFound(f"no reward {code!r}")
    return reward


async def reward_definition(uow: UnitOfWork, code: str) -> RewardDefinition:
    return await _definition(uow, await find_reward(uow, code))


async def list_rewards(
    uow: UnitOfWork, *, page: int, page_size: int, active: bool | None = None
) -> tuple[list[RewardDefinition], int]:
    rows, total = await uow.rewards.page(offset=(page - 1) * page_size, limit=page_size, active=active)
    tiers = await uow.program.tiers()
    return [RewardDefinition(reward, tier_for_rank(tiers, reward.min_tier_rank)) for reward in rows], total


async def _definition(uow: UnitOfWork, reward: Reward) -> RewardDefinition:
    return RewardDefinition(reward, tier_for_rank(await uow.program.tiers(), reward.min_tier_rank))


def _audit_view(changes: Mapping[str, Any]) -> dict[str, Any]:
    # Texts can be long; the trail says which were changed, the numbers say what to.
    return {name: ("…" if name in ("names", "descriptions") else value) for name, value in changes.items()}


async def _clean(uow: UnitOfWork, values: Mapping[str, Any], program_currency: str) -> dict[str, Any]:
    """Check the given fields and turn them into column values (min_tier -> min_tier_rank)."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "names":
            clean["names"] = texts_by_locale(
                value, field_name="names", any_required=True, max_length=NAME_MAX_LENGTH
            )
        elif name == "image_url":
            clean[name] = image_url(value)
        elif name == "descriptions":
            clean["descriptions"] = texts_by_locale(
                value or {}, field_name="descriptions", required=(), max_length=DESCRIPTION_MAX_LENGTH,
                multiline=True,
            )
        elif name == "points_price":
            clean[name] = whole_number(value, name, low=1, high=MAX_POINTS_PRICE)
        elif name == "cash_value_minor":
            clean[name] = whole_number(value, name, low=0, high=MAX_CASH_VALUE_MINOR)
        elif name == "stock":
            clean[name] = None if value is None else whole_number(value, name, low=0, high=MAX_STOCK)
        elif name == "currency":
            clean[name] = in_program_currency(
                value, program_currency, f"rewards are valued in the program's currency {program_currency}"
            )
        elif name == "min_tier":
            clean["min_tier_rank"] = await tier_rank(uow, value)
        elif name in ("active_from", "active_until"):
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise InvalidInput(f"{name} needs a time zone", field=name)
            clean[name] = value.astimezone(timezone.utc) if value is not None else None
        elif name == "active":
            if not isinstance(value, bool):
                raise InvalidInput("active is true or false", field="active")
            clean[name] = value
    return clean


def _check_window(active_from: datetime | None, active_until: datetime | None) -> None:
    if active_from is not None and active_until is not None and active_until <= active_from:
        raise InvalidInput("active_until must be after active_from", field="active_until")
