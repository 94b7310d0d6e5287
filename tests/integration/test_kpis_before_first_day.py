"""The days before a program's first activity, which the roll-up job never stores: a dashboard
over them builds none of them, so a year-long view of a young program stays cheap."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.kpis import Period, dashboard
from loyalty.kpis.days import build_day
from tests.utils.database import statements
from tests.utils.kpis import local_noon
from tests.utils.members import till_member
from tests.utils.purchases import add_purchase

BEGAN_DAYS_AGO = 6
AMOUNT = 12_800


async def young_program(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> date:
    """A member who joined BEGAN_DAYS_AGO and bought once since; today."""
    today = clock.now().astimezone(settings.zone).date()
    member = await till_member(uow_factory, FixedClock(local_noon(today - timedelta(days=BEGAN_DAYS_AGO))))
    await add_purchase(uow_factory, member, amount_minor=AMOUNT, at=local_noon(today - timedelta(days=2)))
    return today


async def test_a_year_long_dashboard_of_a_young_program_builds_only_its_days(
    engine: AsyncEngine, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    today = await young_program(uow_factory, clock, settings)
    async with uow_factory() as uow:
        with statements(engine) as one_day:
            await build_day(uow, settings, today - timedelta(days=100), now=clock.now())
        with statements(engine) as year:
            board = await dashboard(uow, clock, settings, Period.last(365, today))
    assert board.figures["spend.revenue"].value == AMOUNT
    assert board.figures["spend.revenue"].previous == 0
    assert board.figures["members.total"].previous == 0
    # Its own days, the eve of the first and a little besides; not the ~730 days of the year and
    # the year before it, nor the cohorts' months before it began.
    assert len(year) < (BEGAN_DAYS_AGO + 1 + 10) * len(one_day), (len(year), len(one_day))
