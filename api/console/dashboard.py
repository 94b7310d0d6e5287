"""The owner's dashboard page: the period and store asked for, the KPI engine's Dashboard
(loyalty.kpis.dashboard), and the chart data handed to the page's script as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.numbers import get_currency_precision
from markupsafe import Markup

from api.console.texts import ConsoleTexts
from loyalty.errors import InvalidPeriod
from loyalty.i18n import localized
from loyalty.kpis import PERIOD_PRESETS, Dashboard, Period

DEFAULT_DAYS = 30
# Line charts draw these as bars: counts per month, not a level over time.
BAR_CHARTS = frozenset({"tier_moves", "breakage"})
SCALE_APART = 10  # lines this many times apart get an axis each


class PeriodProblem(ValueError):
    """A period that cannot be shown; the value is the key of the message that says why."""


@dataclass(frozen=True)
class Asked:
    period: Period
    days: int | None  # a preset, or None for a custom range


def parse_day(value: str | None) -> date | None:
    """A day from a form or query field (YYYY-MM-DD); None when it is empty or not a day."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def asked_period(days: str | None, start: str | None, end: str | None, *, today: date) -> Asked:
    """The period from the page's query: a preset number of days ending today, or a custom
    range of local days (both ends included). PeriodProblem names what is wrong."""
    if start or end:
        first, last = parse_day(start), parse_day(end)
        if first is None or last is None:
            raise PeriodProblem("dates")
        try:
            return Asked(Period.asked(first, last, today=today), None)
        except InvalidPeriod as error:
            raise PeriodProblem(f"range_{error.reason}") from None
    if days is None or days == "":
        return Asked(Period.last(DEFAULT_DAYS, today), DEFAULT_DAYS)
    if not days.isdigit() or int(days) not in PERIOD_PRESETS:
        raise PeriodProblem("days")
    return Asked(Period.last(int(days), today), int(days))


def chart_data(board: Dashboard, texts: ConsoleTexts) -> Markup:
    """The charts as JSON for `<script type="application/json">`: never run, so the page's CSP
    needs no inline script. `<`, `>` and `&` are escaped so no value can end the element."""
    charts: dict[str, Any] = {}
    for key, series in board.charts.items():
        axes = _axes(series.lines)
        charts[key] = {
            "title": texts(f"chart.{key}.title") if texts.has(f"chart.{key}.title") else key,
            "unit": series.unit.value,
            "type": "bar" if key in BAR_CHARTS else "line",
            "labels": list(series.labels),
            "lines": [
                {
                    "key": name,
                    "label": texts(f"line.{name}") if texts.has(f"line.{name}") else name,
                    "values": list(values),
                    "axis": axes[name],
                }
                for name, values in series.lines.items()
            ],
        }
    if board.tiers:
        charts["tiers"] = {
            "title": texts("dashboard.tiers"),
            "unit": "count",
            "type": "bar",
            "labels": [tier_name(board, code, texts.locale) for code in board.tiers],
            "lines": [
                {"key": "members", "label": texts("dashboard.members"), "values": list(board.tiers.values()), "axis": "y"}
            ],
        }
    payload = {
        "locale": texts.locale.replace("_", "-"),
        "currency": board.currency,
        "moneyExponent": get_currency_precision(board.currency),
        "charts": charts,
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def tier_name(board: Dashboard, code: str, locale: str) -> str:
    """The tier's name in the reader's language (its code for a tier that no longer exists)."""
    names = board.tier_names.get(code)
    return localized(dict(names), locale) if names else code


def _axes(lines: Mapping[str, Sequence[int | float | None]]) -> dict[str, str]:
    """Which y axis each line is drawn on: a line ten times smaller than the largest (new members
    beside all members, points issued a day beside points outstanding) gets the right-hand axis,
    or it would lie flat on the bottom of the chart."""
    peaks = {name: max((abs(value) for value in values if value is not None), default=0) for name, values in lines.items()}
    top = max(peaks.values(), default=0)
    # A line of zeros stays on the main axis: an axis of its own would scale nothing to 0..1.
    return {name: "y1" if peak > 0 and peak * SCALE_APART < top else "y" for name, peak in peaks.items()}


def heat(share: float | None) -> str:
    """The heat map class of a retention share: tenths, from heat-0 to heat-10."""
    if share is None:
        return "heat-none"
    return f"heat-{max(0, min(10, round(share * 10)))}"
