"""The console's campaign builder over real HTTP: the live preview (the service's own numbers and
texts rendered for real members), creating a campaign (every refusal a sentence next to its
field, with nothing written; a double submit creates one), and on a campaign's page pause,
resume, cancel (confirmed first) and the progress fragment, for who may: a marketer their own
campaigns, an owner any."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Campaign
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience, audience_size
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi
from tests.utils.campaigns import MARKETER as SERVICE_MARKETER
from tests.utils.campaigns import add_members, campaign, make_campaign, tag
from tests.utils.console import add_staff, csrf_of, sign_in

OWNER, MARKETER, OTHER_MARKETER = 7201, 7202, 7203


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")
    await add_staff(uow_factory, clock, OTHER_MARKETER, "marketer", "Mona")


async def _open_form(client: httpx.AsyncClient) -> tuple[str, str]:
    """The builder's CSRF token and form token."""
    page = await client.get("/console/campaigns/new")
    assert page.status_code == 200, page.text
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token is not None
    return csrf_of(page), token.group(1)


def _form(csrf: str, token: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "csrf_token": csrf, "form_token": token, "name": "Member day", "text_en": "Hi {{ name }}, {{ points }} points",
        "when": "now", "holdout_pct": "10", "attribution_days": "7",
    }
    return base | fields


async def _campaign_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Campaign)) or 0)


async def test_the_preview_counts_the_audience_and_renders_the_text_for_real_members(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    members = await add_members(uow_factory, clock, 12, points_balance=420)
    for member_id in members[:5]:
        await tag(uow_factory, clock, member_id, "vip")
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    csrf, token = await _open_form(api.client)
    form = _form(csrf, token, tags="vip", holdout_pct="20")
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}

    fragment = await api.client.post("/console/campaigns/preview", data=form, headers=headers)
    assert fragment.status_code == 200
    async with uow_factory() as uow:
        size = await audience_size(uow, Audience(tags=["vip"]), now=clock.now(), zone=settings.zone)
    assert size.total == 5
    assert re.search(r'id="audience-count">5<', fragment.text)
    assert re.search(r'id="expected-holdout">1<', fragment.text)  # 20 % of 5
    assert "Hi friend, 420 points" in fragment.text  # {{ name }}: no first name known
    assert 'id="suggested-holdout"' in fragment.text and 'id="mde"' in fragment.text
    assert "<html" not in fragment.text  # a fragment, not a page

    refused = await api.client.post("/console/campaigns/preview", data=form | {"tiers": "platinum"}, headers=headers)
    assert refused.status_code == 200 and 'data-state="refused"' in refused.text
    assert 'data-error-for="tiers"' in refused.text and "That tier does not exist." in refused.text

    without = {key: value for key, value in form.items() if key != "csrf_token"}
    forged = await api.client.post("/console/campaigns/preview", data=without, headers={"HX-Request": "true"})
    assert forged.status_code == 403  # no CSRF token: nothing previewed
    assert await _campaign_count(uow_factory) == 0


BAD_INPUTS = [
    ({"name": ""}, "name", "Give the campaign a name."),
    ({"text_en": ""}, "texts", "Write the message in at least one language."),
    ({"text_en": "Hi {{ nickname }}"}, "text_en", "A placeholder in braces"),
    ({"tiers": "platinum"}, "tiers", "That tier does not exist."),
    ({"image_url": "http://shop.example.com/a.jpg"}, "image_url", "Give an https:// address"),
    ({"button_0_en": "Menu", "button_0_url": "ftp://x"}, "button_0_url", "Give an https:// address"),
    ({"holdout_pct": "80"}, "holdout_pct", "The hold-out share is a whole number from 0 to 50."),
    ({"holdout_pct": "ten"}, "holdout_pct", "Type a whole number."),
    ({"when": "at", "at_date": "2020-01-01", "at_time": "10:00"}, "at_date", "That moment has already passed."),
    ({"when": "at", "at_date": "", "at_time": "10:00"}, "at_date", "Pick the day it goes."),
    ({"when": "local", "local_date": "2026-12-30", "local_time": "25:00"}, "local_time", "Type a time as HH:MM."),
    ({"coupon_template": "NOPE"}, "coupon_template", "That coupon template does not exist."),
    ({"last_purchase_after": "yesterday"}, "last_purchase_after", "This is not a date."),
]


