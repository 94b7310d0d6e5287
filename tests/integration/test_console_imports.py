"""The owner's imports page over real HTTP: a members file and a bulk adjustments file uploaded,
a refused file answered 422 with every bad line listed and nothing written, the same file again
changing nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, LedgerEntry, Member
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.console import add_staff, csrf_of, sign_in
from tests.utils.members import next_phone

OWNER = 7301
HEADER = "external_id,phone,name,language,opening_points,tier,joined\n"


@pytest.fixture(autouse=True)
async def owner(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")


async def totals(uow_factory: UnitOfWorkFactory) -> tuple[int, int]:
    async with uow_factory() as uow:
        members = await uow.session.scalar(select(func.count()).select_from(Member))
        entries = await uow.session.scalar(select(func.count()).select_from(LedgerEntry))
    return members or 0, entries or 0


async def test_members_then_adjustments_uploaded_once_and_again(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/imports")
    assert page.status_code == 200 and 'data-columns="members"' in page.text
    token = csrf_of(page)
    ann = next_phone()
    members = (HEADER + f"A-1,{ann},Ann,en,300,silver,2020-01-02\nA-2,{next_phone()},Bo,zh_CN,0,,\n").encode()

    def upload(kind: str, data: bytes):  # type: ignore[no-untyped-def]
        return api.client.post(
            f"/console/imports/{kind}", data={"csrf_token": token}, files={"file": ("file.csv", data, "text/csv")}
        )

    done = await upload("members", members)
    assert done.status_code == 200 and 'data-created="2" data-already="0"' in done.text
    assert "2 members imported with 300 opening points" in done.text
    again = await upload("members", members)
    assert 'data-created="0" data-already="2"' in again.text
    assert await totals(uow_factory) == (2, 1)
    async with uow_factory() as uow:
        member = await uow.members.by_phone(ann)
        assert member is not None
        actors = set(await uow.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "members.import")))
    assert actors == {f"staff:{OWNER}"}

    adjustments = f"member_number,points,reason\n{member.member_number},-50,double entry\n".encode()
    applied = await upload("adjustments", adjustments)
    assert applied.status_code == 200 and 'data-adjusted="1" data-replayed="false"' in applied.text
    replayed = await upload("adjustments", adjustments)
    assert 'data-replayed="true"' in replayed.text
    async with uow_factory() as uow:
        member = await uow.members.by_phone(ann)
        assert member is not None and member.points_balance == 250


async def test_a_bad_file_lists_every_bad_line_in_the_readers_language_and_writes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    token = csrf_of(await api.client.get("/console/imports"))
    bad = (HEADER + f"A-1,{next_phone()},Ann,en,300,,\nA-2,nope,Bo,en,0,,\nA-3,{next_phone()},Cy,en,0,diamond,\n").encode()
    refused = await api.client.post(
        "/console/imports/members", data={"csrf_token": token}, files={"file": ("m.csv", bad, "text/csv")}
    )
    assert refused.status_code == 422
    assert 'data-line="3" data-field="phone"' in refused.text and 'data-line="4" data-field="tier"' in refused.text
    assert "未导入任何内容" in refused.text
    empty = await api.client.post("/console/imports/adjustments", data={"csrf_token": token})
    assert empty.status_code == 422 and 'data-field="header"' in empty.text
    assert await totals(uow_factory) == (0, 0)
