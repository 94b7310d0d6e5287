"""The dashboard against a plain-Python reference over a generated population: roll-ups stored
for the past days, today computed live; a missed day rebuilt, a backdated purchase reflected."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta, timezone
from decimal import Decimal

import hypothesis
import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from db.models import KpiBitmap, KpiDaily, KpiDay, KpiSnapshot, Purchase, TierChange
from db.uow import UnitOfWorkFactory
from entrypoints.cli import app
from loyalty.campaigns.rfm import rfm_counts
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.erasure import erase_member
from loyalty.errors import StoreNotFound
from loyalty.kpis import Period, build_rollups, dashboard
from loyalty.kpis.days import SEGMENT_PREFIX, day_bounds
from loyalty.kpis.segments import preset_days
from tests.conftest import START, TEST_SECRET, reset_tables
from tests.utils.kpis import (
    STORE_CODES,
    Population,
    PurchaseSpec,
    Written,
    breakage,
    populations,
    reference,
    tiers_at,
    write,
)

TODAY = START.astimezone(timezone(timedelta(hours=8))).date()  # 2026-11-24 in Asia/Shanghai


@pytest.fixture
def kpi_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"point_cost_minor": Decimal("0.35")})


async def _check(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, written: Written, period: Period, store: str | None
) -> None:
    store_id = written.stores[store] if store is not None else None
    async with uow_factory() as uow:
        board = await dashboard(uow, clock, settings, period, store)
    expected = reference(written, period, store_id, now=clock.now(), point_cost=settings.point_cost_minor)
    before = reference(written, period.previous(), store_id, now=clock.now(), point_cost=settings.point_cost_minor)
    for key, value in expected.items():
        figure = board.figures[key]
        assert figure.value == pytest.approx(value), f"{key} of {period}"
        assert figure.previous == pytest.approx(before[key]), f"{key} of {period.previous()}"
    _, end = day_bounds(min(period.end, TODAY), settings.zone)
    tiers = tiers_at(written, end)
    async with uow_factory() as uow:
        codes = {tier.rank: tier.code for tier in await uow.program.tiers()}
        assert board.tiers == {codes[rank]: tiers.get(rank, 0) for rank in codes}
        # Segments: as rfm.py counts them, at the start (stored) and at the end (live today).
        # Today's are those of the last night's roll-up, when there is one.
        instant = timedelta(microseconds=1)
        _, start = day_bounds(period.start - timedelta(days=1), settings.zone)
        at_start = await rfm_counts(uow, now=min(start - instant, clock.now()))
        today = clock.now().astimezone(settings.zone).date()
        last_night = today - timedelta(days=1)
        segments_end = end
        if period.end >= today and await uow.kpis.built_days(last_night, last_night):
            segments_end = day_bounds(today, settings.zone)[0]
        at_end = await rfm_counts(uow, now=min(segments_end - instant, clock.now()))
    assert board.segments == {segment: (at_start[segment], at_end[segment]) for segment in at_start}
    revenue = board.charts["revenue"].lines["revenue"]
    assert sum(value or 0 for value in revenue) == expected["spend.revenue"]
    breakage_chart = board.charts["breakage"]
    for label, share in zip(breakage_chart.labels, breakage_chart.lines["expired_share"], strict=True):
        month = date.fromisoformat(label + "-01")
        assert share == pytest.approx(breakage(written, month, end)), f"breakage of {label}"
    new = board.charts["members"].lines["new"]
    assert sum(value or 0 for value in new) == expected["members.new"]


@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    population=populations(),
    length=st.integers(1, 14),
    ends_ago=st.integers(0, 4),
    store=st.sampled_from([None, *STORE_CODES]),
)
async def test_dashboard_matches_the_reference(
    engine: AsyncEngine,
    seed_rows: dict[str, list[dict[str, object]]],
    uow_factory: UnitOfWorkFactory,
    kpi_settings: Settings,
    population: Population,
    length: int,
    ends_ago: int,
    store: str | None,
) -> None:
    await reset_tables(engine, seed_rows)
    clock = FixedClock(START)
    written = await write(uow_factory, population, TODAY)
    built = await build_rollups(uow_factory, clock, kpi_settings)
    note(f"{built} days built")
    end = TODAY - timedelta(days=ends_ago)
    await _check(uow_factory, clock, kpi_settings, written, Period(end - timedelta(days=length - 1), end), store)


async def test_a_missed_day_is_built_again_and_a_backdated_purchase_counted(
    uow_factory: UnitOfWorkFactory, kpi_settings: Settings
) -> None:
    clock = FixedClock(START)
    population = Population(
        joined=(20, 12, 3), erased=(None, None, None),
        purchases=(),
        ledger=(), moves=(), anonymous=(),
    )
    written = await write(uow_factory, population, TODAY)
    assert await build_rollups(uow_factory, clock, kpi_settings) == 20
    # Only the backdating window (7 days + yesterday) is built again on the next run.
    assert await build_rollups(uow_factory, clock, kpi_settings) == kpi_settings.purchase_backdate_days + 1
    # A day lost (its roll-up deleted, as if the job never ran that night) is built again.
    lost = TODAY - timedelta(days=15)
    async with uow_factory() as uow:
        await uow.session.execute(delete(KpiDaily).where(KpiDaily.day == lost))
        await uow.session.execute(delete(KpiDay).where(KpiDay.day == lost))
        await uow.commit()
    assert await build_rollups(uow_factory, clock, kpi_settings) == kpi_settings.purchase_backdate_days + 2
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(KpiDay)) == 20

    # A purchase posted today, dated three days ago: stored days are stale until the next run.
    member_id = written.members[0][0]
    three_ago = TODAY - timedelta(days=3)
    at, _ = day_bounds(three_ago, kpi_settings.zone)
    async with uow_factory() as uow:
        uow.session.add(Purchase(
            member_id=member_id, order_id="late-1", channel="online", amount_minor=4200, currency="CNY",
            purchased_at=at + timedelta(hours=10), points_earned=0, refunded_minor=0, created_at=clock.now(),
        ))
        await uow.commit()
    written.purchases.append((member_id, None, at + timedelta(hours=10), 4200, "CNY"))
    period = Period(three_ago, three_ago)
    async with uow_factory() as uow:
        stale = await dashboard(uow, clock, kpi_settings, period)
    assert stale.figures["spend.revenue"].value == 0
    clock.advance(timedelta(days=1))
    await build_rollups(uow_factory, clock, kpi_settings)
    await _check(uow_factory, clock, kpi_settings, written, period, None)
    async with uow_factory() as uow:
        fresh = await dashboard(uow, clock, kpi_settings, period)
    assert fresh.figures["spend.revenue"].value == 4200
    assert fresh.figures["members.active"].value == 1


async def test_days_without_roll_ups_are_computed_live(uow_factory: UnitOfWorkFactory, kpi_settings: Settings) -> None:
    clock = FixedClock(START)
    population = Population(
        joined=(9, 6, 2), erased=(None, 1, None),
        purchases=(), ledger=(), moves=((0, 5, 2), (0, 1, 1)), anonymous=((0, 4, 5000),),
    )
    written = await write(uow_factory, population, TODAY)
    # No roll-up at all: every day is built from the raw tables, with the same numbers.
    await _check(uow_factory, clock, kpi_settings, written, Period(TODAY - timedelta(days=6), TODAY), None)
    await _check(uow_factory, clock, kpi_settings, written, Period(TODAY - timedelta(days=6), TODAY), "K-A")


async def test_an_unknown_store_is_refused(uow_factory: UnitOfWorkFactory, kpi_settings: Settings) -> None:
    async with uow_factory() as uow:
        with pytest.raises(StoreNotFound):
            await dashboard(uow, FixedClock(START), kpi_settings, Period(TODAY, TODAY), "NOPE")


async def test_cohorts_count_who_bought_in_the_months_after_joining(
    uow_factory: UnitOfWorkFactory, kpi_settings: Settings
) -> None:
    from tests.utils.kpis import PurchaseSpec

    # Today is 24 November: members who joined in August bought (or not) in September, in
    # October, and in November, which has not ended.
    clock = FixedClock(START)
    aug = (TODAY - date(2026, 8, 10)).days
    sep = (TODAY - date(2026, 9, 5)).days
    oct_ = (TODAY - date(2026, 10, 20)).days
    population = Population(
        joined=(aug, aug, aug, aug, sep),
        erased=(None, None, None, None, None),
        purchases=(
            PurchaseSpec(member=0, day=sep, hour=12, store=None, amount=100),
            PurchaseSpec(member=1, day=sep, hour=12, store=0, amount=100),
            PurchaseSpec(member=1, day=oct_, hour=12, store=0, amount=100),
            PurchaseSpec(member=4, day=oct_, hour=12, store=1, amount=100),
        ),
        ledger=(), moves=(), anonymous=(),
    )
    await write(uow_factory, population, TODAY)
    await build_rollups(uow_factory, clock, kpi_settings)
    async with uow_factory() as uow:
        board = await dashboard(uow, clock, kpi_settings, Period.last(30, TODAY))
    rows = {row.month: row for row in board.cohorts}
    assert len(board.cohorts) == 12 and min(rows) == date(2025, 12, 1)
    august, september, november = rows[date(2026, 8, 1)], rows[date(2026, 9, 1)], rows[date(2026, 11, 1)]
    assert august.members == 4
    assert august.retained == {30: 0.5, 90: None, 365: None}
    assert september.members == 1
    assert september.retained == {30: 1.0, 90: None, 365: None}
    assert november.members == 0 and november.retained == {30: None, 90: None, 365: None}
    # Read from the stored month unions; without them, from the days: the same rows.
    async with uow_factory() as uow:
        months = await uow.kpis.bitmaps(date(2026, 8, 1), date(2026, 10, 1), [0], ["buyers.month", "joined.month"])
        assert {(day, name) for day, _, name, _ in months} == {
            (date(2026, month, 1), name) for month in (8, 9, 10) for name in ("buyers.month", "joined.month")
        }
        await uow.session.execute(delete(KpiBitmap).where(KpiBitmap.name.endswith(".month")))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await dashboard(uow, clock, kpi_settings, Period.last(30, TODAY))).cohorts == board.cohorts



async def test_the_cli_builds_every_day_since_the_first_data(
    settings: Settings, uow_factory: UnitOfWorkFactory, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))  # never read a developer's .env
    env = {
        "DATABASE_URL": settings.database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING", "COLUMNS": "200",
    }

    def cli(*args: str) -> Result:
        return CliRunner().invoke(app, ["kpis", *args], env=env)

    refused = await asyncio.to_thread(cli, "rebuild", "--since", "2026-02-30")
    assert refused.exit_code == 2 and "is not a date" in refused.output
    first = date(2026, 11, 1)
    await write(uow_factory, Population((0,), (None,), (), (), (), ()), first)
    built = await asyncio.to_thread(cli, "rebuild")
    assert built.exit_code == 0, built.output
    async with uow_factory() as uow:
        days = sorted((await uow.session.scalars(select(KpiDay.day))).all())
    # The command runs on the system clock: every day from the first data to yesterday, whatever today is.
    assert days[0] == first and days == [first + timedelta(days=n) for n in range(len(days))]
    assert f"{len(days)} days built." in built.output


async def test_an_erased_member_still_counts_but_keeps_no_identity(
    uow_factory: UnitOfWorkFactory, kpi_settings: Settings
) -> None:
    from tests.utils.kpis import PurchaseSpec

    clock = FixedClock(START)
    population = Population(
        joined=(5, 4), erased=(None, None),
        purchases=(PurchaseSpec(member=0, day=3, hour=10, store=0, amount=700),),
        ledger=(), moves=((0, 2, 1),), anonymous=(),
    )
    written = await write(uow_factory, population, TODAY)
    await build_rollups(uow_factory, clock, kpi_settings)
    member_id = written.members[0][0]
    period = Period(TODAY - timedelta(days=6), TODAY - timedelta(days=1))
    async with uow_factory() as uow:
        before = await dashboard(uow, clock, kpi_settings, period)
    async with uow_factory() as uow:
        await erase_member(uow, clock, member_id, actor="test", audited=False)
    await build_rollups(uow_factory, clock, kpi_settings)
    async with uow_factory() as uow:
        after = await dashboard(uow, clock, kpi_settings, period)
        moves = (await uow.session.scalars(select(TierChange))).all()
    # The past does not change: the member joined, bought and moved up, whoever they were.
    for key in ("members.new", "members.total", "members.active", "spend.revenue"):
        assert after.figures[key].value == before.figures[key].value, key
    assert after.charts["tier_moves"].lines == before.charts["tier_moves"].lines
    assert [(move.member_id, move.from_rank, move.to_rank) for move in moves] == [(member_id, 0, 1)]
    # Today the member is gone from the count of members.
    async with uow_factory() as uow:
        today = await dashboard(uow, clock, kpi_settings, Period(TODAY, TODAY))
    assert today.figures["members.total"].value == 1


async def test_a_backfill_scores_segments_only_for_the_presets_and_a_dashboard_scores_another_day_once(
    uow_factory: UnitOfWorkFactory, kpi_settings: Settings
) -> None:
    clock = FixedClock(START)
    population = Population(
        joined=tuple(range(40, 0, -1)), erased=(None,) * 40,
        purchases=tuple(
            PurchaseSpec(member=member, day=(40 - member) // 2, hour=12, store=None, amount=1000 + member)
            for member in range(40)
        ),
        ledger=(), moves=(), anonymous=(),
    )
    await write(uow_factory, population, TODAY)
    assert await build_rollups(uow_factory, clock, kpi_settings) == 40
    yesterday = TODAY - timedelta(days=1)
    first = TODAY - timedelta(days=40)
    expected = {yesterday} | {day for day in preset_days(TODAY) if first <= day <= yesterday}
    assert await _scored_days(uow_factory) == expected
    assert len(expected) < 40

    eve = TODAY - timedelta(days=12)  # the eve of a 12-day period: no preset's
    assert eve not in expected
    period = Period(eve + timedelta(days=1), TODAY)
    async with uow_factory() as uow:
        board = await dashboard(uow, clock, kpi_settings, period)
    assert await _scored_days(uow_factory) == expected | {eve}
    _, eve_end = day_bounds(eve, kpi_settings.zone)
    async with uow_factory() as uow:
        scored = await rfm_counts(uow, now=eve_end - timedelta(microseconds=1))
        stored = await uow.kpis.snapshots_with_prefix(eve, SEGMENT_PREFIX)
        again = await dashboard(uow, clock, kpi_settings, period)
    assert {segment: start for segment, (start, _) in board.segments.items()} == scored
    assert stored == {SEGMENT_PREFIX + segment: count for segment, count in scored.items()}
    assert again.segments == board.segments


async def _scored_days(uow_factory: UnitOfWorkFactory) -> set[date]:
    async with uow_factory() as uow:
        statement = select(KpiSnapshot.day).where(KpiSnapshot.metric.startswith(SEGMENT_PREFIX)).distinct()
        return set((await uow.session.scalars(statement)).all())