@pytest.mark.parametrize(("fields", "field", "sentence"), BAD_INPUTS)
async def test_a_refused_form_says_why_next_to_the_field_keeps_what_was_typed_and_writes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings,
    fields: dict[str, str], field: str, sentence: str,
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    csrf, token = await _open_form(api.client)
    page = await api.client.post("/console/campaigns/new", data=_form(csrf, token, **fields) | {"cities": "Hangzhou"})
    assert page.status_code == 422
    error = re.search(rf'data-error-for="{field}"[^>]*>([^<]+)<', page.text)
    assert error is not None, page.text
    assert sentence in error.group(1)
    assert 'value="Hangzhou"' in page.text  # the form holds what was typed
    assert f'value="{token}"' in page.text  # and the same token: a corrected submit is still one campaign
    assert await _campaign_count(uow_factory) == 0


async def test_refusals_read_in_the_staff_members_language(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER, locale="zh_CN")
    csrf, token = await _open_form(api.client)
    page = await api.client.post("/console/campaigns/new", data=_form(csrf, token, holdout_pct="80"))
    assert page.status_code == 422 and "对照组比例为 0 到 50 的整数。" in page.text
    assert await _campaign_count(uow_factory) == 0


async def test_a_double_submit_creates_one_campaign_audited_as_the_staff_member(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 3)
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    csrf, token = await _open_form(api.client)
    send_at = (clock.now() + timedelta(days=2)).astimezone(settings.zone)
    form = _form(
        csrf, token, when="at", at_date=send_at.date().isoformat(), at_time=send_at.strftime("%H:%M"),
        text_zh_CN="你好 {{ name }}", button_0_en="Menu", button_0_url="https://shop.example.com/menu",
        recurrence="", tiers="member", rfm="new",
    )
    first = await api.client.post("/console/campaigns/new", data=form)
    second = await api.client.post("/console/campaigns/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await _campaign_count(uow_factory) == 1
    campaign_id = int(first.headers["location"].rsplit("/", 1)[1])
    created = await campaign(uow_factory, campaign_id)
    assert created.created_by == f"staff:{MARKETER}" and created.status == "scheduled"
    assert created.texts == {"en": "Hi {{ name }}, {{ points }} points", "zh_CN": "你好 {{ name }}"}
    assert created.audience["tiers"] == ["member"] and created.audience["rfm"] == ["new"]
    assert created.buttons == [{"texts": {"en": "Menu"}, "url": "https://shop.example.com/menu"}]
    assert created.send_at is not None and abs(created.send_at - send_at.replace(second=0, microsecond=0)) < timedelta(seconds=1)
    async with uow_factory() as uow:
        actors = list(await uow.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "campaign.create")))
    assert actors == [f"staff:{MARKETER}"]

    # The same token with other values is not a second campaign either: the form says so.
    changed = await api.client.post("/console/campaigns/new", data=form | {"name": "Other"})
    assert changed.status_code == 409 and 'data-error-for="form"' in changed.text
    assert await _campaign_count(uow_factory) == 1


async def _page_csrf(client: httpx.AsyncClient, campaign_id: int) -> tuple[httpx.Response, str]:
    page = await client.get(f"/console/campaigns/{campaign_id}")
    assert page.status_code == 200
    return page, csrf_of(page)


