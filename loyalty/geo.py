"""Geography without PostGIS: great-circle distance, the grid cells stores are indexed by, and
opening hours in a store's own time zone.

The grid: rows of CELL_DEGREES of latitude, columns of CELL_DEGREES of longitude, numbered
`row * COLUMNS + column`. One row's columns are consecutive numbers, so the cells a search needs
in one row are a single `BETWEEN` range on an ordinary B-tree index, on SQLite and PostgreSQL
alike. Columns get narrower towards the poles, which costs nothing: a row's range is still one
range, only wider in columns.

A search covers a spherical cap of radius r with its exact bounding box (Matuschek, "Finding
points within a distance of a latitude/longitude using bounding coordinates"), split at the
antimeridian and widened to every longitude when the cap reaches a pole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from loyalty.errors import InvalidHours, InvalidInput

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M  # no two points are farther apart
CELL_DEGREES = 0.01  # about 1.1 km of latitude
ROWS = 18_000  # 180 / CELL_DEGREES; the row of latitude 90 is clamped into the last one
COLUMNS = 36_000  # 360 / CELL_DEGREES
# A box taller than this many rows is read as whole rows: one range instead of hundreds.
MAX_ROW_RANGES = 48


def check_coordinates(latitude: float, longitude: float) -> tuple[float, float]:
    """Finite, latitude -90..90, longitude -180..180; else InvalidInput naming the field."""
    for field, value, bound in (("latitude", latitude, 90.0), ("longitude", longitude, 180.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"{field} must be a number", field=field)
        if not math.isfinite(value) or not -bound <= value <= bound:
            raise InvalidInput(f"{field} must be between {-bound:g} and {bound:g}", field=field)
    return float(latitude), float(longitude)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres on the mean-radius sphere."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _row(latitude: float) -> int:
    return min(ROWS - 1, math.floor((latitude + 90.0) / CELL_DEGREES))


def _column(longitude: float) -> int:
    return math.floor((longitude + 180.0) / CELL_DEGREES) % COLUMNS


def cell_of(latitude: float, longitude: float) -> int:
    """The grid cell of a point (longitude 180 is the same cell as -180)."""
    return _row(latitude) * COLUMNS + _column(longitude)


def cell_ranges(latitude: float, longitude: float, radius_m: float) -> list[tuple[int, int]]:
    """Inclusive ranges of cell numbers that together hold every point within `radius_m`."""
    angular = radius_m / EARTH_RADIUS_M
    lat = math.radians(latitude)
    lat_min, lat_max = lat - angular, lat + angular
    if lat_min <= -math.pi / 2 or lat_max >= math.pi / 2 or angular >= math.pi / 2:
        # The cap holds a pole (or is a hemisphere or more): every longitude.
        lon_spans = [(-180.0, 180.0)]
    else:
        delta = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(lat))))
        west, east = longitude - delta, longitude + delta
        if east - west >= 360.0:
            lon_spans = [(-180.0, 180.0)]
        elif west < -180.0:
            lon_spans = [(west + 360.0, 180.0), (-180.0, east)]
        elif east > 180.0:
            lon_spans = [(west, 180.0), (-180.0, east - 360.0)]
        else:
            lon_spans = [(west, east)]
    first_row = _row(max(-90.0, math.degrees(lat_min)))
    last_row = _row(min(90.0, math.degrees(lat_max)))
    whole_rows = lon_spans == [(-180.0, 180.0)] or last_row - first_row + 1 > MAX_ROW_RANGES
    if whole_rows:
        return [(first_row * COLUMNS, last_row * COLUMNS + COLUMNS - 1)]
    columns = [(_column(west), min(COLUMNS - 1, math.floor((east + 180.0) / CELL_DEGREES)))
               for west, east in lon_spans]
    return [
        (row * COLUMNS + first, row * COLUMNS + last)
        for row in range(first_row, last_row + 1)
        for first, last in columns
    ]


# --- opening hours -------------------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MAX_SPANS_PER_DAY = 4
DAY_MINUTES = 24 * 60

# {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]]}: a weekday missing is a closed
# day; a span whose close is not after its open ends the next day.
OpeningHours = Mapping[str, Sequence[Sequence[str]]]


def _minutes(value: object, field: str) -> int:
    if not isinstance(value, str) or not _TIME.match(value):
        raise InvalidHours(f"{value!r} is not a time HH:MM (00:00-24:00)", field=field, reason="time")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def check_hours(hours: object, field: str = "opening_hours") -> dict[str, list[list[str]]]:
    """The hours in their canonical form, or InvalidInput naming the day."""
    if not isinstance(hours, Mapping):
        raise InvalidHours('opening hours are {"mon": [["08:00", "22:00"]], ...}', field=field)
    clean: dict[str, list[list[str]]] = {}
    for day, spans in hours.items():
        where = f"{field}.{day}"
        if day not in WEEKDAYS:
            raise InvalidHours(f"{day!r} is not one of {', '.join(WEEKDAYS)}", field=field)
        if not isinstance(spans, Sequence) or isinstance(spans, str) or len(spans) > MAX_SPANS_PER_DAY:
            raise InvalidHours(f"a day is a list of up to {MAX_SPANS_PER_DAY} [open, close] pairs", field=where)
        day_spans = []
        for span in spans:
            if not isinstance(span, Sequence) or isinstance(span, str) or len(span) != 2:
                raise InvalidHours("each span is [open, close]", field=where)
            opens, closes = _minutes(span[0], where), _minutes(span[1], where)
            if opens == DAY_MINUTES:
                raise InvalidHours("a store cannot open at 24:00", field=where, reason="time")
            if opens == closes:
                raise InvalidHours("open and close are the same time; all day is 00:00-24:00", field=where, reason="same")
            day_spans.append([str(span[0]), str(span[1])])
        if day_spans:
            clean[day] = sorted(day_spans)
    _check_no_overlap(clean, field)
    return clean


def _check_no_overlap(hours: OpeningHours, field: str) -> None:
    """Two spans of the week that share a minute (a span past midnight included, which runs
    into the next day's first hours) are one mistake or the other: refused, naming the day of
    the later one."""
    week = 7 * DAY_MINUTES
    pieces: list[tuple[int, int, int]] = []  # (start, end, day) in minutes of the week
    for span in _spans(hours):
        start = span.day * DAY_MINUTES + span.opens
        end = span.day * DAY_MINUTES + span.closes
        if end > week:  # Sunday's span past midnight runs into Monday
            pieces += [(start, week, span.day), (0, end - week, span.day)]
        else:
            pieces.append((start, end, span.day))
    pieces.sort()
    for (_, end, _), (start, _, day) in pairwise(pieces):
        if start < end:
            raise InvalidHours("two opening spans overlap", field=f"{field}.{WEEKDAYS[day]}", reason="overlap")


def form_span(opens: str, closes: str, *, next_day: bool, field: str = "opening_hours") -> list[str]:
    """One span as a form gives it: a close not after the open is refused unless the span is
    marked as ending the next day (in the stored form such a span simply closes "earlier"), so
    a mistyped time is not silently read as a night shift."""
    opening, closing = _minutes(opens, field), _minutes(closes, field)
    if next_day and closing > opening:
        raise InvalidHours("a span ending the next day closes before its opening time", field=field, reason="order")
    if not next_day and closing <= opening:
        raise InvalidHours("the closing time is not after the opening time", field=field, reason="order")
    return [opens, closes]


@dataclass(frozen=True)
class _Span:
    day: int  # 0 = Monday
    opens: int  # minutes after midnight
    closes: int  # may exceed DAY_MINUTES: past midnight


def _spans(hours: OpeningHours) -> list[_Span]:
    spans = []
    for day, pairs in hours.items():
        for opens_at, closes_at in pairs:
            opens, closes = _minutes(opens_at, day), _minutes(closes_at, day)
            spans.append(_Span(WEEKDAYS.index(day), opens, closes if closes > opens else closes + DAY_MINUTES))
    return spans


def is_open(hours: OpeningHours | None, timezone: str, now: datetime) -> bool:
    """Whether a store is open at `now` (aware), in its own time zone. Opening time included,
    closing time excluded. No hours published (None) counts as always open."""
    if hours is None:
        return True
    local = now.astimezone(ZoneInfo(timezone))
    minute = local.hour * 60 + local.minute
    today = local.weekday()
    for span in _spans(hours):
        if span.day == today and span.opens <= minute < span.closes:
            return True
        if span.day == (today - 1) % 7 and minute + DAY_MINUTES < span.closes:
            return True  # yesterday's span running past midnight
    return False


def closes_at(hours: OpeningHours | None, timezone: str, now: datetime) -> datetime | None:
    """When a store open at `now` closes, in its own time zone; None when it is closed now or
    publishes no hours (always open). A span running past midnight closes the next day."""
    if hours is None:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    for span in _spans(hours):
        if span.day == local.weekday() and span.opens <= minute < span.closes:
            started = local.date()
        elif span.day == (local.weekday() - 1) % 7 and minute + DAY_MINUTES < span.closes:
            started = local.date() - timedelta(days=1)
        else:
            continue
        # The wall-clock closing time on that date, whatever the offset is then (summer time).
        day = started + timedelta(days=span.closes // DAY_MINUTES)
        left = span.closes % DAY_MINUTES
        return datetime.combine(day, time(left // 60, left % 60), tzinfo=zone)
    return None


def next_opening(hours: OpeningHours | None, timezone: str, now: datetime) -> datetime | None:
    """When a store closed at `now` next opens, in its own time zone; None when it is open now,
    publishes no hours (always open) or opens on no day."""
    if hours is None or is_open(hours, timezone, now):
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    openings = [
        # The wall-clock time on that date, whatever the offset is then (summer time).
        datetime.combine(local.date() + timedelta(days=ahead), time(span.opens // 60, span.opens % 60), tzinfo=zone)
        for ahead in range(8)
        for span in _spans(hours)
        if span.day == (local.weekday() + ahead) % 7
    ]
    upcoming = [moment for moment in openings if moment > local]
    return min(upcoming) if upcoming else None
