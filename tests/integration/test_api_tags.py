"""Member tags through the API over real HTTP: read, replace (idempotent, audited when they
change), concurrent replacements never mixing, and every bad list refused naming the tag with
nothing written."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from db.models import MemberTag
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.members import luhn_check_digit
from tests.utils.api import RunningApi, audit_events, bearer
from tests.utils.members import till_member


@pytest.fixture
def api_key_name() -> str:
    return "backoffice"  # the actor its audit events name


@pytest.fixture
async def number(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    return (await till_member(uow_factory, clock)).member_number


async def stored_tags(uow_factory: UnitOfWorkFactory) -> list[tuple[int, str]]:
    async with uow_factory() as uow:
        statement = select(MemberTag.member_id, MemberTag.tag).order_by(MemberTag.member_id, MemberTag.tag)
        rows = await uow.session.execute(statement)
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def tag_audits(uow_factory: UnitOfWorkFactory) -> list[tuple[str, str | None]]:
    return [(event.actor, event.detail) for event in await audit_events(uow_factory) if event.action == "member.tags"]


async def put(api: RunningApi, auth: dict[str, str], number: str, tags: object) -> tuple[int, object]:
    response = await api.client.put(f"/api/v1/members/{number}/tags", json={"tags": tags}, headers=auth)
    return response.status_code, response.json()


async def test_a_new_member_has_no_tags(api: RunningApi, auth, number: str) -> None:
    response = await api.client.get(f"/api/v1/members/{number}/tags", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"member_number": number, "tags": []}


async def test_replace_normalises_reads_back_and_audits_only_changes(
    api: RunningApi, auth, number: str, uow_factory: UnitOfWorkFactory
) -> None:
    status, body = await put(api, auth, number, ["VIP", " office-lunch ", "vip", "team_2"])
    assert status == 200, body
    assert body == {"member_number": number, "tags": ["office-lunch", "team_2", "vip"]}
    read = await api.client.get(f"/api/v1/members/{number}/tags", headers=auth)
    assert read.json()["tags"] == ["office-lunch", "team_2", "vip"]
    assert await tag_audits(uow_factory) == [("apikey:backoffice", "office-lunch team_2 vip")]

    # The same list again: nothing changes, nothing more is audited.
    assert (await put(api, auth, number, ["vip", "team_2", "office-lunch"]))[0] == 200
    assert len(await tag_audits(uow_factory)) == 1

    # A new list replaces the old one whole.
    status, body = await put(api, auth, number, ["vip", "new-in-town"])
    assert body["tags"] == ["new-in-town", "vip"]
    assert [tag for _, tag in await stored_tags(uow_factory)] == ["new-in-town", "vip"]

    status, body = await put(api, auth, number, [])
    assert status == 200 and body["tags"] == []
    assert await stored_tags(uow_factory) == []
    assert (await tag_audits(uow_factory))[-1] == ("apikey:backoffice", "(none)")


async def test_tags_of_one_member_leave_others_alone(
    api: RunningApi, auth, number: str, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    other = (await till_member(uow_factory, clock)).member_number
    await put(api, auth, number, ["vip"])
    await put(api, auth, other, ["vip", "student"])
    await put(api, auth, number, [])
    response = await api.client.get(f"/api/v1/members/{other}/tags", headers=auth)
    assert response.json()["tags"] == ["student", "vip"]


@pytest.mark.parametrize(
    ("tags", "loc", "quoted"),
    [
        (["vip", "Not Valid"], ["body", "tags", "1"], "Not Valid"),
        (["vip", "x" * 33], ["body", "tags", "1"], "x" * 33),
        (["", "vip"], ["body", "tags", "0"], "''"),
        (["café"], ["body", "tags", "0"], "café"),
        (["vip;drop"], ["body", "tags", "0"], "vip;drop"),
    ],
)
async def test_a_bad_tag_is_422_naming_it_and_writes_nothing(
    api: RunningApi, auth, number: str, uow_factory: UnitOfWorkFactory, tags: list[str], loc: list[str], quoted: str
) -> None:
    await put(api, auth, number, ["keep-me"])
    before = (await stored_tags(uow_factory), await audit_events(uow_factory))
    status, body = await put(api, auth, number, tags)
    assert status == 422
    [error] = body["detail"]  # type: ignore[index]
    assert error["loc"] == loc
    assert error["type"] == "invalid_tag"
    assert quoted in error["msg"]
    after = (await stored_tags(uow_factory), await audit_events(uow_factory))
    assert [tag for _, tag in after[0]] == ["keep-me"]
    assert len(after[1]) == len(before[1])


async def test_more_than_twenty_tags_or_a_bad_shape_is_422(
    api: RunningApi, auth, number: str, uow_factory: UnitOfWorkFactory
) -> None:
    status, body = await put(api, auth, number, [f"t{i}" for i in range(21)])
    assert status == 422
    assert [error["loc"] for error in body["detail"]] == [["body", "tags"]]  # type: ignore[index]
    assert (await put(api, auth, number, [f"t{i}" for i in range(20)]))[0] == 200

    response = await api.client.put(f"/api/v1/members/{number}/tags", json={"tag": ["vip"]}, headers=auth)
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == {("body", "tags"), ("body", "tag")}
    response = await api.client.put(f"/api/v1/members/{number}/tags", json={"tags": "vip"}, headers=auth)
    assert response.status_code == 422
    assert len(await stored_tags(uow_factory)) == 20


async def test_unknown_member_is_404_and_a_bad_number_422(api: RunningApi, auth) -> None:
    unknown = "123456789" + luhn_check_digit("123456789")
    for method in ("GET", "PUT"):
        response = await api.client.request(method, f"/api/v1/members/{unknown}/tags", json={"tags": []}, headers=auth)
        assert response.status_code == 404, method
        assert response.json()["code"] == "member_not_found"
    response = await api.client.get("/api/v1/members/1234567890/tags", headers=auth)
    assert response.status_code == 422


async def test_tags_need_an_api_key(api: RunningApi, number: str, uow_factory: UnitOfWorkFactory) -> None:
    for headers in ({}, bearer("lk_not-a-key")):
        assert (await api.client.get(f"/api/v1/members/{number}/tags", headers=headers)).status_code == 401
        response = await api.client.put(f"/api/v1/members/{number}/tags", json={"tags": ["vip"]}, headers=headers)
        assert response.status_code == 401
    assert await stored_tags(uow_factory) == []


async def test_concurrent_replacements_never_mix(
    api: RunningApi, auth, number: str, uow_factory: UnitOfWorkFactory
) -> None:
    lists = [[f"a{i}", f"b{i}", f"c{i}"] for i in range(6)]
    for _ in range(3):
        results = await asyncio.gather(*(put(api, auth, number, tags) for tags in lists))
        assert [status for status, _ in results] == [200] * len(lists)
        final = [tag for _, tag in await stored_tags(uow_factory)]
        assert final in lists  # one whole list won; never a mixture of two
