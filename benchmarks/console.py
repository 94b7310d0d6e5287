"""The console's dashboard (loyalty.kpis.dashboard) over two years of a large program, read from
the daily roll-ups, against the same figures computed from the raw tables.

On PostgreSQL (BENCHMARK_DATABASE_URL, or the local server), in a scratch database dropped
afterwards: 1,000,000 members who joined over two years, 10,000,000 purchases (at 20 stores and
online, after each member joined, 2% refunded in part a few days later) and as many ledger
entries (an earn per purchase, with its lot; a redemption for every eighth), tier moves for 5%
of the members and a day of anonymous sales per store, written with SQL bulk inserts
(generate_series). Then the roll-ups are built for every past day (`build_rollups`, as the
scheduler does), and timed:

- figure: `dashboard()` for the last 30 and the last 365 days (each figure against the previous
  period, the charts, tiers, cohorts, segments), median of 3 after a first call;
- baseline: the same figures (members, spend, points, for the period and the one before it)
  computed straight from the raw tables with aggregate SQL, median of 3.

    python -m benchmarks.console [--quick]

--quick: 20,000 members and 200,000 purchases; --members N --purchases M: another size.
--keep: write the data into a database named for its size and keep it; a later run with --keep
at the same size reuses it (the roll-ups build only the days missing) instead of writing it
again, so the dashboard can be measured again after a change in minutes, not hours.
Target: the dashboard under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from benchmarks.common import DEFAULT_POSTGRES, postgres_server_url, report, scratch_database
from db.crypto import FieldCipher

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
DAYS = 730
STORES = 20
TARGET_MS = 300.0
FULL = (1_000_000, 10_000_000)
QUICK = (20_000, 200_000)
CHUNK = 1_000_000  # purchases per INSERT


def _steps(members: int, purchases: int) -> list[tuple[str, list[str]]]:
    """(what, statements) in order; each statement is a bulk INSERT ... SELECT generate_series."""
    start = f"TIMESTAMPTZ '{(NOW - timedelta(days=DAYS)).isoformat()}'"
    purchase_chunks = [
        f"""
        INSERT INTO purchases (id, member_id, order_id, channel, store_id, amount_minor, currency, purchased_at,
                               points_earned, refunded_minor, created_at)
        SELECT g, m.id, 'B-' || g, CASE WHEN g % 5 = 0 THEN 'online' ELSE 'store' END,
               CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % {STORES} END,
               500 + (g * 7919) % 30000, 'CNY', t.at, (500 + (g * 7919) % 30000) / 100, 0, t.at
        FROM generate_series({first}::bigint, {min(first + CHUNK - 1, purchases)}) AS g
        JOIN members m ON m.id = 1 + (g * 2654435761) % {members}
        CROSS JOIN LATERAL (
            SELECT m.created_at + (TIMESTAMPTZ '{NOW.isoformat()}' - INTERVAL '1 hour' - m.created_at)
                   * (((g * 40503) % 1000000) / 1000000.0) AS at
        ) t
        """
        for first in range(1, purchases + 1, CHUNK)
    ]
    return [
        ("stores", [
            f"""INSERT INTO stores (id, code, name, timezone, active, created_at)
                SELECT g, 'S-' || g, 'Store ' || g, 'Asia/Shanghai', true, {start}
                FROM generate_series(1, {STORES}) AS g""",
        ]),
        ("members", [
            f"""INSERT INTO members (id, member_number, locale, enrolled_via, consent_version, consented_at,
                                     points_balance, tier_id, tier_since, created_at, updated_at)
                SELECT g, lpad(g::text, 10, '0'), 'en', 'till', 'v1', c.at, 0,
                       (SELECT id FROM tiers WHERE rank = 0), c.at, c.at, c.at
                FROM generate_series(1::bigint, {members}) AS g
                CROSS JOIN LATERAL (SELECT {start} + ((g * 104729) % ({DAYS} * 86400)) * INTERVAL '1 second' AS at) c""",
        ]),
        ("purchases", purchase_chunks),
        ("refunds", [
            f"""INSERT INTO refunds (purchase_id, refund_id, amount_minor, points_clawed_back, shortfall_points, refunded_at)
                SELECT id, 'R-' || id, amount_minor / 2, 0, 0,
                       LEAST(purchased_at + (id % 5) * INTERVAL '1 day', TIMESTAMPTZ '{NOW.isoformat()}' - INTERVAL '1 hour')
                FROM purchases WHERE id % 50 = 0""",
            "UPDATE purchases SET refunded_minor = amount_minor / 2 WHERE id % 50 = 0",
        ]),
        ("ledger", [
            """INSERT INTO ledger_entries (id, member_id, at, kind, points, balance_after, purchase_id, actor)
               SELECT id, member_id, purchased_at, 'earn', points_earned, points_earned, id, 'bench'
               FROM purchases WHERE points_earned > 0""",
            """INSERT INTO point_lots (member_id, entry_id, earned_at, expires_at, points, remaining)
               SELECT member_id, id, at, at + INTERVAL '400 days', points, points FROM ledger_entries""",
            f"""INSERT INTO ledger_entries (id, member_id, at, kind, points, balance_after, actor)
                SELECT {purchases} + id, member_id, at + INTERVAL '1 minute', 'redeem', -points, 0, 'bench'
                FROM ledger_entries WHERE id % 8 = 0 AND at + INTERVAL '1 minute' < TIMESTAMPTZ '{NOW.isoformat()}'""",
            f"SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), {2 * purchases + 1})",
        ]),
        ("tier moves", [
            """INSERT INTO tier_changes (member_id, from_rank, to_rank, at)
               SELECT id, 0, 1, created_at + INTERVAL '20 days' FROM members
               WHERE id % 20 = 0 AND created_at + INTERVAL '20 days' < TIMESTAMPTZ '""" + NOW.isoformat() + "'",
        ]),
        ("anonymous sales", [
            f"""INSERT INTO anonymous_sales (store_id, day, amount_minor, currency, sales, reported_at, reported_by)
                SELECT s, d::date, 100000 + s * 1000, 'CNY', 40, d, 'bench'
                FROM generate_series(1, {STORES}) AS s,
                     generate_series({start}, TIMESTAMPTZ '{(NOW - timedelta(days=1)).isoformat()}', INTERVAL '1 day') AS d""",
        ]),
        # VACUUM as autovacuum would have by then: index-only scans need the visibility map.
        ("statistics", ["VACUUM ANALYZE"]),
    ]


