"""The program's configuration as data: tiers, earning rules, stores; and the reads that tier
qualification makes over members' purchases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import cache
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

    # --- cached, read-only views for hot paths (see db/program_cache.py) ---

    async def ladder(self) -> tuple[Tier, ...]:
        """The tiers, lowest rank first; read-only."""
        return await self._cached(("ladder",), lambda: self.tiers())

    async def live_rules(self) -> tuple[EarningRule, ...]:
        """Every active earning rule of every kind, oldest first; read-only."""
        return await self._cached(("rules",), lambda: self.active_earning_rules(("base", "promotion", "bonus")))

    async def store_for(self, code: str) -> Store | None:
        """The store with this code, or None; read-only."""
        found, store = self._cache.get(("store", code))
        if not found:
            store = await self.store_by_code(code)
            self._cache.put(("store", code), store)
        return store

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[Sequence[Any]]]) -> tuple[Any, ...]:
        found, value = self._cache.get(key)
        if not found:
            value = tuple(await load())
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
