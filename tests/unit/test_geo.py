"""Distances, grid cells, coordinate checks and opening hours: the pure rules of loyalty/geo.py."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from loyalty import geo
from loyalty.errors import InvalidInput
from tests.utils.stores import BEIJING, LONDON, PARIS, SHANGHAI


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [(SHANGHAI, BEIJING, 1067), (LONDON, PARIS, 344), ((0.0, 179.9), (0.0, -179.9), 22.24)],
)
def test_distance_of_known_pairs_within_half_a_percent(a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert geo.distance_m(*a, *b) / 1000 == pytest.approx(km, rel=0.005)
    assert geo.distance_m(*a, *b) == pytest.approx(geo.distance_m(*b, *a))


def test_distance_across_a_pole_and_to_the_antipode() -> None:
    assert geo.distance_m(89.0, 0.0, 89.0, 180.0) == pytest.approx(2 * math.radians(1) * geo.EARTH_RADIUS_M)
    assert geo.distance_m(0, 0, 0, 180) == pytest.approx(geo.HALF_CIRCUMFERENCE_M)


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [(90.0001, 0, "latitude"), (-91, 0, "latitude"), (0, 180.5, "longitude"), (0, -181, "longitude"),
     (math.nan, 0, "latitude"), (0, math.inf, "longitude"), (True, 0, "latitude")],
)
def test_impossible_coordinates_name_the_field(lat: float, lon: float, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        geo.check_coordinates(lat, lon)
    assert error.value.details["field"] == field


def test_the_edges_of_the_map_are_valid_and_180_is_minus_180() -> None:
    assert geo.check_coordinates(90, -180) == (90.0, -180.0)
    assert geo.cell_of(10, 180) == geo.cell_of(10, -180)
    assert geo.cell_of(90, 0) // geo.COLUMNS == geo.ROWS - 1


def test_cell_ranges_hold_every_point_within_the_radius() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        if rng.random() < 0.3:  # crowd the awkward places
            lat = rng.choice([-1, 1]) * rng.uniform(88, 90)
        if rng.random() < 0.3:
            lon = rng.choice([-1, 1]) * rng.uniform(179, 180)
        radius = rng.choice([100, 2_000, 50_000, 500_000])
        ranges = geo.cell_ranges(lat, lon, radius)
        # a point at a random bearing just inside the radius
        bearing, d = rng.uniform(0, 2 * math.pi), radius * 0.999 / geo.EARTH_RADIUS_M
        phi1, lam1 = math.radians(lat), math.radians(lon)
        phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(bearing))
        lam2 = lam1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(phi1), math.cos(d) - math.sin(phi1) * math.sin(phi2))
        plat, plon = math.degrees(phi2), (math.degrees(lam2) + 540) % 360 - 180
        cell = geo.cell_of(plat, plon)
        assert any(low <= cell <= high for low, high in ranges), (lat, lon, radius, plat, plon)


def test_a_small_search_reads_few_cells_and_a_polar_one_whole_rows() -> None:
    ranges = geo.cell_ranges(*SHANGHAI, 1000)
    assert len(ranges) <= 4 and sum(high - low + 1 for low, high in ranges) <= 16
    [(low, high)] = geo.cell_ranges(89.999, 10, 1000)
    assert high - low + 1 >= geo.COLUMNS and high // geo.COLUMNS == geo.ROWS - 1
    west_east = geo.cell_ranges(0.0, 179.999, 1000)  # split at the antimeridian
    columns = {low % geo.COLUMNS for low, _ in west_east} | {high % geo.COLUMNS for _, high in west_east}
    assert 0 in columns and geo.COLUMNS - 1 in columns


# --- opening hours -------------------------------------------------------------------------------

HOURS = {"mon": [["08:00", "22:00"]], "fri": [["18:00", "02:00"]], "sun": [["00:00", "24:00"]]}


def at(local: str, zone: str = "Asia/Shanghai") -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


@pytest.mark.parametrize(
    ("local", "open_"),
    [
        ("2026-11-23T07:59:59", False),  # Monday, a second before opening
        ("2026-11-23T08:00:00", True),  # opening time is open
        ("2026-11-23T21:59:59", True),
        ("2026-11-23T22:00:00", False),  # closing time is closed
        ("2026-11-27T17:59", False),  # Friday before the evening
        ("2026-11-28T01:59", True),  # Saturday morning, Friday's span past midnight
        ("2026-11-28T02:00", False),
        ("2026-11-28T12:00", False),  # Saturday: closed all day
        ("2026-11-29T23:59", True),  # Sunday: all day
        ("2026-11-30T00:00", False),  # Monday, midnight: Sunday ended, Monday not yet open
    ],
)
def test_open_at_the_exact_boundaries_and_past_midnight(local: str, open_: bool) -> None:
    assert geo.is_open(HOURS, "Asia/Shanghai", at(local)) is open_


def test_hours_are_read_in_the_stores_own_time_zone() -> None:
    now = at("2026-11-23T09:00", "Asia/Shanghai")  # Monday 09:00 in Shanghai = Monday 01:00 in London
    assert geo.is_open(HOURS, "Asia/Shanghai", now)
    assert not geo.is_open(HOURS, "Europe/London", now)
    assert geo.is_open(None, "Europe/London", now), "no published hours: never hidden"


@pytest.mark.parametrize(
    ("hours", "field"),
    [({"moon": []}, "opening_hours"), ({"mon": [["8:00", "22:00"]]}, "opening_hours.mon"),
     ({"tue": [["10:00", "10:00"]]}, "opening_hours.tue"), ({"wed": [["24:00", "02:00"]]}, "opening_hours.wed"),
     ({"thu": [["10:00"]]}, "opening_hours.thu"), ({"fri": "10:00-22:00"}, "opening_hours.fri"), ([], "opening_hours")],
)
def test_bad_hours_name_the_day(hours: object, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        geo.check_hours(hours)
    assert error.value.details["field"] == field


def test_empty_days_are_dropped_and_spans_sorted() -> None:
    assert geo.check_hours({"mon": [["18:00", "22:00"], ["08:00", "12:00"]], "tue": []}) == {
        "mon": [["08:00", "12:00"], ["18:00", "22:00"]]
    }


SHANGHAI_TZ = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("at", "opens"),
    [
        ("2026-12-07T07:00", "2026-12-07T08:00"),  # Monday before opening: today
        ("2026-12-07T09:00", None),  # open now
        ("2026-12-07T23:00", "2026-12-12T10:00"),  # after closing: Saturday's
        ("2026-12-13T01:00", None),  # Saturday's span past midnight still runs
        ("2026-12-13T03:00", "2026-12-14T08:00"),  # then next Monday
    ],
)
def test_a_closed_store_says_when_it_next_opens(at: str, opens: str | None) -> None:
    hours = {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]]}
    zone = ZoneInfo(SHANGHAI_TZ)
    moment = geo.next_opening(hours, SHANGHAI_TZ, datetime.fromisoformat(at).replace(tzinfo=zone))
    assert moment == (datetime.fromisoformat(opens).replace(tzinfo=zone) if opens else None)


def test_a_store_with_no_hours_or_no_days_names_no_opening() -> None:
    now = datetime(2026, 12, 7, 7, tzinfo=ZoneInfo(SHANGHAI_TZ))
    assert geo.next_opening(None, SHANGHAI_TZ, now) is None  # always open
    assert geo.next_opening({}, SHANGHAI_TZ, now) is None  # never open


def test_the_next_opening_keeps_its_wall_clock_time_across_summer_time() -> None:
    # London's clocks go forward on Sunday 2027-03-28: Monday's 08:00 is BST, one hour less after UTC.
    london = ZoneInfo("Europe/London")
    saturday = datetime(2027, 3, 27, 12, tzinfo=london)
    moment = geo.next_opening({"mon": [["08:00", "17:00"]]}, "Europe/London", saturday)
    assert moment is not None and (moment.hour, moment.minute) == (8, 0)
    assert moment.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("at", "closes"),
    [
        ("2026-12-07T09:00", "2026-12-07T22:00"),  # Monday, open: tonight
        ("2026-12-07T08:00", "2026-12-07T22:00"),  # the opening minute counts as open
        ("2026-12-07T22:00", None),  # the closing minute does not
        ("2026-12-12T23:00", "2026-12-13T02:00"),  # Saturday's span runs past midnight
        ("2026-12-13T01:00", "2026-12-13T02:00"),  # and is still running after it
        ("2026-12-13T03:00", None),  # closed
    ],
)
def test_an_open_store_says_when_it_closes(at: str, closes: str | None) -> None:
    hours = {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]]}
    zone = ZoneInfo(SHANGHAI_TZ)
    moment = geo.closes_at(hours, SHANGHAI_TZ, datetime.fromisoformat(at).replace(tzinfo=zone))
    assert moment == (datetime.fromisoformat(closes).replace(tzinfo=zone) if closes else None)


def test_a_store_with_no_hours_never_closes() -> None:
    assert geo.closes_at(None, SHANGHAI_TZ, datetime(2026, 12, 7, 7, tzinfo=timezone.utc)) is None
