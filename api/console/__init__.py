"""The merchant's web console at /console: server-rendered pages for the owner and marketers,
served by the API's own process. `install_console(app)` adds its routes, static files and the
pages it answers refusals with."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api.console import campaigns, feedback, imports, members, pages, referrals, stores, team
from api.console.deps import ConsoleRefusal, SignInNeeded
from api.console.rendering import PAGE_HEADERS, STATIC_DIR, render
from api.console.setup import routers as setup_routers
from loyalty.config import Settings

SIGN_IN_PAGE = "/console/signin"
# Form uploads of a CSV file: bounded like a text/csv body (api/request_limits.py).
CSV_UPLOAD_PATHS = frozenset({stores.IMPORT_PATH, imports.MEMBERS_PATH, imports.ADJUSTMENTS_PATH})


class ConsoleStatic(StaticFiles):
    """The stylesheet and scripts, which browsers may keep but must check (ETag, then 304)
    before each use: a new release's files are taken at once, and an unchanged 200 KB chart
    library is not sent to a phone on every page."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def install_console(app: FastAPI) -> None:
    app.include_router(campaigns.router)  # before pages': /console/campaigns/new is not a campaign id
    app.include_router(pages.router)
    app.include_router(members.router)
    app.include_router(stores.router)
    app.include_router(team.router)
    app.include_router(imports.router)
    app.include_router(referrals.router)
    app.include_router(feedback.router)
    for part in setup_routers:
        app.include_router(part)
    app.mount("/console/static", ConsoleStatic(directory=STATIC_DIR), name="console-static")

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        if request.headers.get("HX-Request"):  # htmx follows a redirect in place; a full page load is wanted
            return Response(status_code=204, headers={**PAGE_HEADERS, "HX-Redirect": SIGN_IN_PAGE})
        return RedirectResponse(SIGN_IN_PAGE, status_code=303, headers=PAGE_HEADERS)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleRefusal)
        settings: Settings = request.app.state.settings
        return render(request, "message.html", settings=settings, user=exc.user, page=exc.page, status_code=exc.status)

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(ConsoleRefusal, refused)