async def test_pause_resume_and_a_confirmed_cancel_for_who_may(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    mine = await make_campaign(
        uow_factory, clock, settings, actor=service.Actor(f"staff:{MARKETER}", "marketer"),
        send_at=clock.now() + timedelta(days=1), name="Mark's",
    )
    theirs = await make_campaign(
        uow_factory, clock, settings, actor=SERVICE_MARKETER, send_at=clock.now() + timedelta(days=1), name="Someone's",
    )
    client = api.client
    await sign_in(client, uow_factory, clock, settings, MARKETER)
    page, csrf = await _page_csrf(client, mine)
    assert 'id="pause"' in page.text and 'id="cancel"' in page.text and 'data-status="scheduled"' in page.text
    other, _ = await _page_csrf(client, theirs)
    assert 'id="pause"' not in other.text  # no buttons on another's campaign

    refused = await client.post(f"/console/campaigns/{theirs}/pause", data={"csrf_token": csrf})
    assert refused.status_code == 403 and (await campaign(uow_factory, theirs)).status == "scheduled"
    no_csrf = await client.post(f"/console/campaigns/{mine}/pause", data={})
    assert no_csrf.status_code == 403 and (await campaign(uow_factory, mine)).status == "scheduled"

    paused = await client.post(f"/console/campaigns/{mine}/pause", data={"csrf_token": csrf})
    assert paused.status_code == 303 and (await campaign(uow_factory, mine)).status == "paused"
    again = await client.post(f"/console/campaigns/{mine}/pause", data={"csrf_token": csrf})
    assert again.status_code == 409 and 'data-page="campaign_state"' in again.text
    resumed = await client.post(f"/console/campaigns/{mine}/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 303 and (await campaign(uow_factory, mine)).status == "scheduled"

    # Cancel asks first: without the confirmation's button it only shows the question.
    unconfirmed = await client.post(f"/console/campaigns/{mine}/cancel", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith(f"/{mine}/cancel")
    assert (await campaign(uow_factory, mine)).status == "scheduled"
    question = await client.get(f"/console/campaigns/{mine}/cancel")
    assert question.status_code == 200 and 'id="confirm-cancel-yes"' in question.text
    assert (await client.get(f"/console/campaigns/{theirs}/cancel")).status_code == 403
    cancelled = await client.post(f"/console/campaigns/{mine}/cancel", data={"csrf_token": csrf, "confirmed": "yes"})
    assert cancelled.status_code == 303 and (await campaign(uow_factory, mine)).status == "cancelled"
    assert (await client.get(f"/console/campaigns/{mine}/cancel")).status_code == 409

    # An owner changes anyone's campaign.
    owner = httpx.AsyncClient(base_url=str(client.base_url))
    async with owner:
        await sign_in(owner, uow_factory, clock, settings, OWNER)
        _, owner_csrf = await _page_csrf(owner, theirs)
        assert (await owner.post(f"/console/campaigns/{theirs}/pause", data={"csrf_token": owner_csrf})).status_code == 303
    assert (await campaign(uow_factory, theirs)).status == "paused"
    async with uow_factory() as uow:
        moves = list(await uow.session.execute(
            select(AuditEvent.actor, AuditEvent.action).where(AuditEvent.action.in_(
                ("campaign.pause", "campaign.resume", "campaign.cancel")
            )).order_by(AuditEvent.id)
        ))
    assert [tuple(row) for row in moves] == [
        (f"staff:{MARKETER}", "campaign.pause"), (f"staff:{MARKETER}", "campaign.resume"),
        (f"staff:{MARKETER}", "campaign.cancel"), (f"staff:{OWNER}", "campaign.pause"),
    ]


async def test_the_progress_fragment_polls_while_live_and_asks_for_the_report_once_over(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 20)
    campaign_id = await make_campaign(uow_factory, clock, settings, holdout_pct=10)
    async with uow_factory() as uow:
        await service.start(uow, clock, settings, campaign_id)
    await sign_in(api.client, uow_factory, clock, settings, OTHER_MARKETER)
    fragment = await api.client.get(f"/console/campaigns/{campaign_id}/progress?seen=sending", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "HX-Refresh" not in fragment.headers
    assert 'hx-trigger="every 3s"' in fragment.text
    progress = (await _progress(uow_factory, clock, campaign_id))
    assert progress.held_out + progress.pending == 20
    assert re.search(rf'data-progress="held_out"><span class="label">[^<]+</span><span class="value">{progress.held_out}<', fragment.text)

    async with uow_factory() as uow:
        await service.cancel(uow, clock, campaign_id, actor=service.Actor("apikey:1", "owner"))
    over = await api.client.get(f"/console/campaigns/{campaign_id}/progress?seen=sending", headers={"HX-Request": "true"})
    assert over.headers.get("HX-Refresh") == "true" and "hx-trigger" not in over.text
    assert (await api.client.get("/console/campaigns/x1/progress")).status_code == 404


async def _progress(uow_factory: UnitOfWorkFactory, clock: FixedClock, campaign_id: int) -> service.Progress:
    async with uow_factory() as uow:
        return await service.progress(uow, clock, campaign_id)
