"""The referral program (owners and marketers read it, owners change it): the terms as a form,
read by the API's own model and set by loyalty/referrals.py as PUT /referral-program does, and
the funnel of a period with its top referrers, as GET /referrals/report gives it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.console.dashboard import parse_day
from api.console.deps import CheckedCsrf, ConsoleRefusal, CurrentStaff, OwnerOnly
from api.console.forms import Unreadable, field_of, major, money_minor, whole
from api.console.rendering import PAGE_HEADERS, render
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas.referrals import ReferralTerms
from db.uow import UnitOfWork
from loyalty import coupons, referrals
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.console_access import ConsoleUser
from loyalty.errors import InvalidInput

router = APIRouter(prefix="/console/referrals", include_in_schema=False)

NUMBERS = ("reward_points", "hold_days", "monthly_cap", "total_cap", "burst_size", "burst_minutes", "daily_join_limit")
FIELDS = ("active", "friend_coupon", "reward_coupon", "min_purchase", *NUMBERS)
READERS = ("owner", "marketer")
REPORT_DAYS = 30
TOP_REFERRERS = 20


def _reader(user: ConsoleUser) -> ConsoleUser:
    if user.role not in READERS:
        raise ConsoleRefusal(403, "forbidden", user)
    return user


def _form_of(terms: referrals.Terms | None, settings: Settings) -> dict[str, str]:
    shown = terms or referrals.Terms(active=False)
    form = {name: "" if getattr(shown, name) is None else str(getattr(shown, name)) for name in NUMBERS}
    return {
        **form,
        "active": "1" if shown.active else "",
        "friend_coupon": shown.friend_coupon or "",
        "reward_coupon": shown.reward_coupon or "",
        "min_purchase": major(shown.min_purchase_minor, settings.currency),
    }


def _body(form: dict[str, str], settings: Settings) -> dict[str, Any]:
    """The API's JSON body for the form; an empty field is left to the model's default (or none)."""
    body: dict[str, Any] = {"active": form["active"] == "1"}
    for name in ("friend_coupon", "reward_coupon"):
        body[name] = form[name].strip() or None
    if form["min_purchase"].strip():
        body["min_purchase_minor"] = money_minor(form["min_purchase"], settings.currency, "min_purchase_minor")
    for name in NUMBERS:
        text = form[name].strip()
        if text:
            body[name] = whole(text, name)
        elif name in ("monthly_cap", "total_cap"):
            body[name] = None
    return body


def _period(request: Request, clock: Clock, settings: Settings) -> tuple[date, date]:
    today = clock.now().astimezone(settings.zone).date()
    end = parse_day(request.query_params.get("end")) or today
    start = parse_day(request.query_params.get("start")) or end - timedelta(days=REPORT_DAYS - 1)
    return (start, end) if start <= end else (end, start)


async def _page(
    request: Request, uow: UnitOfWork, clock: Clock, settings: Settings, user: ConsoleUser, *,
    status_code: int = 200, **more: Any,
) -> Response:
    start, end = _period(request, clock, settings)
    report = await referrals.report(
        uow, settings,
        start=datetime.combine(start, time(), settings.zone),
        end=datetime.combine(end + timedelta(days=1), time(), settings.zone),
        page=1, page_size=TOP_REFERRERS,
    )
    templates, _ = await coupons.list_templates(uow, page=1, page_size=500)
    context: dict[str, Any] = {
        "nav": "referrals", "form": _form_of(await referrals.current_terms(uow), settings), "problem": None,
        "saved": request.query_params.get("saved") == "1",
    }
    context.update(more)
    return render(
        request, "referrals.html", settings=settings, user=user, status_code=status_code,
        report=report, start=start, end=end, templates=[t.template.code for t in templates],
        cost=lambda funnel: referrals.reward_cost(funnel, settings), **context,
    )


@router.get("", response_class=HTMLResponse)
async def referrals_page(request: Request, user: CurrentStaff, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    return await _page(request, uow, clock, settings, _reader(user))


@router.post("", response_class=HTMLResponse)
async def save_terms(
    request: Request, user: CheckedCsrf, owner: OwnerOnly, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    posted = await request.form()
    form = {name: str(posted.get(name) or "") for name in FIELDS}
    try:
        terms = ReferralTerms.model_validate(_body(form, settings)).terms()
        await referrals.set_terms(uow, clock, terms, actor=owner.actor)
    except (Unreadable, ValidationError, InvalidInput) as refused:
        await uow.rollback()
        return await _page(request, uow, clock, settings, owner, status_code=422, form=form, problem=field_of(refused, "active"))
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": "/console/referrals?saved=1"})
