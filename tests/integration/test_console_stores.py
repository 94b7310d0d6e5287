"""The console's stores pages over real HTTP: the form that creates and changes a store with its
opening hours, every refusal shown by its field in the staff member's language with nothing
written, the CSV import (all rows or none, every bad row listed by line), the sample CSV, the
map page's CSP, and the owner-only rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.console.rendering import texts_for
from api.main import create_app
from db.models import AuditEvent, Store
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, running_api
from tests.utils.console import add_staff, csrf_of, sign_in

OWNER, MARKETER = 7201, 7202


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


async def written(uow_factory: UnitOfWorkFactory) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str | None]]]:
    async with uow_factory() as uow:
        rows = [
            (s.code, s.name, s.city, s.timezone, s.latitude, s.longitude, s.opening_hours, s.active)
            for s in await uow.session.scalars(select(Store).order_by(Store.code))
        ]
        audit = [
            (e.actor, e.action, e.detail)
            for e in await uow.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("store.")
        ]
    return rows, audit


def store_form(token: str, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": token, "code": "SH1", "name": "Jing'an", "city": "Shanghai", "address": "1601 Nanjing West Rd",
        "timezone": "", "latitude": "31.2243", "longitude": "121.4462", "active": "1", "published": "1",
    }
    return form | fields


async def signed_in_form(client: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock,
                         settings: Settings, *, locale: str | None = None) -> str:
    await sign_in(client, uow_factory, clock, settings, OWNER, locale=locale)
    page = await client.get("/console/stores/new")
    assert page.status_code == 200, page.text
    return csrf_of(page)


async def test_an_owner_creates_and_changes_a_store_with_its_hours(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    token = await signed_in_form(api.client, uow_factory, clock, settings)
    created = await api.client.post("/console/stores/new", data=store_form(
        token,
        **{"hours-mon-0-open": "08:00", "hours-mon-0-close": "12:00",
           "hours-mon-1-open": "14:00", "hours-mon-1-close": "22:00",
           "hours-sat-0-open": "18:00", "hours-sat-0-close": "02:00", "hours-sat-0-next": "1",
           "hours-sun-0-open": "10:00", "hours-sun-0-close": "24:00"},
    ))
    assert created.status_code == 303 and created.headers["location"] == "/console/stores?saved=SH1"
    hours = {"mon": [["08:00", "12:00"], ["14:00", "22:00"]], "sat": [["18:00", "02:00"]], "sun": [["10:00", "24:00"]]}
    rows, audit = await written(uow_factory)
    assert rows == [("SH1", "Jing'an", "Shanghai", settings.timezone, 31.2243, 121.4462, hours, True)]
    assert audit == [(f"staff:{OWNER}", "store.create", "SH1")]

    listing = await api.client.get("/console/stores?saved=SH1")
    assert listing.status_code == 200 and 'data-store="SH1"' in listing.text and 'data-saved="SH1"' in listing.text
    assert '"code":"SH1"' in listing.text and '"lat":31.2243' in listing.text  # the map's data

    edit = await api.client.get("/console/stores/SH1/edit")
    assert edit.status_code == 200
    assert 'name="hours-sat-0-next" value="1" checked' in edit.text and 'value="14:00"' in edit.text
    changed = await api.client.post("/console/stores/SH1/edit", data=store_form(
        token, code="OTHER", name="Jing'an flagship", city="", latitude="", longitude="", active="",
        timezone="Asia/Tokyo", **{"hours-tue-0-open": "09:00", "hours-tue-0-close": "17:30"},
    ))
    assert changed.status_code == 303, changed.text
    rows, audit = await written(uow_factory)
    assert rows == [("SH1", "Jing'an flagship", None, "Asia/Tokyo", None, None, {"tue": [["09:00", "17:30"]]}, False)]
    assert audit[-1] == (f"staff:{OWNER}", "store.update", "SH1")

    unpublished = await api.client.post("/console/stores/SH1/edit", data=store_form(token, published=""))
    assert unpublished.status_code == 303
    assert (await written(uow_factory))[0][0][6] is None, "unticked: no hours published (always open)"
    assert (await api.client.post("/console/stores/SH1/edit", data=store_form(token))).status_code == 303
    assert (await written(uow_factory))[0][0][6] == {}, "ticked without spans: closed every day"
    spans = {"published": "", "hours-fri-0-open": "10:00", "hours-fri-0-close": "16:00"}
    assert (await api.client.post("/console/stores/SH1/edit", data=store_form(token, **spans))).status_code == 303
    assert (await written(uow_factory))[0][0][6] == {"fri": [["10:00", "16:00"]]}, "spans typed in are published"
    assert (await api.client.get("/console/stores/NOPE/edit")).status_code == 404
    assert (await api.client.post("/console/stores/NOPE/edit", data=store_form(token))).status_code == 404


@pytest.mark.parametrize(
    ("locale", "hours", "day", "reason"),
    [
        ("en", {"hours-wed-0-open": "08:00", "hours-wed-0-close": "14:00",
                "hours-wed-1-open": "13:00", "hours-wed-1-close": "20:00"}, "wed", "hours_overlap"),
        ("zh_CN", {"hours-fri-0-open": "09:00", "hours-fri-0-close": "25:00"}, "fri", "hours_time"),
        ("en", {"hours-thu-0-open": "18:00", "hours-thu-0-close": "09:00"}, "thu", "hours_order"),
        # Saturday's night runs into Sunday's morning.
        ("zh_CN", {"hours-sat-0-open": "20:00", "hours-sat-0-close": "03:00", "hours-sat-0-next": "1",
                   "hours-sun-0-open": "02:00", "hours-sun-0-close": "12:00"}, "sun", "hours_overlap"),
        ("en", {"hours-mon-0-open": "08:00"}, "mon", "hours_pair"),
        ("en", {"hours-tue-0-open": "24:00", "hours-tue-0-close": "08:00", "hours-tue-0-next": "1"}, "tue", "hours_time"),
    ],
)
async def test_bad_opening_hours_are_refused_by_the_day_and_nothing_is_written(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    locale: str, hours: dict[str, str], day: str, reason: str,
) -> None:
    token = await signed_in_form(api.client, uow_factory, clock, settings, locale=locale)
    page = await api.client.post("/console/stores/new", data=store_form(token, name="Typed name", **hours))
    assert page.status_code == 422
    expected = texts_for(settings, locale)(f"stores.errors.{reason}")
    assert f'data-problem="hours.{day}">{expected}<' in page.text.replace("&#34;", '"'), page.text
    assert 'value="Typed name"' in page.text and all(f'value="{value}"' in page.text for value in hours.values() if value != "1")
    assert await written(uow_factory) == ([], [])


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"code": "bad code!"}, "code"),
        ({"name": ""}, "name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"latitude": "95"}, "latitude"),
        ({"latitude": "north"}, "latitude"),
        ({"longitude": ""}, "longitude"),
        ({"city": "x" * 65}, "city"),
    ],
)
async def test_bad_store_fields_are_refused_by_the_field(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    fields: dict[str, str], problem: str,
) -> None:
    token = await signed_in_form(api.client, uow_factory, clock, settings, locale="zh_CN")
    page = await api.client.post("/console/stores/new", data=store_form(token, **fields))
    assert page.status_code == 422
    assert f'data-problem="{problem}">{texts_for(settings, "zh_CN")(f"stores.errors.{problem}")}<' in page.text
    assert await written(uow_factory) == ([], [])


async def test_a_taken_code_is_refused_and_the_first_store_is_unchanged(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    token = await signed_in_form(api.client, uow_factory, clock, settings)
    assert (await api.client.post("/console/stores/new", data=store_form(token))).status_code == 303
    before = await written(uow_factory)
    again = await api.client.post("/console/stores/new", data=store_form(token, name="Copy"))
    assert again.status_code == 422 and 'data-problem="code">Another store already has this code.<' in again.text
    assert await written(uow_factory) == before


async def test_the_csv_import_lists_every_bad_row_and_writes_nothing_then_imports_the_sample(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    token = await signed_in_form(api.client, uow_factory, clock, settings, locale="zh_CN")
    bad = (
        "code,name,city,timezone,address,latitude,longitude,hours\n"
        "A1,Good,Shanghai,,,,,\n"
        "A2,,Shanghai,,,,,\n"
        "A3,Bad zone,,Mars/Olympus,,,,\n"
        "A1,Twice,,,,,,\n"
        'A4,Bad hours,,,,,,"{""mon"": [[""08:00"", ""25:00""]]}"\n'
        "A5,Half located,,,,31.2,,\n"
        "A6,Too many,,,,,,,extra\n"
    )
    page = await api.client.post(
        "/console/stores/import", data={"csrf_token": token}, files={"file": ("stores.csv", bad.encode(), "text/csv")}
    )
    assert page.status_code == 422
    t = texts_for(settings, "zh_CN")
    listed = [
        (3, "name", t("stores.import.bad.name")), (4, "timezone", t("stores.import.bad.timezone")),
        (5, "code", t("stores.import.bad.duplicate")), (6, "hours", t("stores.import.bad.hours")),
        (7, "longitude", t("stores.import.bad.longitude")), (8, "row", t("stores.import.bad.cells")),
    ]
    text = page.text.replace("&#34;", '"')
    for line, column, sentence in listed:
        assert f'data-line="{line}" data-column="{column}">' in text and sentence in text, (line, sentence)
    assert text.count("data-line=") == len(listed) and t("stores.import.line", line=3) in text
    assert await written(uow_factory) == ([], [])

    for upload, key in ((b"code,title\nA1,x\n", "bad.header"), (b"", "empty"), (b"\xff\xfe\x00bad", "not_utf8"), (b"code,name\n", "bad.empty")):
        refused = await api.client.post(
            "/console/stores/import", data={"csrf_token": token}, files={"file": ("s.csv", upload, "text/csv")}
        )
        assert refused.status_code == 422 and t(f"stores.import.{key}") in refused.text, key
    assert await written(uow_factory) == ([], [])

    sample = await api.client.get("/console/stores/sample.csv")
    assert sample.status_code == 200 and sample.headers["content-type"].startswith("text/csv")
    imported = await api.client.post(
        "/console/stores/import", data={"csrf_token": token}, files={"file": ("sample.csv", sample.content, "text/csv")}
    )
    assert imported.status_code == 200 and 'data-created="2" data-updated="0"' in imported.text
    rows, audit = await written(uow_factory)
    assert [row[0] for row in rows] == ["S001", "S002"] and rows[0][6] == {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]]}
    assert audit == [(f"staff:{OWNER}", "store.import", "2 created, 0 updated")]


async def test_only_the_stores_pages_let_the_browser_load_map_tiles(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    for path in ("/console/stores", "/console/stores/new"):
        policy = (await api.client.get(path)).headers["content-security-policy"]
        assert "img-src 'self' data: https://tile.openstreetmap.org;" in policy and "script-src 'self';" in policy
    assert "openstreetmap" not in (await api.client.get("/console/")).headers["content-security-policy"]


async def test_a_marketer_gets_403_and_a_post_without_the_csrf_token_changes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    token = csrf_of(await api.client.get("/console/campaigns"))
    for path in ("/console/stores", "/console/stores/new", "/console/stores/sample.csv", "/console/stores/X/edit"):
        assert (await api.client.get(path)).status_code == 403, path
    assert (await api.client.post("/console/stores/new", data=store_form(token))).status_code == 403
    csv = b"code,name\nM1,Marketer's\n"
    assert (await api.client.post(
        "/console/stores/import", data={"csrf_token": token}, files={"file": ("s.csv", csv, "text/csv")}
    )).status_code == 403
    assert 'data-nav="stores"' not in (await api.client.get("/console/campaigns")).text

    owner = httpx.AsyncClient(base_url=str(api.client.base_url))
    async with owner:
        await sign_in(owner, uow_factory, clock, settings, OWNER)
        assert 'data-nav="stores"' in (await owner.get("/console/stores")).text
        assert (await owner.post("/console/stores/new", data=store_form(""))).status_code == 403
        assert (await owner.post(
            "/console/stores/import", data={"csrf_token": "nope"}, files={"file": ("s.csv", csv, "text/csv")}
        )).status_code == 403
    assert await written(uow_factory) == ([], [])


async def test_a_csv_upload_is_bounded_like_a_csv_body_not_like_a_json_one(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_json_body_bytes": 1024, "max_csv_body_bytes": 8 * 1024})
    rows = "".join(f"B{n:03d},Branch number {n} of the chain,Shanghai,,,,,\n" for n in range(60))
    csv = ("code,name,city,timezone,address,latitude,longitude,hours\n" + rows).encode()
    assert 1024 < len(csv) < 8 * 1024 - 1024
    async with running_api(create_app(small, uow_factory=uow_factory, clock=clock)) as api:
        token = await signed_in_form(api.client, uow_factory, clock, small)
        page = await api.client.post(
            "/console/stores/import", data={"csrf_token": token}, files={"file": ("s.csv", csv, "text/csv")}
        )
        assert page.status_code == 200 and 'data-created="60"' in page.text, page.text[-500:]
        big = csv * 5
        refused = await api.client.post(
            "/console/stores/import", data={"csrf_token": token}, files={"file": ("s.csv", big, "text/csv")}
        )
        assert refused.status_code == 413
    assert len((await written(uow_factory))[0]) == 60
