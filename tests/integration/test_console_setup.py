"""The console's set-up pages over real HTTP: the tier ladder (the rules' checks beside the
field, a preview of who would move, saving through loyalty.tiers) and the earning rules
(create, edit, deactivate through loyalty.earning, and the calculator), owner only, each
refusal a 422 page in the staff member's language that holds what they typed and writes
nothing."""

from __future__ import annotations

import html
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from api.console.rendering import texts_for
from db.models import AuditEvent, EarningRule, LedgerEntry, Purchase, Tier
from db.uow import UnitOfWorkFactory
from loyalty import earning
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.campaigns import add_members, bought
from tests.utils.console import add_staff, csrf_of, sign_in
from tests.utils.members import till_member

OWNER, MARKETER = 7301, 7302
ACTOR = f"staff:{OWNER}"


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


@pytest.fixture
async def owner(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> httpx.AsyncClient:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    return api.client


async def ladder_of(uow_factory: UnitOfWorkFactory) -> dict[str, tuple[int, int, int, int]]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(Tier).order_by(Tier.rank))
        return {tier.code: (tier.rank, tier.min_spend_minor, tier.min_visits, tier.earn_multiplier_pct) for tier in rows}


async def count(uow_factory: UnitOfWorkFactory, model: type) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def staff_audit(uow_factory: UnitOfWorkFactory) -> list[tuple[str, str]]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(AuditEvent).where(AuditEvent.actor == ACTOR).order_by(AuditEvent.id))
        return [(row.action, row.detail or "") for row in rows if not row.action.startswith("console.")]


DEFAULT_LADDER: dict[str, list[str]] = {
    "code": ["member", "silver", "gold", "black", ""],
    "rank": ["0", "1", "2", "3", ""],
    "name_en": ["Member", "Silver", "Gold", "Black", ""],
    "name_zh_CN": ["普通会员", "银卡", "金卡", "黑金卡", ""],
    "spend": ["0", "2000", "6000", "12000", ""],
    "visits": ["0", "10", "25", "50", ""],
    "earn": ["100", "110", "125", "150", ""],
    "birthday": ["100", "200", "200", "200", ""],
    "benefits_en": [
        "1 point for every 1.00 spent",
        "10% more points\nDouble points in your birthday month",
        "25% more points\nDouble points in your birthday month\nFree delivery",
        "50% more points\nDouble points in your birthday month\nFree delivery\nPriority service",
        "",
    ],
    "benefits_zh_CN": [
        "每消费1元积1分",
        "积分加赠10%\n生日月双倍积分",
        "积分加赠25%\n生日月双倍积分\n免费配送",
        "积分加赠50%\n生日月双倍积分\n免费配送\n优先服务",
        "",
    ],
}


def ladder_form(token: str, action: str = "preview", **changes: dict[int, str]) -> dict[str, object]:
    form: dict[str, object] = {name: list(values) for name, values in DEFAULT_LADDER.items()}
    for name, cells in changes.items():
        column = form[name]
        assert isinstance(column, list)
        for row, value in cells.items():
            column[row] = value
    return {**form, "csrf_token": token, "action": action}


async def test_the_ladder_page_shows_every_tier_and_the_window_read_only(owner: httpx.AsyncClient, settings: Settings) -> None:
    page = await owner.get("/console/tiers")
    assert page.status_code == 200
    for code in ("member", "silver", "gold", "black"):
        assert f'data-tier="{code}"' in page.text
    assert 'value="2000"' in page.text and 'value="银卡"' in page.text  # spend shown in yuan
    assert f'data-months="{settings.tier_window_months}"' in page.text and f'data-grace="{settings.tier_grace_days}"' in page.text
    assert 'name="tier_window_months"' not in page.text  # from the environment: shown, not edited


