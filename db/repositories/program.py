"""The program's configuration as data: tiers, earning rules, stores; and the reads that tier
qualification makes over members' purchases.

The hot paths (every purchase) read the configuration through the process's ProgramCache, as
plain frozen values (TierValue, EarningRuleValue, StoreValue) copied from the rows: an ORM
object belongs to the session that loaded it, and a rollback there expires it, so a cached one
would break every unit of work that read it afterwards (DetachedInstanceError) until its entry
expired. Write paths read and change the rows themselves, uncached."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, String, Text, bindparam, case, cast, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import EarningRule, Member, Purchase, Store, Tier
from db.program_cache import ProgramCache

T = TypeVar("T")


class ProgramRepository:
    def __init__(self, session: AsyncSession, cache: ProgramCache | None = None) -> None:
        self._session = session
        self._cache = cache or ProgramCache(ttl=0)

    # --- cached values for hot paths (see db/program_cache.py) ---

    async def ladder(self) -> tuple[TierValue, ...]:
        """The tiers, lowest rank first."""

        async def load() -> tuple[TierValue, ...]:
            return tuple(TierValue.of(tier) for tier in await self.tiers())

        return await self._cached(("ladder",), load)

    async def live_rules(self) -> tuple[EarningRuleValue, ...]:
        """Every active earning rule of every kind, oldest first."""

        async def load() -> tuple[EarningRuleValue, ...]:
            rules = await self.active_earning_rules(("base", "promotion", "bonus"))
            return tuple(EarningRuleValue.of(rule) for rule in rules)

        return await self._cached(("rules",), load)

    async def store_for(self, code: str) -> StoreValue | None:
        """The store with this code, or None."""

        async def load() -> StoreValue | None:
            store = await self.store_by_code(code)
            return None if store is None else StoreValue.of(store)

        return await self._cached(("store", code), load)

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
        # A session with uncommitted configuration writes reads its own writes, and they stay
        # out of the cache: it may yet roll back.
        if not self._cache.serves(self._session.sync_session):
            return await load()
        found, value = self._cache.get(key)
        if not found:
            value = await load()
            self._cache.put(key, value)
        return value  # type: ignore[no-any-return]

    # --- tiers ---

    async def tiers(self) -> Sequence[Tier]:
        """All tiers, lowest rank first."""
        return (await self._session.scalars(select(Tier).order_by(Tier.rank))).all()

    async def entry_tier(self) -> Tier:
        tier = await self._session.scalar(select(Tier).where(Tier.rank == 0))
        if tier is None:
            raise LookupError("no entry tier (rank 0) is configured")
        return tier

    async def tier(self, tier_id: int) -> Tier | None:
        return await self._session.get(Tier, tier_id)

    async def tier_by_code(self, code: str) -> Tier | None:
        return await self._session.scalar(select(Tier).where(Tier.code == code))

    async def add_tier(self, tier: Tier) -> Tier:
        self._session.add(tier)
        await self._session.flush()
        return tier

    async def members_above_entry(self, *, after_id: int, limit: int) -> Sequence[int]:
        """Ids of members in a tier above rank 0, in id order from `after_id` on (keyset pages)."""
        statement = (
            select(Member.id)
            .join(Tier, Tier.id == Member.tier_id)
            .where(Tier.rank > 0, Member.id > after_id)
            .order_by(Member.id)
            .limit(limit)
        )
        return (await self._session.scalars(statement)).all()

    async def qualifying_totals(
        self, member_id: int, *, since: datetime, until: datetime
    ) -> tuple[int, int]:
        """Net spend and visits (purchases with something left after refunds) with
        since < purchased_at <= until."""
        net = Purchase.amount_minor - Purchase.refunded_minor
        statement = select(
            func.coalesce(func.sum(net), 0), func.coalesce(func.sum(case((net > 0, 1), else_=0)), 0)
        ).where(
            Purchase.member_id == member_id,
            Purchase.purchased_at > since,
            Purchase.purchased_at <= until,
        )
        spend, visits = (await self._session.execute(statement)).one()
        return int(spend), int(visits)

    async def standing_of_members(self, *, since: datetime, until: datetime) -> Sequence[tuple[int, int, int]]:
        """(tier id, net spend, visits) of every member not erased, over the same window as
        qualifying_totals: one grouped read, for previewing a change of the ladder."""
        net = Purchase.amount_minor - Purchase.refunded_minor
        window = (Purchase.member_id == Member.id) & (Purchase.purchased_at > since) & (Purchase.purchased_at <= until)
        statement = (
            select(
                Member.tier_id,
                func.coalesce(func.sum(net), 0),
                func.coalesce(func.sum(case((net > 0, 1), else_=0)), 0),
            )
            .select_from(Member)
            .outerjoin(Purchase, window)
            .where(Member.erased_at.is_(None))
            .group_by(Member.id, Member.tier_id)
        )
        return [(int(row[0]), int(row[1]), int(row[2])) for row in (await self._session.execute(statement)).all()]

    async def qualifying_purchases(
        self, member_id: int, *, since: datetime, until: datetime
    ) -> Sequence[tuple[datetime, int]]:
        """(purchased_at, net amount) of the purchases in the same window, oldest first."""
        statement = (
            select(Purchase.purchased_at, Purchase.amount_minor - Purchase.refunded_minor)
            .where(
                Purchase.member_id == member_id,
                Purchase.purchased_at > since,
                Purchase.purchased_at <= until,
            )
            .order_by(Purchase.purchased_at, Purchase.id)
        )
        return [(row[0], int(row[1])) for row in (await self._session.execute(statement)).all()]

    # --- earning rules ---

    async def earning_rules(
        self, *, kind: str | None = None, active: bool | None = None
    ) -> Sequence[EarningRule]:
        statement = select(EarningRule).order_by(EarningRule.id)
        if kind is not None:
            statement = statement.where(EarningRule.kind == kind)
        if active is not None:
            statement = statement.where(EarningRule.active.is_(active))
        return (await self._session.scalars(statement)).all()

    async def active_earning_rules(self, kinds: Sequence[str]) -> Sequence[EarningRule]:
        statement = (
            select(EarningRule)
            .where(EarningRule.active.is_(True), EarningRule.kind.in_(kinds))
            .order_by(EarningRule.id)
        )
        return (await self._session.scalars(statement)).all()

    async def earning_rule(self, rule_id: int) -> EarningRule | None:
        return await self._session.get(EarningRule, rule_id)

    async def add_earning_rule(self, rule: EarningRule) -> EarningRule:
        self._session.add(rule)
        await self._session.flush()
        return rule

    # --- stores ---

    async def stores(self) -> Sequence[Store]:
        return (await self._session.scalars(select(Store).order_by(Store.code))).all()

    async def store_by_code(self, code: str) -> Store | None:
        return await self._session.scalar(select(Store).where(Store.code == code))

    async def add_store(self, store: Store) -> Store:
        self._session.add(store)
        await self._session.flush()
        return store

    async def add_stores(self, stores: Sequence[Store]) -> None:
        """Add many new stores with one flush (changes to loaded stores are flushed with them)."""
        self._session.add_all(stores)
        await self._session.flush()

    async def store(self, store_id: int) -> Store | None:
        return await self._session.get(Store, store_id)

    async def stores_by_codes(self, codes: Sequence[str]) -> dict[str, Store]:
        found: dict[str, Store] = {}
        for start in range(0, len(codes), 500):  # stay under every backend's bound-parameter limit
            chunk = codes[start : start + 500]
            found.update((s.code, s) for s in await self._session.scalars(select(Store).where(Store.code.in_(chunk))))
        return found

    async def stores_by_ids(self, ids: Sequence[int]) -> Sequence[Store]:
        """The stores with these ids (at most a few hundred: a coupon's scope), by id."""
        return (await self._session.scalars(select(Store).where(Store.id.in_(list(ids))).order_by(Store.id))).all()

    # --- store locations, for the nearest-store search (loyalty/stores.py) ---

    async def located_store_candidates(self, ranges: Sequence[tuple[int, int]]) -> Sequence[LocatedCandidate]:
        """(id, latitude, longitude, timezone, opening_hours) of the active stores whose grid cell
        falls in one of the inclusive ranges."""
        if not ranges:
            return []
        params = {f"low{n}": low for n, (low, _) in enumerate(ranges)}
        params.update({f"high{n}": high for n, (_, high) in enumerate(ranges)})
        rows = await self._session.execute(_candidates_in(len(ranges)), params)
        return rows.all()  # type: ignore[no-any-return]

    async def store_map(self, build: Callable[[LocatedStores], T], *, rows_per_lookup: float) -> T | None:
        """`build(stores)` over every active store on the map, as kept in memory by this process
        (a snapshot of db/program_cache.py, whose `snapshot` says how fresh), or None when this
        lookup should read the database instead."""

        async def load() -> tuple[T, int]:
            rows = (await self._session.execute(_LOCATED_STORES)).all()
            count = len(rows)
            columns: list[list[Any]] = [[row[n] for row in rows] for n in range(len(LocatedStores._fields))]
            del rows  # a row object per store: the largest part of the memory a load takes
            # created_at comes raw and each distinct value is converted once: parsing every row's
            # timestamp would be a third of the load on SQLite.
            dialect = self._session.get_bind().dialect
            convert = _STORES.c.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
            if convert is not None:
                converted = {raw: convert(raw) for raw in set(columns[9])}
                columns[9] = list(map(converted.__getitem__, columns[9]))
            return build(LocatedStores(*columns)), count

        return await self._cache.snapshot(
            ("store map",), self._session.sync_session, load, rows_per_lookup=rows_per_lookup
        )


@dataclass(frozen=True, slots=True)
class TierValue:
    """A tier as the rules read it: a plain copy of its row, shared by every unit of work."""

    id: int
    code: str
    rank: int
    min_spend_minor: int = 0
    min_visits: int = 0
    earn_multiplier_pct: int = 100
    birthday_multiplier_pct: int = 100
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    benefits: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, tier: Tier) -> TierValue:
        return cls(
            id=tier.id, code=tier.code, rank=tier.rank, min_spend_minor=tier.min_spend_minor,
            min_visits=tier.min_visits, earn_multiplier_pct=tier.earn_multiplier_pct,
            birthday_multiplier_pct=tier.birthday_multiplier_pct, names=MappingProxyType(dict(tier.names or {})),
            benefits=MappingProxyType({locale: tuple(items) for locale, items in (tier.benefits or {}).items()}),
        )


