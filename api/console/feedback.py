"""The feedback page (owners and marketers): NPS with its interval and the response rate per
store over the last days, and the latest comments. Thin: loyalty.feedback computes the figures,
the same ones GET /api/v1/feedback/nps answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.deps import ConsoleRefusal, CurrentStaff
from api.console.rendering import render
from api.deps import ClockDep, SettingsDep, UowDep
from loyalty import feedback
from loyalty.kpis.days import local_day

router = APIRouter(prefix="/console", include_in_schema=False)

PERIODS = (7, 30, 90)
LATEST_COMMENTS = 20


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(
    request: Request, user: CurrentStaff, uow: UowDep, clock: ClockDep, settings: SettingsDep,
    days: Annotated[int, Query()] = 30,
) -> Response:
    if user.role not in ("owner", "marketer"):  # a cashier works the till, not the reports
        raise ConsoleRefusal(403, "forbidden", user)
    if days not in PERIODS:  # a hand-edited address: the default period rather than an error page
        days = 30
    today = local_day(clock.now(), settings.zone)
    since, until = feedback.day_bounds(today - timedelta(days=days - 1), today, settings.zone)
    result = await feedback.report(uow, since, until)
    names = {store.id: store.name for store in await uow.program.stores()}
    comments = await uow.feedback.comments_between(since, until, None, offset=0, limit=LATEST_COMMENTS)
    return render(
        request, "feedback.html", settings=settings, user=user, nav="feedback", days=days, periods=PERIODS,
        overall=result.overall,
        stores=[(names.get(store_id) if store_id is not None else None, figure) for store_id, figure in result.by_store.items()],
        comments=[(names.get(row.store_id) if row.store_id is not None else None, row) for row in comments],
        zone=settings.zone,
    )