async def test_the_preview_counts_who_would_move_and_writes_nothing(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    climbers = await add_members(uow_factory, clock, 3)
    for member_id in climbers:
        await bought(uow_factory, member_id, at=clock.now() - timedelta(days=3), amount_minor=150_000)
    await add_members(uow_factory, clock, 2, tier="silver")  # nothing bought: under any threshold
    await add_members(uow_factory, clock, 4)  # nothing bought, entry tier: stay
    before = await ladder_of(uow_factory)

    token = csrf_of(await owner.get("/console/tiers"))
    page = await owner.post("/console/tiers", data=ladder_form(token, spend={1: "1000"}))
    assert page.status_code == 200, page.text
    assert 'data-members="9" data-up="3" data-down="2"' in page.text
    assert await ladder_of(uow_factory) == before


async def test_saving_the_ladder_changes_tiers_adds_one_and_audits_the_owner(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory
) -> None:
    token = csrf_of(await owner.get("/console/tiers"))
    form = ladder_form(
        token, "save", spend={1: "1500.50", 4: "30000"}, earn={2: "130"}, code={4: "diamond"}, rank={4: "4"},
        name_en={4: "Diamond"}, name_zh_CN={4: "钻石卡"}, visits={4: "80"}, birthday={4: "300"},
    )
    saved = await owner.post("/console/tiers", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/tiers?saved=1"
    ladder = await ladder_of(uow_factory)
    assert ladder["silver"] == (1, 150_050, 10, 110)
    assert ladder["gold"] == (2, 600_000, 25, 130)
    assert ladder["diamond"] == (4, 3_000_000, 80, 100)
    actions = [action for action, _ in await staff_audit(uow_factory)]
    assert sorted(actions) == ["tier.create", "tier.update", "tier.update"]
    page = await owner.get("/console/tiers?saved=1")
    assert 'id="tiers-saved"' in page.text and 'data-tier="diamond"' in page.text


@pytest.mark.parametrize(
    ("changes", "column", "problem"),
    [
        ({"spend": {2: "lots"}}, "spend", "min_spend_minor"),
        ({"spend": {2: "1000"}}, "spend", "min_spend_minor"),  # below silver's 2000
        ({"visits": {1: "60"}}, "visits", "min_visits"),  # above gold's 25
        ({"rank": {3: "2"}}, "rank", "rank"),
        ({"name_zh_CN": {1: ""}}, "name_en", "names"),
        ({"earn": {2: "50"}}, "earn", "earn_multiplier_pct"),
        ({"spend": {0: "10"}}, "spend", "min_spend_minor"),  # the entry tier has no threshold
        ({"code": {4: "Bad Code"}, "rank": {4: "9"}, "name_en": {4: "X"}, "name_zh_CN": {4: "X"}, "visits": {4: "99"}}, "code", "code"),
        ({"code": {3: "gold"}}, "code", "duplicate"),
    ],
)
async def test_a_ladder_the_rules_refuse_is_shown_back_with_the_reason_beside_the_field(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, settings: Settings,
    changes: dict[str, dict[int, str]], column: str, problem: str,
) -> None:
    before = await ladder_of(uow_factory)
    token = csrf_of(await owner.get("/console/tiers"))
    page = await owner.post("/console/tiers", data=ladder_form(token, "save", **changes))
    assert page.status_code == 422
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"tiers.problems.{problem}") in html.unescape(page.text)
    cell = page.text.split(f'data-problem="{problem}"')[0].rsplit("<td", 1)[1]
    assert f'data-column="{column}"' in cell
    typed = next(iter(next(iter(changes.values())).values()))
    if typed:
        assert f'value="{typed}"' in page.text  # what they typed, held
    assert await ladder_of(uow_factory) == before
    assert await staff_audit(uow_factory) == []


async def test_refusals_read_in_the_staff_members_language(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    token = csrf_of(await api.client.get("/console/tiers"))
    page = await api.client.post("/console/tiers", data=ladder_form(token, "save", earn={2: "50"}))
    assert page.status_code == 422 and texts_for(settings, "zh_CN")("tiers.problems.earn_multiplier_pct") in html.unescape(page.text)
    rule = await api.client.post("/console/earning", data={"csrf_token": token, "kind": "promotion", "name": "x"})
    assert rule.status_code == 422 and texts_for(settings, "zh_CN")("earning.problems.multiplier_pct") in html.unescape(rule.text)


async def test_marketers_and_forms_without_the_csrf_token_are_refused(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    token = csrf_of(await api.client.get("/console/campaigns"))
    for path in ("/console/tiers", "/console/earning", "/console/earning/1"):
        page = await api.client.get(path)
        assert page.status_code == 403 and 'data-page="forbidden"' in page.text, path
    before = await ladder_of(uow_factory)
    posted = await api.client.post("/console/tiers", data=ladder_form(token, "save", spend={1: "1000"}))
    assert posted.status_code == 403
    rule = await api.client.post("/console/earning", data={"csrf_token": token, "kind": "bonus", "name": "x", "event": "signup", "points": "5"})
    assert rule.status_code == 403

    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    posted = await api.client.post("/console/tiers", data=ladder_form("forged", "save", spend={1: "1000"}))
    assert posted.status_code == 403 and 'data-page="csrf"' in posted.text
    assert await ladder_of(uow_factory) == before and await count(uow_factory, EarningRule) == 1


# --- earning rules -------------------------------------------------------------------------------


async def rules(uow_factory: UnitOfWorkFactory) -> dict[str, EarningRule]:
    async with uow_factory() as uow:
        return {rule.name: rule for rule in await earning.list_rules(uow)}


async def test_a_promotion_is_created_edited_and_deactivated_and_each_step_audited(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, settings: Settings
) -> None:
    token = csrf_of(await owner.get("/console/earning"))
    created = await owner.post("/console/earning", data={
        "csrf_token": token, "kind": "promotion", "name": "Coffee week", "multiplier_pct": "200",
        "category": "coffee", "starts_at": "2026-12-01T00:00", "ends_at": "2026-12-08T00:00",
    })
    assert created.status_code == 303, created.text
    rule = (await rules(uow_factory))["Coffee week"]
    assert (rule.kind, rule.multiplier_pct, rule.category, rule.active) == ("promotion", 200, "coffee", True)
    assert rule.starts_at is not None and rule.starts_at.astimezone(settings.zone).hour == 0

    form = await owner.get(f"/console/earning/{rule.id}")
    assert form.status_code == 200 and 'value="coffee"' in form.text and 'value="2026-12-01T00:00"' in form.text
    edited = await owner.post(f"/console/earning/{rule.id}", data={
        "csrf_token": token, "name": "Coffee fortnight", "multiplier_pct": "150", "category": "",
        "starts_at": "2026-12-01T00:00", "ends_at": "2026-12-15T00:00",
    })
    assert edited.status_code == 303, edited.text
    rule = (await rules(uow_factory))["Coffee fortnight"]
    assert (rule.multiplier_pct, rule.category) == (150, None)

    gone = await owner.post(f"/console/earning/{rule.id}/deactivate", data={"csrf_token": token})
    assert gone.status_code == 303
    assert not (await rules(uow_factory))["Coffee fortnight"].active
    assert [action for action, _ in await staff_audit(uow_factory)] == [
        "earning_rule.create", "earning_rule.update", "earning_rule.deactivate"
    ]
    assert (await owner.get("/console/earning/999999")).status_code == 404
    assert (await owner.get("/console/earning/abc")).status_code == 404


async def test_a_new_base_rate_replaces_the_old_one(owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory) -> None:
    token = csrf_of(await owner.get("/console/earning"))
    created = await owner.post("/console/earning", data={"csrf_token": token, "kind": "base", "name": "Two per yuan", "points": "2", "per_amount": "1"})
    assert created.status_code == 303
    active = [rule for rule in (await rules(uow_factory)).values() if rule.kind == "base" and rule.active]
    assert [(rule.name, rule.points, rule.per_amount_minor) for rule in active] == [("Two per yuan", 2, 100)]


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"kind": "promotion", "name": "No multiplier"}, "multiplier_pct"),
        ({"kind": "promotion", "name": "Too big", "multiplier_pct": "5000"}, "multiplier_pct"),
        ({"kind": "promotion", "name": "Backwards", "multiplier_pct": "200", "starts_at": "2026-12-08T00:00", "ends_at": "2026-12-01T00:00"}, "ends_at"),
        ({"kind": "promotion", "name": "Bad date", "multiplier_pct": "200", "starts_at": "soon"}, "starts_at"),
        ({"kind": "base", "name": "Base", "points": "1", "per_amount": "0.001"}, "per_amount_minor"),
        ({"kind": "base", "name": "Base", "points": "many", "per_amount": "1"}, "points"),
        ({"kind": "bonus", "name": "Bonus", "points": "10"}, "event"),
        ({"kind": "bonus", "name": "  ", "points": "10", "event": "signup"}, "name"),
        ({"kind": "nonsense", "name": "What"}, "kind"),
    ],
)
async def test_a_rule_the_rules_refuse_is_shown_back_and_nothing_is_written(
    owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, settings: Settings, form: dict[str, str], problem: str
) -> None:
    token = csrf_of(await owner.get("/console/earning"))
    page = await owner.post("/console/earning", data={"csrf_token": token, **form})
    assert page.status_code == 422
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"earning.problems.{problem}") in html.unescape(page.text)
    if form["name"].strip():
        assert f'value="{form["name"]}"' in page.text
    assert await count(uow_factory, EarningRule) == 1 and await staff_audit(uow_factory) == []


