"""The console's rewards and coupon templates over real HTTP, for owners and marketers: list,
create and edit through loyalty/rewards.py and loyalty/coupons.py with the API's own models,
names in one language or both, each change audited under the staff member, and each refusal a
422 page with the reason beside the field, what was typed held, nothing written."""

from __future__ import annotations

import html

import httpx
import pytest
from sqlalchemy import func, select

from api.console.rendering import texts_for
from db.models import AuditEvent, CouponTemplate, Reward
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.console import add_staff, csrf_of, sign_in

OWNER, MARKETER = 7401, 7402


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


@pytest.fixture
async def marketer(api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings) -> httpx.AsyncClient:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    return api.client


async def rows(uow_factory: UnitOfWorkFactory, model: type[Reward] | type[CouponTemplate]) -> dict[str, Reward | CouponTemplate]:
    async with uow_factory() as uow:
        return {row.code: row for row in await uow.session.scalars(select(model))}


async def changes_by(uow_factory: UnitOfWorkFactory, telegram_id: int) -> list[str]:
    async with uow_factory() as uow:
        found = await uow.session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == f"staff:{telegram_id}", ~AuditEvent.action.startswith("console."))
        )
        return list(found)


REWARD = {"code": "LATTE", "name_zh_CN": "拿铁", "description_zh_CN": "任意杯型", "points_price": "250", "cash_value": "32", "stock": "", "active": "1"}
TEMPLATE = {
    "code": "WELCOME10", "name_en": "10% off", "name_zh_CN": "九折", "kind": "percent_off", "value": "10",
    "min_spend": "30", "valid_days": "30", "cities": "Shanghai, Beijing", "per_member_limit": "1", "auto_issue": "signup", "active": "1",
}


async def test_a_marketer_creates_and_edits_a_reward_named_in_one_language(marketer: httpx.AsyncClient, uow_factory: UnitOfWorkFactory) -> None:
    page = await marketer.get("/console/rewards")
    assert page.status_code == 200 and 'id="catalogue-empty"' in page.text and 'data-nav="rewards"' in page.text
    token = csrf_of(page)
    created = await marketer.post("/console/rewards", data={"csrf_token": token, **REWARD})
    assert created.status_code == 303, created.text
    reward = (await rows(uow_factory, Reward))["LATTE"]
    assert isinstance(reward, Reward)
    assert (reward.names, reward.points_price, reward.cash_value_minor, reward.stock) == ({"zh_CN": "拿铁"}, 250, 3_200, None)

    listing = await marketer.get("/console/rewards")
    assert 'data-code="LATTE"' in listing.text and "拿铁" in listing.text
    form = await marketer.get("/console/rewards/LATTE")
    assert form.status_code == 200 and 'value="32"' in form.text and "readonly" in form.text
    edited = await marketer.post("/console/rewards/LATTE", data={
        "csrf_token": token, **REWARD, "code": "IGNORED", "name_en": "Latte", "stock": "20", "active": "",
        "image_url": "https://shop.example.com/latte.jpg",
    })
    assert edited.status_code == 303, edited.text
    reward = (await rows(uow_factory, Reward))["LATTE"]
    assert isinstance(reward, Reward)
    assert (reward.names, reward.stock, reward.active) == ({"en": "Latte", "zh_CN": "拿铁"}, 20, False)
    assert reward.image_url == "https://shop.example.com/latte.jpg"
    listing = await marketer.get("/console/rewards")
    assert '<img class="thumb" src="https://shop.example.com/latte.jpg"' in listing.text
    assert "img-src 'self' data: https:;" in listing.headers["content-security-policy"]
    assert "https:;" not in (await marketer.get("/console/campaigns")).headers["content-security-policy"]
    assert await changes_by(uow_factory, MARKETER) == ["reward.create", "reward.update"]
    assert (await marketer.get("/console/rewards/NOPE")).status_code == 404


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"points_price": "0"}, "points_price"),
        ({"points_price": "lots"}, "points_price"),
        ({"name_zh_CN": ""}, "names"),
        ({"code": "bad code!"}, "code"),
        ({"cash_value": "-1"}, "cash_value_minor"),
        ({"active_from": "2026-12-08T00:00", "active_until": "2026-12-01T00:00"}, "active_until"),
        ({"min_tier": "platinum"}, "min_tier"),
        ({"image_url": "http://shop.example.com/latte.jpg"}, "image_url"),
        ({"image_url": "https://user:pw@shop.example.com/latte.jpg"}, "image_url"),
    ],
)
async def test_a_reward_the_rules_refuse_is_shown_back_and_nothing_is_written(
    marketer: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, settings: Settings, changes: dict[str, str], problem: str
) -> None:
    token = csrf_of(await marketer.get("/console/rewards"))
    page = await marketer.post("/console/rewards", data={"csrf_token": token, **REWARD, **changes})
    assert page.status_code == 422, page.text
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"catalogue.problems.{problem}") in html.unescape(page.text)
    assert 'value="250"' in page.text or changes.get("points_price")
    assert await rows(uow_factory, Reward) == {} and await changes_by(uow_factory, MARKETER) == []