async def _populate(url: str, members: int, purchases: int) -> None:
    from db.engine import create_engine

    engine = create_engine(url)
    steps = _steps(members, purchases)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("Writing", total=sum(len(statements) for _, statements in steps))
        for what, statements in steps:
            for statement in statements:
                bar.update(task, description=f"Writing {what}")
                if statement.startswith("VACUUM"):  # not in a transaction
                    async with engine.connect() as connection:
                        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                        await autocommit.execute(text(statement))
                else:
                    async with engine.begin() as connection:
                        await connection.execute(text(statement))
                bar.advance(task)
    await engine.dispose()


@contextmanager
def _kept_database(members: int, purchases: int) -> Iterator[tuple[str, bool]]:
    """(url, whether it holds the data already) of the database kept for this size."""
    from sqlalchemy.engine import make_url

    from db.engine import create_engine
    from db.migrate import upgrade_database

    server = postgres_server_url()
    assert server is not None, "no PostgreSQL server reachable"
    name = f"loyalty_bench_console_{members}_{purchases}"

    async def exists() -> bool:
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            found = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not found:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        return bool(found)

    found = asyncio.run(exists())
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(upgrade_database(url))
    yield url, found


async def _raw_figures(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    """The figures from the raw tables, one aggregate query per group."""
    params = {"start": start, "end": end}
    members = (await session.execute(text(
        "SELECT count(*) FILTER (WHERE created_at < :end), count(*) FILTER (WHERE created_at >= :start AND created_at < :end),"
        " count(*) FILTER (WHERE created_at < :start) FROM members"), params)).one()
    spend = (await session.execute(text(
        "SELECT count(*), coalesce(sum(amount_minor), 0), count(DISTINCT member_id) FROM purchases"
        " WHERE purchased_at >= :start AND purchased_at < :end AND currency = 'CNY'"), params)).one()
    repeat = await session.scalar(text(
        "SELECT count(*) FROM (SELECT member_id FROM purchases WHERE purchased_at >= :start AND purchased_at < :end"
        " GROUP BY member_id HAVING count(*) >= 2) r"), params)
    refunds = await session.scalar(text(
        "SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE refunded_at >= :start AND refunded_at < :end"), params)
    points = (await session.execute(text(
        "SELECT coalesce(sum(points) FILTER (WHERE points > 0 AND at >= :start), 0),"
        " coalesce(-sum(points) FILTER (WHERE kind = 'redeem' AND at >= :start), 0), coalesce(sum(points), 0)"
        " FROM ledger_entries WHERE at < :end"), params)).one()
    anonymous = await session.scalar(text(
        "SELECT coalesce(sum(amount_minor), 0) FROM anonymous_sales WHERE day >= :first AND day <= :last"),
        {"first": start.date(), "last": (end - timedelta(seconds=1)).date()})
    return {"members": tuple(members), "spend": tuple(spend), "repeat": repeat, "refunds": refunds,
            "points": tuple(points), "anonymous": anonymous}


async def _median_ms(call: Callable[[], Awaitable[object]], runs: int = 3) -> float:
    await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _measure(url: str) -> dict[str, dict[str, float]]:
    from db.engine import create_engine, create_session_factory
    from db.uow import UnitOfWorkFactory
    from loyalty.clock import FixedClock
    from loyalty.config import Settings
    from loyalty.kpis import Period, build_rollups, dashboard
    from loyalty.kpis.days import day_bounds, local_day

    settings = Settings(_env_file=None, environment="test", database_url=url, secret_key=SECRET)  # type: ignore[call-arg]
    engine = create_engine(url)
    uow_factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(SECRET))
    clock = FixedClock(NOW)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.perf_counter()
    with Progress(*columns) as bar:
        task = bar.add_task("Roll-ups", total=None)

        def advance(day: date, done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, description=f"Roll-ups {day.isoformat()}")

        built = await build_rollups(uow_factory, clock, settings, progress=advance)
    print(f"roll-ups: {built} days built in {time.perf_counter() - started:.1f} s", flush=True)

    today = local_day(NOW, settings.zone)
    results: dict[str, dict[str, float]] = {}
    for days in (30, 365):
        period = Period.last(days, today)

        async def from_rollups(period: Period = period) -> object:
            async with uow_factory() as uow:
                return await dashboard(uow, clock, settings, period)

        async def from_raw(period: Period = period) -> object:
            async with uow_factory() as uow:
                answers = []
                for each in (period, period.previous()):
                    start, _ = day_bounds(each.start, settings.zone)
                    _, end = day_bounds(each.end, settings.zone)
                    answers.append(await _raw_figures(uow.session, start, end))
                return answers

        results[str(days)] = {"dashboard_ms": await _median_ms(from_rollups), "raw_ms": await _median_ms(from_raw)}
        print(
            f"{days} days: dashboard from roll-ups {results[str(days)]['dashboard_ms']:.1f} ms, "
            f"raw tables {results[str(days)]['raw_ms']:.1f} ms", flush=True,
        )
    await engine.dispose()
    return results


