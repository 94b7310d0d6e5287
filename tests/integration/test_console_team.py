"""The owner's staff and API key pages over real HTTP: adding, re-roling and removing staff
(a removed member's console session ends at once), creating a key that is shown once, its
scopes and expiry, revoking it (the API refuses it at once), its last use; every refusal next
to its field in the reader's language with nothing written, and marketers kept out."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from db.models import ApiKey, AuditEvent, Staff
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, bearer
from tests.utils.console import add_staff, csrf_of, session_count, sign_in

OWNER, MARKETER = 7201, 7202


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


async def staff_rows(uow_factory: UnitOfWorkFactory) -> dict[int, tuple[str, str]]:
    async with uow_factory() as uow:
        return {row.telegram_id: (row.role, row.name) for row in await uow.session.scalars(select(Staff))}


async def audited(uow_factory: UnitOfWorkFactory, action: str) -> list[tuple[str, str | None]]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(row.actor, row.detail) for row in rows]


async def test_an_owner_adds_reroles_and_removes_staff_and_removal_signs_them_out(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/staff")
    assert page.status_code == 200 and f'data-staff="{MARKETER}"' in page.text
    token = csrf_of(page)

    added = await api.client.post("/console/staff", data={"csrf_token": token, "telegram_id": "7203", "name": "Nia", "role": "marketer"})
    assert added.status_code == 303
    changed = await api.client.post("/console/staff", data={"csrf_token": token, "telegram_id": "7203", "role": "owner"})
    assert changed.status_code == 303
    assert (await staff_rows(uow_factory))[7203] == ("owner", "Nia")
    assert await audited(uow_factory, "staff.update") == [(f"staff:{OWNER}", "7203 owner")]

    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as marketer:
        await sign_in(marketer, uow_factory, clock, settings, MARKETER)
        assert (await marketer.get("/console/campaigns")).status_code == 200
        sessions = await session_count(uow_factory)
        removed = await api.client.post(f"/console/staff/{MARKETER}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert await session_count(uow_factory) == sessions - 1
        after = await marketer.get("/console/campaigns")
        assert after.status_code == 303 and after.headers["location"] == "/console/signin"
    assert MARKETER not in await staff_rows(uow_factory)
    assert await audited(uow_factory, "staff.remove") == [(f"staff:{OWNER}", str(MARKETER))]

    gone = await api.client.post(f"/console/staff/{MARKETER}/remove", data={"csrf_token": token})
    assert gone.status_code == 404 and 'data-problem="unknown"' in gone.text


async def test_the_last_owner_can_neither_remove_nor_demote_themselves(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    token = csrf_of(await api.client.get("/console/staff"))
    before = await staff_rows(uow_factory)

    removed = await api.client.post(f"/console/staff/{OWNER}/remove", data={"csrf_token": token})
    demoted = await api.client.post("/console/staff", data={"csrf_token": token, "telegram_id": str(OWNER), "role": "marketer"})

    for answer in (removed, demoted):
        assert answer.status_code == 409
        assert 'data-problem="last_owner"' in answer.text and "这是本计划唯一的店主" in answer.text
    assert await staff_rows(uow_factory) == before
    assert await audited(uow_factory, "staff.remove") == await audited(uow_factory, "staff.update") == []


@pytest.mark.parametrize(
    ("form", "field", "sentence"),
    [
        ({"telegram_id": "12ab", "name": "Al", "role": "owner"}, "telegram_id", "Telegram 用户 ID 是一个正整数"),
        ({"telegram_id": "0", "name": "Al", "role": "owner"}, "telegram_id", "Telegram 用户 ID 是一个正整数"),
        ({"telegram_id": "7300", "name": "", "role": "owner"}, "name", "新员工需要填写"),
        ({"telegram_id": "7300", "name": "x" * 65, "role": "owner"}, "name", "新员工需要填写"),
        ({"telegram_id": "7300", "name": "Al", "role": "admin"}, "role", "请选择店主、营销人员或收银员"),
        ({"telegram_id": "7300", "name": "Al", "role": "cashier"}, "store", "请选择门店"),
        ({"telegram_id": "7300", "name": "Al", "role": "cashier", "store": "NOPE"}, "store", "请选择门店"),
    ],
)
async def test_a_refused_staff_form_is_shown_again_with_the_reason_and_writes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    form: dict[str, str], field: str, sentence: str,
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    before = await staff_rows(uow_factory)
    token = csrf_of(await api.client.get("/console/staff"))
    refused = await api.client.post("/console/staff", data={"csrf_token": token, **form})
    assert refused.status_code == 422
    assert f'data-problem="{field}"' in refused.text and sentence in refused.text
    assert f'value="{form["telegram_id"]}"' in refused.text, "what they typed is kept"
    assert await staff_rows(uow_factory) == before


async def test_marketers_and_forged_forms_get_no_staff_or_key_page(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    token = csrf_of(await api.client.get("/console/campaigns"))
    for path in ("/console/staff", "/console/keys", "/console/imports"):
        assert (await api.client.get(path)).status_code == 403, path
    promoted = await api.client.post("/console/staff", data={"csrf_token": token, "telegram_id": str(MARKETER), "role": "owner"})
    assert promoted.status_code == 403
    made = await api.client.post("/console/keys", data={"csrf_token": token, "name": "sneaky", "scope": "admin"})
    assert made.status_code == 403
    assert (await staff_rows(uow_factory))[MARKETER][0] == "marketer"

    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as owner:
        await sign_in(owner, uow_factory, clock, settings, OWNER)
        forged = await owner.post("/console/keys", data={"csrf_token": "forged", "name": "forged", "scope": "till"})
        assert forged.status_code == 403
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(ApiKey.name))) == []


async def test_a_key_is_shown_once_works_with_its_scope_and_stops_when_revoked(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/keys")
    assert page.status_code == 200 and 'id="no-keys"' in page.text
    token = csrf_of(page)
    created = await api.client.post(
        "/console/keys", data={"csrf_token": token, "name": "till-1", "scope": ["till"], "expires": "90d"}
    )
    assert created.status_code == 201 and 'id="new-key"' in created.text
    raw = created.text.split('<output id="new-key"><code>')[1].split("</code>")[0]
    assert raw.startswith("lk_")
    listing = await api.client.get("/console/keys")
    assert raw not in listing.text and 'id="new-key"' not in listing.text, "shown once, never again"
    assert 'data-key="till-1" data-state="active"' in listing.text and "never used" in listing.text

    assert (await api.client.get("/api/v1/noop", headers=bearer(raw))).status_code == 200
    assert (await api.client.get("/api/v1/tiers", headers=bearer(raw))).status_code == 403, "till scope only"
    used = await api.client.get("/console/keys")
    assert "never used" not in used.text and f'data-last-used="{clock.now().isoformat()}"' in used.text

    revoked = await api.client.post("/console/keys/till-1/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert (await api.client.get("/api/v1/noop", headers=bearer(raw))).status_code == 401
    assert 'data-key="till-1" data-state="revoked"' in (await api.client.get("/console/keys")).text
    assert await audited(uow_factory, "apikey.revoke") == [(f"staff:{OWNER}", "till-1")]
    [(actor, detail)] = await audited(uow_factory, "apikey.create")
    assert actor == f"staff:{OWNER}" and detail is not None and detail.startswith("till-1: till, expires")

    unknown = await api.client.post("/console/keys/nope/revoke", data={"csrf_token": token})
    assert unknown.status_code == 404 and 'data-problem="unknown"' in unknown.text


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"name": "bad name!", "scope": "till"}, "name"),
        ({"name": "k1", "scope": "root"}, "scope"),
        ({"name": "k1", "scope": "till", "expires": "tomorrow"}, "expires"),
        ({"name": "k1", "scope": "till", "expires": "2020-01-01"}, "expires"),
        ({"name": "k1", "scope": "till", "expires": "99999d"}, "expires"),
        ({"name": "taken", "scope": "marketing"}, "name_taken"),
    ],
)
async def test_a_refused_key_form_is_shown_again_with_the_reason_and_makes_no_key(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    form: dict[str, str], problem: str,
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    token = csrf_of(await api.client.get("/console/keys"))
    assert (await api.client.post("/console/keys", data={"csrf_token": token, "name": "taken", "scope": "till"})).status_code == 201
    refused = await api.client.post("/console/keys", data={"csrf_token": token, **form})
    assert refused.status_code == 422 and f'data-problem="{problem}"' in refused.text
    assert f'value="{form["name"]}"' in refused.text and 'id="new-key"' not in refused.text
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(ApiKey.name))) == ["taken"]


async def test_an_owner_makes_someone_a_cashier_at_a_store(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    from tests.utils.coupons import add_store

    store = await add_store(uow_factory, clock, "S9")
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    token = csrf_of(await api.client.get("/console/staff"))

    added = await api.client.post(
        "/console/staff", data={"csrf_token": token, "telegram_id": "7400", "name": "Cai", "role": "cashier", "store": "S9"}
    )

    assert added.status_code == 303, added.text
    async with uow_factory() as uow:
        row = await uow.staff.by_telegram_id(7400)
    assert row is not None and (row.role, row.store_id) == ("cashier", store.id)
    page = await api.client.get("/console/staff")
    assert 'data-role="cashier"' in page.text and '<option value="S9" selected>' in page.text
