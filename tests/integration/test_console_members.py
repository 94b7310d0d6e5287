"""The console's member care pages over real HTTP: search by each key, a member's page with
every section, each action with its audit row, every refusal as a sentence with nothing
written, owners only, and what blocking does to the till API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import AuditEvent, LedgerEntry, Member, Notification, NotificationKind
from db.uow import UnitOfWorkFactory
from loyalty import member_care
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidInput
from tests.utils.api import RunningApi
from tests.utils.campaigns import started_campaign
from tests.utils.console import add_staff, csrf_of, sign_in
from tests.utils.coupons import add_store, make_template
from tests.utils.members import chat_member, till_member
from tests.utils.rewards import give_points

OWNER, MARKETER = 7201, 7202
CAP = 500
ACTOR = f"staff:{OWNER}"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"adjustment_daily_cap": CAP})


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


@pytest.fixture
async def owner(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> httpx.AsyncClient:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    return api.client


async def form_of(client: httpx.AsyncClient, number: str) -> dict[str, str]:
    page = await client.get(f"/console/members/{number}")
    assert page.status_code == 200, page.text
    return {"csrf_token": csrf_of(page)}


async def actions(uow_factory: UnitOfWorkFactory, action: str) -> list[AuditEvent]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


async def entries(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def member_row(uow_factory: UnitOfWorkFactory, number: str) -> Member:
    async with uow_factory() as uow:
        member = await uow.members.by_number(number)
        assert member is not None
        return member


async def test_search_finds_a_member_by_phone_or_number_and_explains_a_bad_query(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock, phone="+8613800138000")
    spaced = f"{member.member_number[:4]} {member.member_number[4:]}"
    for typed in ("13800138000", "138 0013 8000", "+86 138-0013-8000", member.member_number, spaced):
        page = await owner.get("/console/members", params={"q": typed})
        assert page.status_code == 200, typed
        assert f'data-member="{member.member_number}"' in page.text, typed
    reads = await actions(uow_factory, "member.read")
    assert [event.actor for event in reads] == [ACTOR] * 5 and "13800138000" not in str([e.detail for e in reads])

    nobody = await owner.get("/console/members", params={"q": "+8613900000000"})
    assert nobody.status_code == 200 and 'id="no-members"' in nobody.text

    before = len(await actions(uow_factory, "member.read"))
    for bad in ("Alice", "12345", "x" * 41):
        page = await owner.get("/console/members", params={"q": bad})
        assert page.status_code == 422, bad
        assert 'data-field="q"' in page.text and "Type a phone number or a 10-digit member number." in page.text
        assert f'value="{bad}"' in page.text
    assert len(await actions(uow_factory, "member.read")) == before


async def test_a_members_page_shows_every_section(
    api: RunningApi, owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    auth: dict[str, str],
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=880001, phone="+8613800138001", locale="zh_CN")
    await add_store(uow_factory, clock, "SH1")
    bought = await api.client.post(
        "/api/v1/purchases",
        json={"member": {"member_number": member.member_number}, "order_id": "A-77", "store": "SH1", "amount_minor": 12800, "currency": "CNY"},
        headers=auth,
    )
    assert bought.status_code == 201, bought.text
    template = await make_template(uow_factory, clock, name="Ten off")
    form = await form_of(owner, member.member_number)
    issued = await owner.post(f"/console/members/{member.member_number}/coupon", data={**form, "template": template.code})
    assert issued.status_code == 303
    async with uow_factory() as uow:
        await uow.notifications.mute(member.id, "greetings", at=clock.now())
        await uow.commit()
    await started_campaign(uow_factory, clock, settings, name="Spring hello", holdout_pct=0)

    page = await owner.get(f"/console/members/{member.member_number}")
    assert page.status_code == 200
    text = page.text
    assert "+86 138****8001" in text and "13800138001" not in text
    assert 'data-field="language">中文' in text
    assert 'id="tier"' in text and 'id="balance"' in text
    assert 'data-kind="earn"' in text and "order A-77 at" in text
    assert 'data-coupon="' in text and "Ten off" in text
    assert 'data-message="coupon_issued"' in text
    assert 'data-muted="greetings"' in text
    assert 'data-campaign-message="Spring hello"' in text


async def test_adjusting_points_is_audited_and_every_refusal_is_a_sentence(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    number = member.member_number
    await give_points(uow_factory, clock, member, 100)
    form = await form_of(owner, number)
    done = await owner.post(f"/console/members/{number}/adjust", data={**form, "points": "40", "reason": "broken cup", "nonce": "n1"})
    assert done.status_code == 303 and done.headers["location"].endswith("done=adjusted")
    again = await owner.post(f"/console/members/{number}/adjust", data={**form, "points": "40", "reason": "broken cup", "nonce": "n1"})
    assert again.status_code == 303  # a double submit posts once
    assert (await member_row(uow_factory, number)).points_balance == 140
    [event] = await actions(uow_factory, "points.adjust")
    assert event.actor == ACTOR and event.detail == "+40: broken cup"
    async with uow_factory() as uow:
        told = list(await uow.session.scalars(select(Notification).where(Notification.kind == NotificationKind.POINTS_ADJUSTED)))
    assert [(n.member_id, n.payload) for n in told] == [(member.id, {"points": 40, "balance": 140})]
    page = await owner.get(f"/console/members/{number}")
    assert 'data-kind="adjust"' in page.text and "broken cup" in page.text and ACTOR in page.text

    written = await entries(uow_factory)
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"points": "-200", "reason": "too much"}, "points", "The member has only 140 points"),
        ({"points": "461", "reason": "over the cap"}, "points", "You may adjust at most 500 points a day; 40 already today, 461 more asked."),
        ({"points": "10", "reason": ""}, "reason", "Say why, in a few words"),
        ({"points": "10", "reason": "a\nb"}, "reason", "Say why on one line"),
        ({"points": "ten", "reason": "goodwill"}, "points", "Type a whole number of points"),
        ({"points": "0", "reason": "goodwill"}, "points", "An adjustment of 0 points changes nothing"),
    ]
    for typed, field, sentence in refusals:
        page = await owner.post(f"/console/members/{number}/adjust", data={**form, **typed, "nonce": f"n-{field}-{typed['points']}"})
        assert page.status_code == 422, typed
        assert f'class="problem" data-field="{field}"' in page.text and sentence in page.text, (typed, page.text[-3000:])
        assert f'value="{typed["points"]}"' in page.text
    assert await entries(uow_factory) == written
    assert len(await actions(uow_factory, "points.adjust")) == 1


async def test_issuing_a_coupon_is_audited_and_the_member_is_told(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=880002)
    template = await make_template(uow_factory, clock, per_member_limit=1)
    form = await form_of(owner, member.member_number)
    url = f"/console/members/{member.member_number}/coupon"
    assert (await owner.post(url, data={**form, "template": template.code})).status_code == 303
    [event] = await actions(uow_factory, "coupon.issue")
    assert event.actor == ACTOR and event.member_id == member.id
    async with uow_factory() as uow:
        told = await uow.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == NotificationKind.COUPON_ISSUED))
    assert told == 1

    for typed, sentence in (
        (template.code, "The member already has as many of this coupon as one member may."),
        ("NOPE", "There is no such coupon template."),
        ("", "Choose a coupon template."),
    ):
        page = await owner.post(url, data={**form, "template": typed})
        assert page.status_code == 422 and 'data-field="template"' in page.text and sentence in page.text, typed
    assert len(await actions(uow_factory, "coupon.issue")) == 1


async def test_resending_the_card_queues_it_for_the_chat_and_is_audited(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await chat_member(uow_factory, clock, telegram_id=880003)
    form = await form_of(owner, member.member_number)
    assert (await owner.post(f"/console/members/{member.member_number}/card", data=form)).status_code == 303
    async with uow_factory() as uow:
        queued = list(await uow.session.scalars(select(Notification.member_id).where(Notification.kind == NotificationKind.CARD)))
    assert queued == [member.id]
    [event] = await actions(uow_factory, "member.card_resent")
    assert event.actor == ACTOR

    at_till = await till_member(uow_factory, clock)
    page = await owner.post(f"/console/members/{at_till.member_number}/card", data=form)
    assert page.status_code == 422 and 'data-field="card"' in page.text and "has no chat the bot can write to" in page.text
    assert len(await actions(uow_factory, "member.card_resent")) == 1


async def test_a_blocked_member_earns_and_redeems_nothing_until_unblocked(
    api: RunningApi, owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock, auth: dict[str, str]
) -> None:
    member = await till_member(uow_factory, clock)
    number = member.member_number
    await add_store(uow_factory, clock, "SH1")
    template = await make_template(uow_factory, clock)
    form = await form_of(owner, number)
    assert (await owner.post(f"/console/members/{number}/coupon", data={**form, "template": template.code})).status_code == 303
    blocked = await owner.post(f"/console/members/{number}/block", data={**form, "blocked": "1"})
    assert blocked.status_code == 303
    page = await owner.get(f"/console/members/{number}")
    assert 'data-blocked="yes"' in page.text and 'id="blocked-note"' in page.text

    def purchase(order: str) -> dict[str, Any]:
        return {"member": {"member_number": number}, "order_id": order, "store": "SH1", "amount_minor": 12800, "currency": "CNY"}

    written = await entries(uow_factory)
    refused = await api.client.post("/api/v1/purchases", json=purchase("B-1"), headers=auth)
    assert refused.status_code == 409 and refused.json()["code"] == "member_blocked"
    async with uow_factory() as uow:
        [coupon] = await uow.personal_data.coupons(member.id)
    redeemed = await api.client.post(
        "/api/v1/coupons/redeem",
        json={"code": coupon[0].code, "store": "SH1", "order_id": "B-2", "amount_minor": 12800, "currency": "CNY"},
        headers=auth,
    )
    assert redeemed.status_code == 409 and redeemed.json()["code"] == "member_blocked"
    assert await entries(uow_factory) == written

    assert (await owner.post(f"/console/members/{number}/block", data={**form, "blocked": "0"})).status_code == 303
    assert (await api.client.post("/api/v1/purchases", json=purchase("B-3"), headers=auth)).status_code == 201
    assert [(event.action, event.actor) for event in await actions(uow_factory, "member.block")] == [("member.block", ACTOR)]
    assert [(event.action, event.actor) for event in await actions(uow_factory, "member.unblock")] == [("member.unblock", ACTOR)]


async def test_export_downloads_the_members_data_and_is_audited(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock, phone="+8613800138009")
    form = await form_of(owner, member.member_number)
    response = await owner.post(f"/console/members/{member.member_number}/export", data=form)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert f'member-{member.member_number}.json' in response.headers["content-disposition"]
    body = json.loads(response.text)
    assert body["profile"]["member_number"] == member.member_number and body["profile"]["phone"] == "+8613800138009"
    [event] = await actions(uow_factory, "member.export")
    assert event.actor == ACTOR and event.member_id == member.id


async def test_erasing_needs_the_member_number_typed_again(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    member = await till_member(uow_factory, clock)
    number = member.member_number
    form = await form_of(owner, number)
    for typed in ("", "yes", number[:-1] + str((int(number[-1]) + 1) % 10)):
        page = await owner.post(f"/console/members/{number}/erase", data={**form, "confirmation": typed})
        assert page.status_code == 422 and 'data-field="confirmation"' in page.text
        assert "number exactly, to confirm: nothing was erased." in page.text
    assert (await member_row(uow_factory, number)).erased_at is None and not await actions(uow_factory, "member.erase")

    done = await owner.post(f"/console/members/{number}/erase", data={**form, "confirmation": number})
    assert done.status_code == 303 and done.headers["location"] == f"/console/members?erased={number}"
    assert (await member_row(uow_factory, number)).erased_at is not None
    [event] = await actions(uow_factory, "member.erase")
    assert event.actor == ACTOR
    gone = await owner.get(f"/console/members/{number}")
    assert gone.status_code == 404 and "No such member" in gone.text


async def test_member_pages_are_for_owners_and_every_post_needs_the_csrf_token(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    number = member.member_number
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    campaigns = await api.client.get("/console/campaigns")
    assert 'data-nav="members"' not in campaigns.text
    for path in ("/console/members", f"/console/members/{number}"):
        assert (await api.client.get(path)).status_code == 403
    token = csrf_of(campaigns)
    for action, data in (("adjust", {"points": "5", "reason": "hello"}), ("block", {"blocked": "1"}), ("export", {}), ("erase", {"confirmation": number})):
        assert (await api.client.post(f"/console/members/{number}/{action}", data={"csrf_token": token, **data})).status_code == 403

    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    for action, data in (("adjust", {"points": "5", "reason": "hello"}), ("block", {"blocked": "1"}), ("erase", {"confirmation": number})):
        response = await api.client.post(f"/console/members/{number}/{action}", data=data)
        assert response.status_code == 403 and 'data-page="csrf"' in response.text
    row = await member_row(uow_factory, number)
    assert row.points_balance == 0 and row.blocked_at is None and row.erased_at is None
    form = await form_of(api.client, number)
    missing = await api.client.post("/console/members/1234567897/block", data={**form, "blocked": "1"})
    assert missing.status_code == 404 and "No such member" in missing.text


@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(1, 9), st.sampled_from([" ", "-", "  "])), max_size=4), name=st.text(
    alphabet=st.characters(categories=["L"]), min_size=1, max_size=20))
async def test_a_member_number_typed_with_any_separators_finds_the_member_and_a_name_is_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, cuts: list[tuple[int, str]], name: str
) -> None:
    member = await till_member(uow_factory, clock)
    typed = member.member_number
    for at, separator in sorted(cuts, reverse=True):
        typed = typed[:at] + separator + typed[at:]
    async with uow_factory() as uow:
        found = await member_care.search(uow, clock, settings, typed, actor=ACTOR)
    assert [m.member_number for m in found] == [member.member_number]
    before = len(await actions(uow_factory, "member.read"))
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            await member_care.search(uow, clock, settings, name, actor=ACTOR)
    assert len(await actions(uow_factory, "member.read")) == before


async def test_refusals_read_in_the_staff_members_language(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await till_member(uow_factory, clock)
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    form = await form_of(api.client, member.member_number)
    page = await api.client.post(f"/console/members/{member.member_number}/adjust", data={**form, "points": "0", "reason": "客户投诉"})
    assert page.status_code == 422
    assert "调整 0 积分不会有任何变化" in page.text and 'value="客户投诉"' in page.text
    search = await api.client.get("/console/members", params={"q": "王小明"})
    assert search.status_code == 422 and "请输入手机号或 10 位会员号。" in search.text