async def test_an_edit_the_rules_refuse_changes_nothing(owner: httpx.AsyncClient, uow_factory: UnitOfWorkFactory) -> None:
    base = next(rule for rule in (await rules(uow_factory)).values() if rule.kind == "base")
    token = csrf_of(await owner.get(f"/console/earning/{base.id}"))
    page = await owner.post(f"/console/earning/{base.id}", data={"csrf_token": token, "name": base.name, "points": "0", "per_amount": "1"})
    assert page.status_code == 422 and 'data-problem="points"' in page.text and 'value="0"' in page.text
    after = (await rules(uow_factory))[base.name]
    assert (after.points, after.per_amount_minor) == (base.points, base.per_amount_minor)


async def test_the_calculator_earns_what_a_recorded_purchase_earns_and_writes_nothing(
    owner: httpx.AsyncClient, api: RunningApi, uow_factory: UnitOfWorkFactory, auth: dict[str, str], clock: FixedClock
) -> None:
    token = csrf_of(await owner.get("/console/earning"))
    await owner.post("/console/earning", data={"csrf_token": token, "kind": "promotion", "name": "Tea", "multiplier_pct": "300", "category": "tea"})
    counts = (await count(uow_factory, Purchase), await count(uow_factory, LedgerEntry))
    page = await owner.get("/console/earning", params={"amount": "88.80", "category": "tea", "tier": "gold"})
    assert page.status_code == 200
    assert (await count(uow_factory, Purchase), await count(uow_factory, LedgerEntry)) == counts

    number = (await till_member(uow_factory, clock)).member_number
    async with uow_factory() as uow:  # a gold member, born in no known month
        member = await uow.members.by_number(number)
        gold = await uow.program.tier_by_code("gold")
        assert member is not None and gold is not None and member.birthday_month is None
        member.tier_id = gold.id
        await uow.commit()
    recorded = await api.client.post("/api/v1/purchases", headers=auth, json={
        "member": {"member_number": number}, "order_id": "CALC-1", "amount_minor": 8_880, "currency": "CNY",
        "channel": "online", "lines": [{"sku": "t1", "category": "tea", "quantity": 1, "amount_minor": 8_880}],
    })
    assert recorded.status_code == 201, recorded.text
    points = recorded.json()["points_earned"]
    assert points > 8_880 // 100  # the promotion and the tier count
    assert f'data-points="{points}"' in page.text


@pytest.mark.parametrize(
    ("params", "problem"),
    [({"amount": "free", "tier": "gold"}, "amount_minor"), ({"amount": "-5", "tier": "gold"}, "amount_minor"), ({"amount": "10", "tier": "nope"}, "tier")],
)
async def test_a_calculation_the_rules_refuse_says_why(owner: httpx.AsyncClient, params: dict[str, str], problem: str) -> None:
    page = await owner.get("/console/earning", params=params)
    assert page.status_code == 422 and f'data-problem="{problem}"' in page.text and f'value="{params["amount"]}"' in page.text
