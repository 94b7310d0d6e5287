"""The Mini App at /app/: the member centre and the staff's pocket till, a page Telegram opens
inside the chat. `install_webapp(app)` serves the page (/app/), its own assets (/app/static/,
vendored, no build step) and the JSON routes under /app/api, which act only for the Telegram
user the signed init data names (api/webapp/auth.py) and go through the same rules as the chat
and the API."""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api.webapp import card, invite, me, offers, places, points, settings, till
from api.webapp.auth import AppRefusal, refusal_response
from api.webapp.page import INDEX, PAGE_HEADERS, STATIC_DIR

APP_PATH = "/app"
API_PREFIX = "/app/api"

api_router = APIRouter(prefix=API_PREFIX, include_in_schema=False)
api_router.include_router(me.router)
api_router.include_router(card.router)
api_router.include_router(invite.router)
api_router.include_router(till.router)
for screen in (points, offers, places, settings):  # the member's screens
    api_router.include_router(screen.router)


class WebAppStatic(StaticFiles):
    """The page's scripts and styles: kept by the browser, checked (ETag, then 304) before each
    use, so a release is taken at once and an unchanged file is not sent again."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


async def index() -> Response:
    return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


async def to_index() -> Response:
    return RedirectResponse(f"{APP_PATH}/", status_code=307)


def install_webapp(app: FastAPI) -> None:
    app.add_api_route(f"{APP_PATH}/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route(APP_PATH, to_index, methods=["GET"], include_in_schema=False)
    app.include_router(api_router)
    app.mount(f"{APP_PATH}/static", WebAppStatic(directory=STATIC_DIR), name="webapp-static")
    app.add_exception_handler(AppRefusal, refusal_response)
