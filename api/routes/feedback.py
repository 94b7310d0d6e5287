"""The feedback report: NPS with its interval and the response rate per store, and the comments
(marketing)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ClockDep, SettingsDep, UowDep
from api.route_docs import INVALID, NOT_FOUND
from api.routes.kpis import period_of
from api.schemas.feedback import CommentPublic, CommentsPublic, NpsPublic, NpsReportPublic, StaffNpsPublic
from db.uow import UnitOfWork
from loyalty import feedback
from loyalty.errors import StoreNotFound
from loyalty.kpis import MAX_PERIOD_DAYS
from loyalty.kpis.days import local_day

router = APIRouter(prefix="/feedback", tags=["feedback"])

MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000_000  # keeps the row offset inside a 64-bit integer
PERIOD = (
    "The period is `days` days up to today, or `start` to `end` (local days in the program's TIMEZONE, "
    f"both included, at most {MAX_PERIOD_DAYS} days), by when the survey was owed (the purchase)."
)
Days = Annotated[int | None, Query(ge=1, le=MAX_PERIOD_DAYS, description="The last N days, today included.")]
Start = Annotated[date | None, Query(description="First day (YYYY-MM-DD), with `end`.")]
End = Annotated[date | None, Query(description="Last day (YYYY-MM-DD), with `start`.")]
StoreQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="A store code.")]


async def _store_id(uow: UnitOfWork, code: str | None) -> int | None:
    if code is None:
        return None
    store = await uow.program.store_by_code(code)
    if store is None:
        raise StoreNotFound(f"no store {code!r}")
    return store.id


@router.get(
    "/nps",
    summary="NPS, its 95 % interval and the response rate, in all and per store",
    description=PERIOD + " NPS = % promoters (9-10) − % detractors (0-6); its interval is NPS ± 1.96·√var "
    "with var = (p_P + p_D − (p_P − p_D)²) / n. With `store`, that store only.",
    responses={404: NOT_FOUND | {"description": "Unknown store"}, 422: INVALID},
)
async def get_nps(
    uow: UowDep, clock: ClockDep, settings: SettingsDep, days: Days = None, start: Start = None, end: End = None,
    store: StoreQuery = None,
) -> NpsReportPublic:
    period = period_of(days, start, end, local_day(clock.now(), settings.zone))
    store_id = await _store_id(uow, store)
    since, until = feedback.day_bounds(period.start, period.end, settings.zone)
    result = await feedback.report(uow, since, until, store_id)
    codes = {s.id: s.code for s in await uow.program.stores()}
    names = {person.id: person.name for person in await uow.staff.all()}
    return NpsReportPublic(
        start=period.start, end=period.end, overall=NpsPublic.of(None, result.overall),
        stores=[NpsPublic.of(codes.get(sid) if sid is not None else None, f) for sid, f in result.by_store.items()],
        staff=[
            StaffNpsPublic(
                **NpsPublic.of(None, figure).model_dump(), staff_id=staff_id, staff_name=names.get(staff_id, ""),
            )
            for staff_id, figure in result.by_staff.items()
        ],
    )


@router.get(
    "/comments",
    summary="The survey comments, newest first",
    description=PERIOD + " Only answers with a comment; a page at a time.",
    responses={404: NOT_FOUND | {"description": "Unknown store"}, 422: INVALID},
)
async def get_comments(
    uow: UowDep, clock: ClockDep, settings: SettingsDep, days: Days = None, start: Start = None, end: End = None,
    store: StoreQuery = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> CommentsPublic:
    period = period_of(days, start, end, local_day(clock.now(), settings.zone))
    store_id = await _store_id(uow, store)
    since, until = feedback.day_bounds(period.start, period.end, settings.zone)
    rows = await uow.feedback.comments_between(since, until, store_id, offset=(page - 1) * page_size, limit=page_size)
    codes = {s.id: s.code for s in await uow.program.stores()}
    return CommentsPublic(
        data=[
            CommentPublic(
                store=codes.get(row.store_id) if row.store_id is not None else None, score=row.score or 0,
                comment=row.comment or "", answered_at=row.answered_at or row.created_at,
            )
            for row in rows
        ],
        page=page, page_size=page_size,
    )
