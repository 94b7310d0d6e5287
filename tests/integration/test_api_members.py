"""Members through the API over real HTTP: lookups, pages, enrolment at the till, and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.members import find_member, luhn_check_digit, set_birthday, set_chat_reachable
from loyalty.profile import mask_phone
from tests.utils.api import (
    RunningApi,
    assert_no_phone_disclosed,
    audit_events,
    bearer,
    member_count,
    new_api_key,
)
from tests.utils.members import TEST_SETTINGS, chat_member, next_phone, till_member

PHONE = "+8613800138000"
PHONE_FORMS = ["+86 138 0013 8000", "13800138000", "+8613800138000", "8613800138000", "138-0013-8000"]


@pytest.fixture
async def api(api: RunningApi, uow_factory: UnitOfWorkFactory) -> AsyncIterator[RunningApi]:
    yield api
    # Whatever a test did, no answer carried a member's full phone number.
    await assert_no_phone_disclosed(api, uow_factory)


def unknown_member_number() -> str:
    body = "123456789"
    return body + luhn_check_digit(body)


def as_utc(moment: datetime) -> datetime:
    # SQLite returns stored timestamps without their zone (UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def counts(uow_factory: UnitOfWorkFactory) -> tuple[int, int]:
    return await member_count(uow_factory), len(await audit_events(uow_factory))


# --- lookups ---------------------------------------------------------------------------------


async def test_get_by_member_number(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock, phone=PHONE)
    response = await api.client.get(f"/api/v1/members/{member.member_number}", headers=auth)
    assert response.status_code == 200
    assert response.json() == {
        "member_number": member.member_number,
        "telegram_linked": False,
        "telegram_id": None,
        "phone_masked": mask_phone(PHONE),
        "tier": "member",
        "points_balance": 0,
        "locale": "en",
        "city": None,
        "has_birthday": False,
        "enrolled_via": "till",
        "created_at": "2026-11-24T12:00:00Z",
        "chat_blocked": False,
    }
    assert response.json()["phone_masked"] == "+86 138****8000"


async def test_a_chat_member_shows_link_birthday_and_block_without_the_birthday_itself(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=424242, locale="zh_CN")
    async with uow_factory() as uow:
        loaded = await find_member(uow, telegram_id=424242)
        await set_birthday(uow, clock, TEST_SETTINGS, loaded, "1990-05-17")
    async with uow_factory() as uow:
        await set_chat_reachable(uow, clock, 424242, reachable=False)

    response = await api.client.get(f"/api/v1/members/{member.member_number}", headers=auth)
    body = response.json()
    assert response.status_code == 200
    assert body["telegram_linked"] is True
    assert body["telegram_id"] == 424242
    assert body["enrolled_via"] == "chat"
    assert body["locale"] == "zh_CN"
    assert body["has_birthday"] is True
    assert body["chat_blocked"] is True
    assert "birthday" not in body and "1990-05-17" not in response.text


@pytest.mark.parametrize("phone", PHONE_FORMS)
async def test_find_by_phone_in_any_usual_format(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock, phone: str
) -> None:
    await till_member(uow_factory, clock)  # someone else, who must not be returned
    member = await till_member(uow_factory, clock, phone=PHONE)
    response = await api.client.get("/api/v1/members", params={"phone": phone}, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [row["member_number"] for row in body["data"]] == [member.member_number]


async def test_find_by_telegram_id(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=1001)
    member = await chat_member(uow_factory, clock, telegram_id=1002)
    response = await api.client.get("/api/v1/members", params={"telegram_id": 1002}, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["data"][0]["member_number"] == member.member_number
    assert body["data"][0]["telegram_id"] == 1002


async def test_a_lookup_that_matches_nobody_is_an_empty_page(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await chat_member(uow_factory, clock, telegram_id=1001, phone=PHONE)
    for params in ({"phone": "+8613900139000"}, {"telegram_id": 999}):
        response = await api.client.get("/api/v1/members", params=params, headers=auth)
        assert response.status_code == 200
        assert response.json() == {"data": [], "count": 0, "page": 1, "page_size": 50}


async def test_a_filtered_lookup_pages_like_any_list(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await till_member(uow_factory, clock, phone=PHONE)
    response = await api.client.get(
        "/api/v1/members", params={"phone": PHONE, "page": 2}, headers=auth
    )
    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 1, "page": 2, "page_size": 50}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"phone": PHONE, "telegram_id": 5}, ["query"]),
        ({"phone": "12345"}, ["query", "phone"]),
        ({"phone": ""}, ["query", "phone"]),
        ({"telegram_id": "abc"}, ["query", "telegram_id"]),
        ({"telegram_id": 0}, ["query", "telegram_id"]),
        ({"telegram_id": 2**63}, ["query", "telegram_id"]),
    ],
)
async def test_bad_lookup_filters_are_422_naming_the_parameter(
    api: RunningApi, auth: dict[str, str], params: dict[str, str | int], loc: list[str]
) -> None:
    response = await api.client.get("/api/v1/members", params=params, headers=auth)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert all(set(error) <= {"loc", "msg", "type", "ctx"} for error in errors)


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("123", "10 digits"),
        ("12345678901", "10 digits"),
        ("12345abcde", "digits 0-9"),
        ("１２３４５６７８９０", "digits 0-9"),  # full-width digits are not ASCII digits
        ("1234567890", "check digit"),
    ],
)
async def test_a_malformed_member_number_is_422_saying_why(
    api: RunningApi, auth: dict[str, str], number: str, words: str
) -> None:
    response = await api.client.get(f"/api/v1/members/{number}", headers=auth)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "member_number"]
    assert words in error["msg"]
    assert error["type"].startswith("member_number")


async def test_an_unknown_member_number_is_404(api: RunningApi, auth: dict[str, str]) -> None:
    response = await api.client.get(f"/api/v1/members/{unknown_member_number()}", headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "no such member", "code": "member_not_found"}


# --- pages -----------------------------------------------------------------------------------


async def test_pages_are_stable_and_count_the_total(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    created = []
    for _ in range(7):
        created.append((await till_member(uow_factory, clock)).member_number)
        clock.advance(timedelta(minutes=1))

    seen = []
    for page, expected_rows in [(1, 3), (2, 3), (3, 1), (4, 0)]:
        response = await api.client.get(
            "/api/v1/members", params={"page": page, "page_size": 3}, headers=auth
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["count"], body["page"], body["page_size"]) == (7, page, 3)
        assert len(body["data"]) == expected_rows
        seen += [row["member_number"] for row in body["data"]]
    assert seen == created  # oldest first, each member exactly once

    default = (await api.client.get("/api/v1/members", headers=auth)).json()
    assert (default["page"], default["page_size"], default["count"]) == (1, 50, 7)
    assert [row["member_number"] for row in default["data"]] == created


async def test_the_biggest_page_is_allowed(api: RunningApi, auth: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/members", params={"page_size": 200}, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 0, "page": 1, "page_size": 200}


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page": -1}, {"page": "x"}, {"page_size": 0}, {"page_size": 201}, {"page_size": "many"}],
)
async def test_page_bounds_are_422(
    api: RunningApi, auth: dict[str, str], params: dict[str, str | int]
) -> None:
    response = await api.client.get("/api/v1/members", params=params, headers=auth)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


# --- enrolment -------------------------------------------------------------------------------


async def test_enrol_creates_a_member_that_can_be_looked_up(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
) -> None:
    response = await api.client.post(
        "/api/v1/members", json={"phone": "+86 138 0013 8000", "consent": True}, headers=auth
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["enrolled_via"] == "till"
    assert created["telegram_linked"] is False and created["telegram_id"] is None
    assert created["phone_masked"] == "+86 138****8000"
    assert created["locale"] == settings.default_locale
    assert created["tier"] == "member" and created["points_balance"] == 0
    assert created["created_at"] == "2026-11-24T12:00:00Z"
    assert response.headers["location"] == f"/api/v1/members/{created['member_number']}"

    again = await api.client.get(response.headers["location"], headers=auth)
    assert again.status_code == 200
    assert again.json() == created
    by_phone = await api.client.get("/api/v1/members", params={"phone": "13800138000"}, headers=auth)
    assert by_phone.json()["data"] == [created]

    async with uow_factory() as uow:
        member = await find_member(uow, phone_e164=PHONE)
        assert member.consent_version == settings.privacy_version
        assert as_utc(member.consented_at) == clock.now()
        assert member.start_payload is None


async def test_enrol_keeps_locale_consent_version_and_campaign(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    response = await api.client.post(
        "/api/v1/members",
        json={
            "phone": PHONE,
            "consent": True,
            "consent_version": "2025-01",
            "locale": "zh_CN",
            "campaign": "store_42",
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    assert response.json()["locale"] == "zh_CN"
    async with uow_factory() as uow:
        member = await find_member(uow, phone_e164=PHONE)
        assert (member.consent_version, member.start_payload) == ("2025-01", "store_42")


async def test_enrolment_is_audited_under_the_key_name(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    key = await new_api_key(uow_factory, clock, "shop-east.pos_2")
    response = await api.client.post(
        "/api/v1/members", json={"phone": PHONE, "consent": True}, headers=bearer(key)
    )
    assert response.status_code == 201
    async with uow_factory() as uow:
        member = await find_member(uow, member_number=response.json()["member_number"])
        events = await uow.audit.for_member(member.id)
    assert [(e.actor, e.action) for e in events] == [("apikey:shop-east.pos_2", "member.enrol")]


async def test_an_existing_phone_is_409_naming_the_member_and_enrols_no_one(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    """The till learns whose phone it is, as a lookup by phone (the same scope) would tell it,
    and the answer is audited as such a read."""
    existing = await chat_member(uow_factory, clock, telegram_id=31337, phone=PHONE)
    members_before, events_before = await counts(uow_factory)
    for phone in PHONE_FORMS:
        response = await api.client.post(
            "/api/v1/members", json={"phone": phone, "consent": True}, headers=auth
        )
        assert response.status_code == 409, phone
        assert response.json() == {
            "detail": f"this phone number is member {existing.member_number}'s",
            "code": "already_registered",
            "member_number": existing.member_number,
        }
    members_after, _ = await counts(uow_factory)
    assert members_after == members_before
    reads = [e for e in await audit_events(uow_factory)][events_before:]
    assert [(e.action, e.member_id, e.detail) for e in reads] == [
        ("member.read", existing.id, "enrolment of a member's phone")
    ] * len(PHONE_FORMS)


INVALID_BODIES = [
    pytest.param({"phone": "12345", "consent": True}, ["body", "phone"], "invalid_phone", id="bad-phone"),
    pytest.param({"phone": "+1 555 0100", "consent": True}, ["body", "phone"], "invalid_phone", id="unreal-phone"),
    pytest.param({"phone": "", "consent": True}, ["body", "phone"], "invalid_phone", id="empty-phone"),
    pytest.param({"consent": True}, ["body", "phone"], "missing", id="no-phone"),
    pytest.param({"phone": PHONE}, ["body", "consent"], "missing", id="no-consent"),
    pytest.param({"phone": PHONE, "consent": False}, ["body", "consent"], "consent_required", id="consent-false"),
    pytest.param({"phone": PHONE, "consent": "yes"}, ["body", "consent"], "bool_type", id="consent-string"),
    pytest.param({"phone": PHONE, "consent": 1}, ["body", "consent"], "bool_type", id="consent-number"),
    pytest.param({"phone": PHONE, "consent": True, "locale": "fr"}, ["body", "locale"], "literal_error", id="locale"),
    pytest.param({"phone": PHONE, "consent": True, "campaign": "no spaces!"}, ["body", "campaign"], "string_pattern_mismatch", id="campaign"),
    pytest.param({"phone": PHONE, "consent": True, "consent_version": ""}, ["body", "consent_version"], "string_too_short", id="consent-version"),
    pytest.param({"phone": PHONE, "consent": True, "tier": "gold"}, ["body", "tier"], "extra_forbidden", id="unknown-field"),
    pytest.param({"phone": 8613800138000, "consent": True}, ["body", "phone"], "string_type", id="phone-number-type"),
]


@pytest.mark.parametrize(("body", "loc", "type_"), INVALID_BODIES)
async def test_invalid_enrolment_is_422_on_the_field_and_writes_nothing(
    api: RunningApi,
    auth: dict[str, str],
    uow_factory: UnitOfWorkFactory,
    body: dict[str, object],
    loc: list[str],
    type_: str,
) -> None:
    before = await counts(uow_factory)
    response = await api.client.post("/api/v1/members", json=body, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, type_)
    assert error["msg"]
    assert "input" not in error  # the submitted body (and its phone) is never echoed back
    assert "13800138000" not in response.text
    assert await counts(uow_factory) == before


async def test_consent_false_says_the_member_must_consent(
    api: RunningApi, auth: dict[str, str]
) -> None:
    response = await api.client.post(
        "/api/v1/members", json={"phone": PHONE, "consent": False}, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the member must consent to the privacy terms"


async def test_invalid_json_and_missing_body_are_422(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    broken = await api.client.post(
        "/api/v1/members",
        content=b'{"phone": "+8613800138000", ',
        headers=auth | {"Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    assert "13800138000" not in broken.text
    empty = await api.client.post("/api/v1/members", headers=auth)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body"]
    assert await member_count(uow_factory) == 0


async def test_concurrent_enrolments_of_one_phone_make_one_member(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    async def enrol(index: int) -> int:
        # Same number, written differently by different tills.
        phone = PHONE_FORMS[index % len(PHONE_FORMS)]
        response = await api.client.post(
            "/api/v1/members", json={"phone": phone, "consent": True}, headers=auth
        )
        assert response.status_code in {201, 409}, response.text
        if response.status_code == 409:
            assert response.json()["code"] == "already_registered"
        return response.status_code

    statuses = await asyncio.gather(*(enrol(i) for i in range(20)))
    assert sorted(statuses) == [201] + [409] * 19
    assert await member_count(uow_factory) == 1
    events = await audit_events(uow_factory)
    assert [e.action for e in events if e.action == "member.enrol"] == ["member.enrol"]


async def test_different_phones_enrol_concurrently(
    api: RunningApi, auth: dict[str, str], uow_factory: UnitOfWorkFactory
) -> None:
    phones = [next_phone() for _ in range(10)]
    responses = await asyncio.gather(
        *(
            api.client.post("/api/v1/members", json={"phone": p, "consent": True}, headers=auth)
            for p in phones
        )
    )
    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["member_number"] for r in responses}) == 10
    assert await member_count(uow_factory) == 10


async def test_a_national_mobile_that_also_reads_as_a_us_number_is_the_same_member(
    api: RunningApi, auth: dict[str, str]
) -> None:
    created = await api.client.post(
        "/api/v1/members", json={"phone": "15012345678", "consent": True}, headers=auth
    )
    assert created.status_code == 201
    found = await api.client.get(
        "/api/v1/members", params={"phone": "+86 150 1234 5678"}, headers=auth
    )
    assert found.json()["count"] == 1