@dataclass(frozen=True, slots=True)
class EarningRuleValue:
    """An earning rule as the rules read it: a plain copy of its row."""

    id: int
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

    @classmethod
    def of(cls, rule: EarningRule) -> EarningRuleValue:
        return cls(
            id=rule.id, name=rule.name, kind=rule.kind, points=rule.points, per_amount_minor=rule.per_amount_minor,
            multiplier_pct=rule.multiplier_pct, category=rule.category, event=rule.event,
            starts_at=rule.starts_at, ends_at=rule.ends_at, active=rule.active,
        )


@dataclass(frozen=True, slots=True)
class StoreValue:
    """What a purchase needs of its store: a plain copy of part of its row."""

    id: int
    code: str
    name: str
    city: str | None
    timezone: str
    active: bool

    @classmethod
    def of(cls, store: Store) -> StoreValue:
        return cls(
            id=store.id, code=store.code, name=store.name, city=store.city, timezone=store.timezone,
            active=store.active,
        )


class LocatedStores(NamedTuple):
    """Every active store on the map, column by column, in no particular order."""

    ids: Sequence[int]
    cells: Sequence[int]
    latitudes: Sequence[float]
    longitudes: Sequence[float]
    codes: Sequence[str]
    names: Sequence[str]
    cities: Sequence[str | None]
    addresses: Sequence[str | None]
    timezones: Sequence[str]
    created: Sequence[datetime]
    hours: Sequence[str | None]  # the JSON text; None or "null" when not published


# (id, latitude, longitude, timezone, opening hours): what a search needs of a store.
LocatedCandidate = tuple[int, float, float, str, dict[str, list[list[str]]] | None]
# Table columns rather than the mapped class's: rows come back plain, without the ORM's loading.
_STORES = Store.__table__
_LOCATED_STORES = select(
    _STORES.c.id, _STORES.c.geo_cell, _STORES.c.latitude, _STORES.c.longitude, _STORES.c.code, _STORES.c.name,
    _STORES.c.city, _STORES.c.address, _STORES.c.timezone, type_coerce(_STORES.c.created_at, String),
    cast(_STORES.c.opening_hours, Text),
).where(_STORES.c.active.is_(True), _STORES.c.geo_cell.is_not(None))


@cache
def _candidates_in(ranges: int) -> Select[Any]:
    # One statement per number of ranges, with the bounds as parameters: built once, compiled
    # once, and prepared once by drivers that prepare (asyncpg).
    stores = _STORES.c
    return select(stores.id, stores.latitude, stores.longitude, stores.timezone, stores.opening_hours).where(
        or_(*(stores.geo_cell.between(bindparam(f"low{n}"), bindparam(f"high{n}")) for n in range(ranges))),
        stores.active.is_(True),
    )
