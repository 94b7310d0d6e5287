"""Sales to non-members, as each till reports them per local day: what the members' share of
sales (spend.contribution) is measured against.

A till reports a day's total (amount and number of sales) for its store, or the online shop
without a store. Reporting the same day again replaces the total: a till sends what it has so
far and corrects it later, and a retry of a lost answer changes nothing. A day is accepted from
today back to PURCHASE_BACKDATE_DAYS ago, the days the roll-up job still rebuilds; an older
day would never reach the dashboard's stored days.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from db.models import AnonymousSale
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, UnknownStore
from loyalty.kpis.days import local_day
from loyalty.money import in_program_currency, not_accepted

log = logging.getLogger(__name__)

MAX_DAY_AMOUNT_MINOR = 10**13  # a hundred billion a day in minor units: anything more is a typo
MAX_DAY_SALES = 10**7


@dataclass(frozen=True)
class SalesReport:
    store_code: str | None  # None: the online shop
    day: date
    amount_minor: int
    currency: str
    sales: int


@dataclass(frozen=True)
class SalesRecorded:
    store_code: str | None
    day: date
    amount_minor: int
    currency: str
    sales: int
    replaced: bool  # the day had a report already, now replaced


async def report_sales(
    uow: UnitOfWork, clock: Clock, settings: Settings, report: SalesReport, *, actor: str
) -> SalesRecorded:
    """Record (or replace) one store's anonymous sales of one day. Audited. Commits."""
    now = clock.now()
    check_report(report, settings, today=local_day(now, settings.zone))
    store_id: int | None = None
    if report.store_code is not None:
        store = await uow.program.store_by_code(report.store_code)
        if store is None:
            raise UnknownStore(f"no store {report.store_code!r}", field="store_code")
        store_id = store.id
    existing = await uow.kpis.put_anonymous_sale(
        AnonymousSale(
            store_id=store_id, day=report.day, amount_minor=report.amount_minor, currency=report.currency,
            sales=report.sales, reported_at=now, reported_by=actor,
        )
    )
    where = report.store_code or "online"
    uow.audit.record(
        at=now, actor=actor, action="sales.report",
        detail=f"{where} {report.day.isoformat()}: {report.amount_minor} {report.currency} in {report.sales} sales"
        + (" (replaced)" if existing is not None else ""),
    )
    await uow.commit()
    log.info("anonymous sales of %s on %s reported by %s", where, report.day, actor)
    return SalesRecorded(
        report.store_code, report.day, report.amount_minor, report.currency, report.sales, existing is not None
    )


def check_report(report: SalesReport, settings: Settings, *, today: date) -> None:
    """The refusals, before anything is read or written."""
    if report.amount_minor < 0:
        raise InvalidInput("amount cannot be negative", field="amount_minor")
    if report.amount_minor > MAX_DAY_AMOUNT_MINOR:
        raise InvalidInput("amount is implausibly large", field="amount_minor")
    if report.sales < 0:
        raise InvalidInput("the number of sales cannot be negative", field="count")
    if report.sales > MAX_DAY_SALES:
        raise InvalidInput("the number of sales is implausibly large", field="count")
    if report.sales == 0 and report.amount_minor > 0:
        raise InvalidInput("an amount needs at least one sale", field="count")
    in_program_currency(report.currency, settings.currency, not_accepted(report.currency, settings.currency))
    if report.day > today:
        raise InvalidInput(f"{report.day.isoformat()} has not come yet (today is {today.isoformat()})", field="day")
    oldest = today - timedelta(days=settings.purchase_backdate_days)
    if report.day < oldest:
        raise InvalidInput(
            f"days before {oldest.isoformat()} can no longer be reported ({settings.purchase_backdate_days} days back at most)",
            field="day",
        )
