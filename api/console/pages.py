"""The console's pages. Thin: each reads through a rule in loyalty/ and renders a template.

Owners see every page; marketers the campaigns and the evaluation of promotions, and a 403 page
elsewhere. Without a session every page redirects to /console/signin, which says how to get a
sign-in link.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import dashboard as board_page
from api.console.deps import COOKIE, COOKIE_PATH, CheckedCsrf, CurrentStaff, OwnerOnly
from api.console.rendering import PAGE_HEADERS, render, texts_for
from api.deps import ClockDep, SettingsDep, UowDep
from loyalty import console_access, kpis, stores
from loyalty.campaigns import evaluation as promotion
from loyalty.campaigns import service
from loyalty.campaigns.report import campaign_report
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser, LinkRefused
from loyalty.errors import CampaignNotFound, CampaignStateConflict, InvalidInput, InvalidPeriod, StoreNotFound

router = APIRouter(prefix="/console", include_in_schema=False)

CAMPAIGNS_LISTED = 50


def home_of(user: ConsoleUser) -> str:
    return "/console/" if user.is_owner else "/console/campaigns"


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=PAGE_HEADERS)


@router.get("/signin", response_class=HTMLResponse)
async def signin(request: Request, settings: SettingsDep) -> Response:
    return render(request, "message.html", settings=settings, user=None, page="signin", status_code=200)


@router.get("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: Annotated[str | None, Query()] = None,
) -> Response:
    try:
        opened = await console_access.redeem_link(uow, clock, settings, token)
    except LinkRefused as refused:
        status_code = 403 if refused.reason == "unknown" else 410
        return render(
            request, "message.html", settings=settings, user=None, page=f"link_{refused.reason}", status_code=status_code
        )
    response = _redirect(home_of(opened.user))
    set_session_cookie(response, settings, opened.token)
    return response


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    # Lax, not Strict: the link is opened from Telegram, another site, and a Strict cookie set
    # by that navigation would not come back with the redirect that follows it.
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.console_session_hours * 3600,
        path=COOKIE_PATH,
        httponly=True,
        secure=settings.environment == "production",
        samesite="lax",
    )


@router.post("/logout")
async def logout(user: CheckedCsrf, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    await console_access.sign_out(uow, clock, user)
    response = _redirect("/console/signin")
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, secure=settings.environment == "production", samesite="lax"
    )
    return response


@router.post("/language")
async def language(
    request: Request,
    user: CheckedCsrf,
    uow: UowDep,
    settings: SettingsDep,
    locale: Annotated[str, Form()] = "",
    next_page: Annotated[str, Form(alias="next")] = "/console/",
) -> Response:
    try:
        await console_access.set_language(uow, user, locale)
    except InvalidInput:
        return render(request, "message.html", settings=settings, user=user, page="language", status_code=422)
    return _redirect(_same_site(next_page))


_CONSOLE_PAGE = re.compile(r"/console(?:/[A-Za-z0-9_\-/]*)?(?:\?[A-Za-z0-9_\-.=&%+]*)?")


def _same_site(target: str) -> str:
    """Back to a console page, never elsewhere (an open redirect would lend the console's name):
    a plain /console path with an optional plain query, no "..", no backslash, no host."""
    if not _CONSOLE_PAGE.fullmatch(target) or ".." in target:
        return "/console/"
    return target


@router.get("", include_in_schema=False)
async def console_root() -> Response:
    return _redirect("/console/")


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    user: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    days: Annotated[str | None, Query()] = None,
    start: Annotated[str | None, Query()] = None,
    end: Annotated[str | None, Query()] = None,
    store: Annotated[str | None, Query()] = None,
) -> Response:
    all_stores = await stores.list_stores(uow)
    form = {"days": days or "", "start": start or "", "end": end or "", "store": store or ""}
    context: dict[str, object] = {
        "nav": "dashboard", "stores": all_stores, "form": form, "presets": kpis.PERIOD_PRESETS,
        "board": None, "problem": None, "asked": None,
    }

    def page(status_code: int = 200, **more: object) -> Response:
        return render(request, "dashboard.html", settings=settings, user=user, status_code=status_code, **{**context, **more})

    try:
        asked = board_page.asked_period(days, start, end, today=local_today(clock, settings))
    except board_page.PeriodProblem as problem:
        return page(422, problem=str(problem))
    if store:
        try:
            await stores.find_store(uow, store)
        except StoreNotFound:
            return page(422, problem="store", asked=asked)
    board = await kpis.dashboard(uow, clock, settings, asked.period, store_code=store or None)
    texts = texts_for(settings, user.locale)
    return page(asked=asked, board=board, chart_json=board_page.chart_data(board, texts), heat=board_page.heat, tier_name=board_page.tier_name)


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns(request: Request, user: CurrentStaff, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    rows = []
    for campaign in await service.list_campaigns(uow, limit=CAMPAIGNS_LISTED):
        rows.append((campaign, await service.progress(uow, clock, campaign.id)))
    return render(request, "campaigns.html", settings=settings, user=user, rows=rows, nav="campaigns")


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign(
    request: Request, campaign_id: str, user: CurrentStaff, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    try:
        if not campaign_id.isdigit() or len(campaign_id) > 18:
            raise CampaignNotFound(campaign_id)
        found = await service.get_campaign(uow, int(campaign_id))
        report = await campaign_report(uow, clock, settings, int(campaign_id))
    except CampaignNotFound:
        return render(request, "message.html", settings=settings, user=user, page="not_found", status_code=404)
    return render(request, "campaign.html", settings=settings, user=user, campaign=found, report=report, nav="campaigns")


def local_today(clock: Clock, settings: Settings) -> date:
    return clock.now().astimezone(settings.zone).date()


@router.get("/evaluation", response_class=HTMLResponse)
async def evaluation(
    request: Request,
    user: CurrentStaff,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    campaign: Annotated[str | None, Query()] = None,
    start: Annotated[str | None, Query()] = None,
    end: Annotated[str | None, Query()] = None,
) -> Response:
    """Before, during and after a campaign (or a range of days), beside the hold-out."""
    recent = await service.list_campaigns(uow, limit=CAMPAIGNS_LISTED)
    form = {"campaign": campaign or "", "start": start or "", "end": end or ""}
    context = {"recent": recent, "form": form, "nav": "evaluation", "result": None, "problem": None}

    def page(status_code: int = 200, **more: object) -> Response:
        return render(request, "evaluation.html", settings=settings, user=user, status_code=status_code, **{**context, **more})

    if campaign:
        if not campaign.isdigit() or len(campaign) > 18:
            return page(422, problem="campaign")
        try:
            result = await promotion.evaluate_campaign(uow, clock, settings, int(campaign))
        except CampaignNotFound:
            return page(404, problem="campaign_unknown")
        except CampaignStateConflict:
            return page(409, problem="not_started")
        return page(result=result)
    if start or end:
        first, last = board_page.parse_day(start), board_page.parse_day(end)
        if first is None or last is None:
            return page(422, problem="dates")
        try:
            result = await promotion.evaluate_range(uow, clock, settings, first, last)
        except InvalidPeriod as error:
            return page(422, problem=f"range_{error.reason}")
        return page(result=result)
    return page()