async def test_a_taken_reward_code_is_refused_beside_the_code(marketer: httpx.AsyncClient, uow_factory: UnitOfWorkFactory) -> None:
    token = csrf_of(await marketer.get("/console/rewards"))
    assert (await marketer.post("/console/rewards", data={"csrf_token": token, **REWARD})).status_code == 303
    again = await marketer.post("/console/rewards", data={"csrf_token": token, **REWARD, "points_price": "999"})
    assert again.status_code == 422 and 'data-problem="exists"' in again.text
    reward = (await rows(uow_factory, Reward))["LATTE"]
    assert isinstance(reward, Reward) and reward.points_price == 250


async def test_coupon_templates_are_created_and_edited_with_validity_scope_limits_and_auto_issue(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER, locale="zh_CN")
    page = await api.client.get("/console/coupon-templates")
    assert page.status_code == 200 and "优惠券模板" in page.text
    token = csrf_of(page)
    created = await api.client.post("/console/coupon-templates", data={"csrf_token": token, **TEMPLATE})
    assert created.status_code == 303, created.text
    template = (await rows(uow_factory, CouponTemplate))["WELCOME10"]
    assert isinstance(template, CouponTemplate)
    assert (template.kind, template.value, template.min_spend_minor, template.valid_days, template.cities, template.auto_issue) == (
        "percent_off", 10, 3_000, 30, ["Shanghai", "Beijing"], "signup"
    )
    edited = await api.client.post("/console/coupon-templates/WELCOME10", data={
        "csrf_token": token, **TEMPLATE, "kind": "amount_off", "value": "99", "auto_issue": "",
        "total_quantity": "500", "valid_until": "2026-12-31", "cities": "",
    })
    assert edited.status_code == 303, edited.text
    template = (await rows(uow_factory, CouponTemplate))["WELCOME10"]
    assert isinstance(template, CouponTemplate)
    assert (template.kind, template.value, template.auto_issue) == ("percent_off", 10, "signup")  # never change
    assert (template.total_quantity, str(template.valid_until), template.cities) == (500, "2026-12-31", [])
    assert await changes_by(uow_factory, OWNER) == ["coupon_template.create", "coupon_template.update"]
    listing = await api.client.get("/console/coupon-templates")
    assert 'data-code="WELCOME10"' in listing.text and "九折" in listing.text


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"value": "150"}, "value"),
        ({"kind": "amount_off", "value": "abc"}, "value"),
        ({"valid_days": ""}, "valid_until"),
        ({"valid_from": "2026-12-10", "valid_until": "2026-12-01"}, "valid_until"),
        ({"stores": "S404"}, "stores"),
        ({"auto_issue": "tier"}, "min_tier"),
        ({"per_member_limit": "0"}, "per_member_limit"),
        ({"name_en": "", "name_zh_CN": ""}, "names"),
    ],
)
async def test_a_coupon_template_the_rules_refuse_is_shown_back_and_nothing_is_written(
    marketer: httpx.AsyncClient, uow_factory: UnitOfWorkFactory, settings: Settings, changes: dict[str, str], problem: str
) -> None:
    token = csrf_of(await marketer.get("/console/coupon-templates"))
    page = await marketer.post("/console/coupon-templates", data={"csrf_token": token, **TEMPLATE, **changes})
    assert page.status_code == 422, page.text
    assert f'data-problem="{problem}"' in page.text
    assert texts_for(settings, "en")(f"catalogue.problems.{problem}") in html.unescape(page.text)
    assert 'value="WELCOME10"' in page.text
    assert await rows(uow_factory, CouponTemplate) == {} and await changes_by(uow_factory, MARKETER) == []


async def test_an_edit_the_rules_refuse_changes_nothing_and_a_forged_form_is_refused(
    marketer: httpx.AsyncClient, uow_factory: UnitOfWorkFactory
) -> None:
    token = csrf_of(await marketer.get("/console/coupon-templates"))
    assert (await marketer.post("/console/coupon-templates", data={"csrf_token": token, **TEMPLATE})).status_code == 303
    page = await marketer.post("/console/coupon-templates/WELCOME10", data={"csrf_token": token, **TEMPLATE, "valid_days": ""})
    assert page.status_code == 422 and 'data-problem="valid_until"' in page.text
    forged = await marketer.post("/console/coupon-templates/WELCOME10", data={"csrf_token": "forged", **TEMPLATE, "valid_days": "5"})
    assert forged.status_code == 403
    template = (await rows(uow_factory, CouponTemplate))["WELCOME10"]
    assert isinstance(template, CouponTemplate) and template.valid_days == 30
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(CouponTemplate)) == 1