def main() -> None:
    parse = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parse.add_argument("--quick", action="store_true", help="20,000 members and 200,000 purchases")
    parse.add_argument("--members", type=int, help="another size: this many members (with --purchases)")
    parse.add_argument("--purchases", type=int, help="another size: this many purchases")
    parse.add_argument("--keep", action="store_true", help="keep the data in a database named for its size, reuse it next time")
    args = parse.parse_args()
    members, purchases = QUICK if args.quick else FULL
    if args.members or args.purchases:
        members, purchases = args.members or members, args.purchases or purchases
    os.environ.setdefault("BENCH_POSTGRES_URL", os.environ.get("BENCHMARK_DATABASE_URL", DEFAULT_POSTGRES))
    print(f"console: {members:,} members, {purchases:,} purchases over {DAYS} days (PostgreSQL)", flush=True)
    if args.keep:
        with _kept_database(members, purchases) as (url, populated):
            if not populated:
                asyncio.run(_populate(url, members, purchases))
            results = asyncio.run(_measure(url))
    else:
        with scratch_database("postgres") as url:
            asyncio.run(_populate(url, members, purchases))
            results = asyncio.run(_measure(url))
    figure = results["365"]["dashboard_ms"]
    baseline = results["365"]["raw_ms"]
    print(f"365 days: dashboard {figure:.1f} ms vs raw {baseline:.1f} ms = {baseline / figure:.2f}x", flush=True)
    report({
        "benchmark": f"console ({members:,} members, {purchases:,} purchases)",
        "figure": round(figure, 1),
        "unit": "ms (dashboard() over 365 days)",
        "baseline": round(baseline, 1),
        "ratio": round(baseline / figure, 2),
        "target": TARGET_MS,
        "30_days": {key: round(value, 1) for key, value in results["30"].items()},
    })


if __name__ == "__main__":
    main()
