"""The dashboard's numbers for a period (marketing), and the anonymous sales tills report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.errors import field_error
from api.route_docs import INVALID, NOT_FOUND
from api.schemas.kpis import KpisPublic, SalesCreate, SalesPublic
from loyalty.errors import InvalidPeriod
from loyalty.kpis import MAX_PERIOD_DAYS, Period, dashboard
from loyalty.kpis.days import local_day
from loyalty.kpis.sales import SalesReport, report_sales

router = APIRouter()
kpis = APIRouter(prefix="/kpis", tags=["kpis"])
sales = APIRouter(prefix="/sales", tags=["kpis"])


def _refuse(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([field_error(["query", field], message, "invalid_period")])


def period_of(days: int | None, start: date | None, end: date | None, today: date) -> Period:
    """The period asked for: the last `days` days up to today, or [start, end]."""
    if days is not None:
        if start is not None or end is not None:
            raise _refuse("days", "give days, or start and end, not both")
        return Period.last(days, today)
    if start is None or end is None:
        raise _refuse("start" if start is None else "end", "give days, or both start and end")
    try:
        return Period.asked(start, end, today=today)
    except InvalidPeriod as error:
        raise _refuse(error.field or "start", str(error)) from None


@kpis.get(
    "",
    summary="The dashboard's numbers for a period",
    description=(
        "Figures (each with its value over the previous period of the same length and the change), "
        "charts, members per tier, cohorts, RFM segments and the campaigns started in the period. "
        "The period is `days` days up to today, or `start` to `end` (local days in the program's "
        f"TIMEZONE, both included, at most {MAX_PERIOD_DAYS} days, not in the future). With `store`, "
        "members.active and the spend figures are that store's; the rest is the program's."
    ),
    responses={404: NOT_FOUND | {"description": "Unknown store"}, 422: INVALID},
)
async def get_kpis(
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    days: Annotated[int | None, Query(ge=1, le=MAX_PERIOD_DAYS, description="The last N days, today included.")] = None,
    start: Annotated[date | None, Query(description="First day (YYYY-MM-DD), with `end`.")] = None,
    end: Annotated[date | None, Query(description="Last day (YYYY-MM-DD), with `start`.")] = None,
    store: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="A store code.")] = None,
) -> KpisPublic:
    period = period_of(days, start, end, local_day(clock.now(), settings.zone))
    return KpisPublic.of(await dashboard(uow, clock, settings, period, store))


@sales.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a day's sales to non-members",
    description=(
        "A till's total of one local day's sales to non-members (amount and count), for its store or, "
        "without `store_code`, the online shop. Reporting the same store and day again replaces the "
        "total (200). Days from today back to PURCHASE_BACKDATE_DAYS are accepted."
    ),
    responses={
        200: {"model": SalesPublic, "description": "The day had a total already: replaced"},
        422: INVALID | {"description": "Invalid input (a negative amount, another currency, a future or too old "
                        "day, an unknown store); `loc` names the field"},
    },
)
async def post_sales(
    body: SalesCreate, response: Response, uow: UowDep, clock: ClockDep, settings: SettingsDep, api_key: ApiKeyDep
) -> SalesPublic:
    recorded = await report_sales(
        uow, clock, settings,
        SalesReport(body.store_code, body.day, body.amount_minor, body.currency, body.count),
        actor=f"apikey:{api_key.name}",
    )
    if recorded.replaced:
        response.status_code = status.HTTP_200_OK
    return SalesPublic.of(recorded)


router.include_router(kpis)
router.include_router(sales)


