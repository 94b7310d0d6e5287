"""How long a purchase waits while the scheduler's long jobs run: the nudge sweep, a campaign's
start, the points expiry and the tier review over 100,000 members (the population of
benchmarks.nudge_sweep), in the same process as the purchases, as `loyalty run` has them.

A till posts a purchase every 50 ms (each in its own unit of work, through
loyalty.purchases.record_purchase, for a random member) while a job runs; a purchase's wait is
from the moment it is posted to its commit. Each job is preceded by the same purchases with no
job running: the baseline. The nudge sweep runs twice, the second time with one transaction
per kind over every member (`--whole-kinds`): the shape it had before it learnt to commit span
by span.

    python -m benchmarks.purchases_during_sweeps [--quick] [--database sqlite|postgres|both]

Figure: the longest wait of a purchase during the nudge sweep; baseline: the longest with no job
running; ratio: figure / baseline. Target: a purchase waits at most about one span of the sweep,
i.e. no more than TARGET_WAIT_S, at any population.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks.common import databases, parser, report, scratch_database
from benchmarks.nudge_sweep import EXPIRIES, NOW, SECRET, PostgresWriter, SqliteWriter, Writer, _grow, _setup

MEMBERS = 100_000
QUICK_MEMBERS = 10_000
PACE_S = 0.050  # a purchase every 50 ms: 20 a second, a busy network of tills, well within capacity
IDLE_PURCHASES = 100
TARGET_WAIT_S = 0.25


@dataclass
class Waits:
    job_s: float
    waits: list[float]

    @property
    def longest(self) -> float:
        return max(self.waits)

    @property
    def median(self) -> float:
        ordered = sorted(self.waits)
        return ordered[len(ordered) // 2]

    def summary(self) -> dict[str, Any]:
        return {"job_s": round(self.job_s, 3), "purchases": len(self.waits),
                "median_ms": round(self.median * 1000, 1), "longest_ms": round(self.longest * 1000, 1)}


class Till:
    """Posts purchases at PACE_S and records how long each took to commit."""

    def __init__(self, factory: Any, settings: Any, members: int) -> None:
        self._factory, self._settings, self._members = factory, settings, members
        self._orders = itertools.count(1)
        self._rng = random.Random(7)

    async def _one(self, waits: list[float]) -> None:
        from loyalty.clock import FixedClock
        from loyalty.idempotency import IdempotencyKey
        from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase

        order = f"T{next(self._orders)}"
        member = f"B{self._rng.randint(1, self._members):09d}"
        posted = time.perf_counter()
        async with self._factory() as uow:
            await record_purchase(
                uow, FixedClock(NOW), self._settings,
                PurchaseRequest(MemberRef(member_number=member), order, "online", 12_800, "CNY"),
                actor="bench", idempotency=IdempotencyKey("bench", order, order),
            )
        waits.append(time.perf_counter() - posted)

    async def during(self, job: Callable[[], Awaitable[object]] | None) -> Waits:
        """Purchases while `job` runs (or IDLE_PURCHASES of them without one)."""
        waits: list[float] = []
        posted: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        running = asyncio.create_task(job()) if job is not None else None  # type: ignore[arg-type]
        while (running is not None and not running.done()) or (running is None and len(posted) < IDLE_PURCHASES):
            posted.append(asyncio.create_task(self._one(waits)))
            await asyncio.sleep(PACE_S)
        job_s = time.perf_counter() - started
        if running is not None:
            await running
        await asyncio.gather(*posted)
        return Waits(job_s, waits)


async def _measure(url: str, members: int) -> dict[str, Any]:
    from sqlalchemy import text

    from db.crypto import FieldCipher
    from db.engine import create_engine, create_session_factory
    from db.uow import UnitOfWorkFactory
    from loyalty import ledger, tiers
    from loyalty.clock import FixedClock
    from loyalty.config import Settings
    from loyalty.nudges.sweeps import run_sweeps

    engine = create_engine(url)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(SECRET))
    settings = Settings(_env_file=None, environment="test", secret_key=SECRET, database_url=url)  # type: ignore[call-arg]
    till = Till(factory, settings, members)
    clock = FixedClock(NOW)
    spans = "span_members" in inspect.signature(run_sweeps).parameters  # absent before spans existed

    async def empty_outbox() -> None:
        async with factory() as uow:
            await uow.session.execute(text("DELETE FROM notifications"))
            await uow.commit()

    async def sweep(span_members: int | None) -> object:
        extra = {"span_members": span_members} if spans and span_members else {}
        report = await run_sweeps(factory, clock, settings, **extra)
        assert not report.failed and report.total, report
        return report

    results: dict[str, Any] = {}
    await till.during(None)  # warm: the program cache, the connection, the statements

    async def scenario(name: str, job: Callable[[], Awaitable[object]] | None) -> None:
        waits = await till.during(job)
        results[name] = waits.summary()
        print(f"  {name:28} {_line(waits)}", flush=True)

    await scenario("idle", None)
    if spans:
        await empty_outbox()
        await scenario("nudge sweep, whole kinds", lambda: sweep(members + 1))
    await empty_outbox()
    await scenario("nudge sweep", lambda: sweep(None))
    await scenario("idle again", None)
    await scenario("campaign start", lambda: _start_campaign(factory, clock, settings))
    # A month's end: the lots that expired at the first month start in the population are due.
    expiry_clock = FixedClock(EXPIRIES[0] + timedelta(hours=1))
    await scenario("points expiry", lambda: ledger.expire_due(factory, expiry_clock))
    await scenario("tier review", lambda: tiers.review_tiers(factory, clock, settings))
    await engine.dispose()
    return results


async def _start_campaign(factory: Any, clock: Any, settings: Any) -> object:
    """A campaign to every member, sent now, started as the scheduler does."""
    from loyalty.campaigns import service
    from loyalty.campaigns.audience import Audience

    draft = service.CampaignDraft(name="Member day", texts={"en": "Hello", "zh_CN": "你好"}, audience=Audience())
    async with factory() as uow:
        campaign = await service.create_campaign(uow, clock, settings, draft, actor=service.Actor("bench", "owner"))
        await uow.commit()
    started = await service.start_due(factory, clock, settings)
    assert started == [campaign.id], started
    return started


def _line(waits: Waits) -> str:
    return (f"{len(waits.waits):>5} purchases in {waits.job_s:7.2f} s: median {waits.median * 1000:6.1f} ms, "
            f"longest {waits.longest * 1000:7.1f} ms")


def run_one(kind: str, members: int) -> dict[str, Any]:
    with scratch_database(kind) as url:

        async def populate() -> None:
            tier_ids = await _setup(url)
            writer: Writer = PostgresWriter(url) if kind == "postgres" else SqliteWriter(url)
            await writer.open()
            await _grow(writer, 0, members, tier_ids, lambda _: None)
            await writer.prepare_sweep()
            await writer.close()

        asyncio.run(populate())
        print(f"{kind}: {members:,} members", flush=True)
        results = asyncio.run(_measure(url, members))
    return {"database": kind, "members": members, **results}


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    members = QUICK_MEMBERS if args.quick else MEMBERS
    runs = [run_one(kind, members) for kind in databases(args.database)]
    # SQLite first: its single write lock is what this measures.
    main_run = runs[0]
    figure, baseline = main_run["nudge sweep"]["longest_ms"], main_run["idle"]["longest_ms"]
    report(
        {
            "benchmark": "purchases_during_sweeps",
            "figure": figure,
            "unit": "ms",
            "baseline": baseline,
            "ratio": round(figure / baseline, 2),
            "target": TARGET_WAIT_S * 1000,
            "database": main_run["database"],
            "members": members,
            "runs": runs,
        }
    )


if __name__ == "__main__":
    main()
