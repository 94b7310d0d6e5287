"""The owner's page for moving from an old program: upload a members CSV (opening balances and
tiers) or a bulk adjustments CSV. Thin: loyalty.member_import holds every rule; a refused file
is answered 422 with every bad line listed, and nothing written."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.rendering import render
from api.deps import ClockDep, SettingsDep, UowDep
from loyalty import member_import
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import ImportRejected

MEMBERS_PATH = "/console/imports/members"
ADJUSTMENTS_PATH = "/console/imports/adjustments"
router = APIRouter(prefix="/console", include_in_schema=False)

Kind = Literal["members", "adjustments"]


def _page(
    request: Request, settings: Settings, user: ConsoleUser, *, status_code: int = 200, kind: Kind | None = None,
    report: object = None, errors: object = None,
) -> Response:
    return render(
        request, "imports.html", settings=settings, user=user, status_code=status_code, nav="imports",
        kind=kind, report=report, errors=errors,
        member_columns=member_import.MEMBER_COLUMNS, adjustment_columns=member_import.ADJUSTMENT_COLUMNS,
    )


@router.get("/imports", response_class=HTMLResponse)
async def imports(request: Request, user: OwnerOnly, settings: SettingsDep) -> Response:
    return _page(request, settings, user)


async def _read(upload: UploadFile | None) -> bytes:
    return await upload.read() if upload is not None else b""


@router.post(MEMBERS_PATH.removeprefix("/console"), response_class=HTMLResponse)
async def import_members(
    request: Request,
    user: CheckedCsrf,
    owner: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        report = await member_import.import_members(uow, clock, settings, await _read(file), actor=owner.actor)
    except ImportRejected as refused:
        return _page(request, settings, owner, status_code=422, kind="members", errors=refused.errors)
    return _page(request, settings, owner, kind="members", report=report)


@router.post(ADJUSTMENTS_PATH.removeprefix("/console"), response_class=HTMLResponse)
async def import_adjustments(
    request: Request,
    user: CheckedCsrf,
    owner: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        report = await member_import.import_adjustments(uow, clock, settings, await _read(file), actor=owner.actor)
    except ImportRejected as refused:
        return _page(request, settings, owner, status_code=422, kind="adjustments", errors=refused.errors)
    return _page(request, settings, owner, kind="adjustments", report=report)
