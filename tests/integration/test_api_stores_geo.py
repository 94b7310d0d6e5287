"""Stores on the map over real HTTP: coordinates and hours in and out, the nearest search, and
the CSV import, all or nothing, with every bad input a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent, Store
from db.uow import UnitOfWorkFactory
from loyalty.geo import distance_m
from tests.utils.api import RunningApi

HOURS = {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]]}
JINGAN = {
    "code": "S001", "name": "Jing'an", "city": "Shanghai", "address": "1601 Nanjing West Rd",
    "latitude": 31.2243, "longitude": 121.4462, "opening_hours": HOURS,
}


@pytest.fixture
def api_key_name() -> str:
    return "backoffice"  # the actor its audit events name


async def written(uow_factory: UnitOfWorkFactory) -> tuple[list[tuple[Any, ...]], list[str]]:
    async with uow_factory() as uow:
        stores = [(s.code, s.name, s.latitude, s.geo_cell) for s in await uow.session.scalars(select(Store).order_by(Store.id))]
        audit = [e.action for e in await uow.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    return stores, audit


def locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


async def test_a_store_on_the_map_round_trips_and_is_found_nearest_first(
    api: RunningApi, auth: dict[str, str]
) -> None:
    created = await api.client.post("/api/v1/stores", json=JINGAN, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["latitude"], body["longitude"], body["opening_hours"], body["address"]) == (
        31.2243, 121.4462, HOURS, "1601 Nanjing West Rd")
    far = {"code": "S002", "name": "Bund", "latitude": 31.2400, "longitude": 121.4900}
    assert (await api.client.post("/api/v1/stores", json=far, headers=auth)).status_code == 201
    await api.client.post("/api/v1/stores", json={"code": "S003", "name": "No map"}, headers=auth)
    assert (await api.client.get("/api/v1/stores/S001", headers=auth)).json()["opening_hours"] == HOURS

    near = await api.client.get(
        "/api/v1/stores/nearest", params={"lat": 31.2240, "lon": 121.4460, "radius_m": 10_000}, headers=auth
    )
    assert near.status_code == 200, near.text
    assert [(s["code"], s["distance_m"]) for s in near.json()["data"]] == [
        ("S001", round(distance_m(31.2240, 121.4460, 31.2243, 121.4462))),
        ("S002", round(distance_m(31.2240, 121.4460, 31.2400, 121.4900))),
    ]
    assert near.json()["data"][0]["distance_m"] < 50
    assert near.json()["data"][1]["distance_m"] > 4000
    default = await api.client.get("/api/v1/stores/nearest", params={"lat": 31.2240, "lon": 121.4460}, headers=auth)
    assert [s["code"] for s in default.json()["data"]] == ["S001"], "3 km by default"
    small = await api.client.get(
        "/api/v1/stores/nearest", params={"lat": 31.2240, "lon": 121.4460, "radius_m": 1000, "limit": 1}, headers=auth
    )
    assert [s["code"] for s in small.json()["data"]] == ["S001"]
    # The test clock says Tuesday 20:00 in Shanghai: Jing'an has no Tuesday hours, the Bund publishes none.
    opened = await api.client.get(
        "/api/v1/stores/nearest",
        params={"lat": 31.2240, "lon": 121.4460, "radius_m": 10_000, "open_now": "true"},
        headers=auth,
    )
    assert [s["code"] for s in opened.json()["data"]] == ["S002"]


@pytest.mark.parametrize(("params", "loc"), [
    ({"lat": 91, "lon": 0}, ["query", "lat"]), ({"lat": 0, "lon": -180.5}, ["query", "lon"]),
    ({"lat": "nan", "lon": 0}, ["query", "lat"]), ({"lat": 0}, ["query", "lon"]),
    ({"lat": 0, "lon": 0, "radius_m": 0}, ["query", "radius_m"]), ({"lat": 0, "lon": 0, "limit": 51}, ["query", "limit"]),
])
async def test_bad_search_coordinates_are_422(api: RunningApi, auth: dict[str, str], params: dict[str, Any], loc: list[str]) -> None:
    assert locs(await api.client.get("/api/v1/stores/nearest", params=params, headers=auth)) == [loc]


@pytest.mark.parametrize(("change", "loc"), [
    ({"latitude": 90.5}, ["body", "latitude"]),
    ({"longitude": 200}, ["body", "longitude"]),
    ({"longitude": None}, ["body", "longitude"]),  # one coordinate without the other
    ({"opening_hours": {"mon": [["8:00", "22:00"]]}}, ["body", "opening_hours", "mon", 0, 0]),
    ({"opening_hours": {"moon": []}}, ["body", "opening_hours", "moon", "[key]"]),
    ({"opening_hours": {"tue": [["10:00", "10:00"]]}}, ["body", "opening_hours", "tue"]),
    ({"address": ""}, ["body", "address"]),
])
async def test_bad_geography_is_422_on_the_field_and_writes_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, change: dict[str, Any], loc: list[Any]
) -> None:
    before = await written(uow_factory)
    assert locs(await api.client.post("/api/v1/stores", json=JINGAN | change, headers=auth)) == [loc]
    assert await written(uow_factory) == before


CSV = "code,name,city,timezone,address,latitude,longitude,hours\n" \
      'S1,One,Shanghai,,1 Rd,31.23,121.47,"{""sun"": [[""00:00"", ""24:00""]]}"\n' \
      "S2,Two,Shanghai,Asia/Shanghai,2 Rd,31.24,121.48,\n"


async def test_csv_import_over_http_is_all_or_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    headers = auth | {"content-type": "text/csv"}
    bad = CSV + "S3,Three,,,,31.2,999,\nS4,,,,,,,\nS5,Five,,,,1,1,not json\n"
    before = await written(uow_factory)
    assert locs(await api.client.post("/api/v1/stores/import", content=bad, headers=headers)) == [
        ["body", 4, "longitude"], ["body", 5, "name"], ["body", 6, "hours"],
    ]
    assert await written(uow_factory) == before
    wrong_type = await api.client.post("/api/v1/stores/import", content=CSV, headers=auth | {"content-type": "application/json"})
    assert wrong_type.status_code == 415
    assert await written(uow_factory) == before

    done = await api.client.post("/api/v1/stores/import", content=CSV, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"created": 2, "updated": 0}
    again = await api.client.post("/api/v1/stores/import", content=CSV.replace("One", "Uno"), headers=headers)
    assert again.json() == {"created": 0, "updated": 2}
    stores, audit = await written(uow_factory)
    assert [row[:2] for row in stores] == [("S1", "Uno"), ("S2", "Two")]
    assert audit.count("store.import") == 2
    async with uow_factory() as uow:
        actors = {e.actor for e in await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "store.import"))}
    assert actors == {"apikey:backoffice"}


async def test_a_store_is_changed_whole_by_put_and_bad_changes_write_nothing(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    assert (await api.client.post("/api/v1/stores", json=JINGAN, headers=auth)).status_code == 201
    change = {"name": "Jing'an flagship", "timezone": "Asia/Tokyo", "opening_hours": {"tue": [["09:00", "17:00"]]}, "active": False}
    changed = await api.client.put("/api/v1/stores/S001", json=change, headers=auth)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["code"], body["name"], body["city"], body["latitude"], body["timezone"], body["active"]) == (
        "S001", "Jing'an flagship", None, None, "Asia/Tokyo", False)
    before = await written(uow_factory)
    assert before[0] == [("S001", "Jing'an flagship", None, None)] and before[1][-1] == "store.update"

    overlapping = {"name": "X", "opening_hours": {"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}}
    assert locs(await api.client.put("/api/v1/stores/S001", json=overlapping, headers=auth)) == [["body", "opening_hours", "mon"]]
    assert locs(await api.client.put("/api/v1/stores/S001", json={"name": "X", "code": "S9"}, headers=auth))[0][-1] == "code"
    assert (await api.client.put("/api/v1/stores/NOPE", json={"name": "X"}, headers=auth)).status_code == 404
    assert await written(uow_factory) == before
