"""The tier ladder as one editable table (owner only): every tier's code, names, thresholds,
multipliers and benefits; the rules' own checks (loyalty/tiers.py) shown beside the field they
refuse; a preview of how many members would move; and saving through loyalty.tiers.put_ladder,
the rules the API's PUT /tiers/{code} applies to one tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.console.deps import CheckedCsrf, OwnerOnly
from api.console.forms import Unreadable, field_of, major, money_minor, whole
from api.console.rendering import PAGE_HEADERS, render
from api.deps import ClockDep, SettingsDep, UowDep
from api.schemas import TierUpsert
from db.models import Tier
from db.uow import UnitOfWork
from loyalty import tiers
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, TierRankTaken

router = APIRouter(prefix="/console/tiers", include_in_schema=False)

COLUMNS = ("code", "rank", "name_en", "name_zh_CN", "spend", "visits", "earn", "birthday", "benefits_en", "benefits_zh_CN")
# The API model's fields, as the table's columns name them.
COLUMN_OF = {
    "code": "code", "rank": "rank", "names": "name_en", "min_spend_minor": "spend", "min_visits": "visits",
    "earn_multiplier_pct": "earn", "birthday_multiplier_pct": "birthday", "benefits": "benefits_en",
}
MAX_ROWS = 50


@dataclass
class Row:
    values: dict[str, str]
    problem: tuple[str, str] | None = None  # (column, problem key)
    spec: tiers.TierSpec | None = field(default=None, repr=False)

    @property
    def code(self) -> str:
        return self.values["code"].strip()


def _row_of(tier: Tier, currency: str) -> Row:
    return Row(values={
        "code": tier.code, "rank": str(tier.rank), "name_en": tier.names.get("en", ""),
        "name_zh_CN": tier.names.get("zh_CN", ""), "spend": major(tier.min_spend_minor, currency),
        "visits": str(tier.min_visits), "earn": str(tier.earn_multiplier_pct),
        "birthday": str(tier.birthday_multiplier_pct),
        "benefits_en": "\n".join((tier.benefits or {}).get("en", [])),
        "benefits_zh_CN": "\n".join((tier.benefits or {}).get("zh_CN", [])),
    })


def _rows_of(form: FormData) -> list[Row]:
    columns = {name: [str(value) for value in form.getlist(name)] for name in COLUMNS}
    count = min(max((len(values) for values in columns.values()), default=0), MAX_ROWS)
    rows = [Row(values={name: (columns[name][i] if i < len(columns[name]) else "") for name in COLUMNS}) for i in range(count)]
    # The blank row under the table adds a tier only when it was filled in.
    return [row for row in rows if any(value.strip() for name, value in row.values.items() if name not in ("earn", "birthday"))]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read(row: Row, currency: str) -> None:
    """The row through the API's own model (TierUpsert); a refusal marks the column."""
    values = row.values
    try:
        body = {
            "rank": whole(values["rank"], "rank"),
            "names": {"en": values["name_en"].strip(), "zh_CN": values["name_zh_CN"].strip()},
            "min_spend_minor": money_minor(values["spend"] or "0", currency, "min_spend_minor"),
            "min_visits": whole(values["visits"] or "0", "min_visits"),
            "earn_multiplier_pct": whole(values["earn"] or "100", "earn_multiplier_pct"),
            "birthday_multiplier_pct": whole(values["birthday"] or "100", "birthday_multiplier_pct"),
            "benefits": {locale: _lines(values[f"benefits_{locale}"]) for locale in ("en", "zh_CN") if _lines(values[f"benefits_{locale}"])},
        }
        row.spec = TierUpsert.model_validate(body).spec()
    except (Unreadable, ValidationError) as refusal:
        name = field_of(refusal, "rank")
        row.problem = (COLUMN_OF.get(name, "rank"), name)


def check(rows: list[Row], currency: str) -> dict[str, tiers.TierSpec] | None:
    """Every row read and the whole ladder checked by the rules; the ladder, or None when a
    row has a problem (then marked on it)."""
    seen: set[str] = set()
    for row in rows:
        _read(row, currency)
        if row.problem is None and row.code in seen:
            row.problem = ("code", "duplicate")
        seen.add(row.code)
    if any(row.problem for row in rows):
        return None
    ladder = {row.code: row.spec for row in rows if row.spec is not None}
    problems = tiers.ladder_problems(ladder)
    for row in rows:
        problem = problems.get(row.code)
        if problem is not None:
            name = problem.field or "rank"
            row.problem = (COLUMN_OF.get(name, "rank"), name)
    return None if problems else ladder


def _page(request: Request, settings: Settings, user: OwnerOnly, rows: list[Row], *, status_code: int = 200, **more: object) -> Response:
    context: dict[str, object] = {"preview": None, "saved": False, "blank": Row(values=dict.fromkeys(COLUMNS, ""))}
    return render(
        request, "tiers.html", settings=settings, user=user, status_code=status_code, nav="tiers", rows=rows,
        columns=COLUMNS, window_months=settings.tier_window_months, grace_days=settings.tier_grace_days,
        **{**context, **more},
    )


@router.get("", response_class=HTMLResponse)
async def ladder_page(request: Request, user: OwnerOnly, uow: UowDep, settings: SettingsDep, saved: str | None = None) -> Response:
    rows = [_row_of(tier, settings.currency) for tier in await tiers.list_tiers(uow)]
    return _page(request, settings, user, rows, saved=saved == "1")


async def _preview(uow: UnitOfWork, clock: Clock, settings: Settings, ladder: dict[str, tiers.TierSpec]) -> tiers.LadderPreview:
    return await tiers.preview_ladder(uow, clock, settings, ladder)


@router.post("", response_class=HTMLResponse)
async def save_ladder(
    request: Request,
    user: CheckedCsrf,
    owner: OwnerOnly,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    action: Annotated[str, Form()] = "preview",
) -> Response:
    rows = _rows_of(await request.form())
    ladder = check(rows, settings.currency)
    if ladder is None:
        return _page(request, settings, owner, rows, status_code=422)
    if action != "save":
        return _page(request, settings, owner, rows, preview=await _preview(uow, clock, settings, ladder))
    try:
        await tiers.put_ladder(uow, clock, ladder, actor=owner.actor)
    except TierRankTaken:
        return _page(request, settings, owner, rows, status_code=409, conflict=True)
    except InvalidInput as refused:
        code, _, name = (refused.field or "").partition(".")
        for row in rows:
            if row.code == code:
                row.problem = (COLUMN_OF.get(name, "rank"), name or "rank")
        return _page(request, settings, owner, rows, status_code=422)
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": "/console/tiers?saved=1"})
