"""Campaigns against the real database: creating (and refusing) them, previewing, starting
(what becomes of each member, when each is sent, the hold-out, coupons), starting twice at once,
recurrence, pause / resume / cancel, progress.

The clock stands at 2026-11-24 12:00 UTC: 20:00 in the program's zone (Asia/Shanghai, UTC+8)
and 07:00 in New York (UTC-5 in November). Quiet hours are 22:00-08:00 in the member's zone.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import AuditEvent, Campaign, CampaignRecipient, Coupon, CouponTemplate
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience, AudienceSize
from loyalty.campaigns.service import Actor, Button, held_out, holdout
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.coupons import issue_for_campaign
from loyalty.errors import CampaignNotFound, CampaignStateConflict, InvalidCampaign, StaffOnly
from tests.utils.campaigns import (
    MARKETER,
    OWNER,
    add_member,
    add_members,
    campaign,
    campaign_coupons,
    draft,
    make_campaign,
    mute_offers,
    recipients,
    started_campaign,
)
from tests.utils.coupons import make_template
from tests.utils.database import statements

NEW_YORK = "America/New_York"
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def count(uow_factory: UnitOfWorkFactory, model: Any) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def written(uow_factory: UnitOfWorkFactory) -> dict[str, int]:
    """Row counts of everything a campaign action may write."""
    return {
        model.__tablename__: await count(uow_factory, model)
        for model in (Campaign, CampaignRecipient, Coupon, AuditEvent)
    }


async def set_seed(uow_factory: UnitOfWorkFactory, campaign_id: int, seed: str) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(seed=seed))
        await uow.commit()


async def start(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, campaign_id: int) -> int:
    async with uow_factory() as uow:
        return await service.start(uow, clock, settings, campaign_id)


# A start's statements: a few per chunk (read the chunk, check the campaign's status, insert the
# rows, one spare) and a few once (claim, audience, size, statistics). 20,000 members on SQLite
# took 70: 20 chunks of three and ten.
ROUND_TRIPS_PER_CHUNK = 4
ROUND_TRIPS_PER_START = 20



# --- creating ------------------------------------------------------------------------------------


async def test_create_stores_the_draft_and_does_not_commit(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    template = await make_template(uow_factory, clock, code="MDAY")
    send_at = clock.now() + DAY
    wanted = draft(
        name="  Member day  ",
        texts={"en": "Hi {{ member_number }}", "zh_CN": "你好"},
        audience=Audience(tiers=["gold"]),
        image_url="https://example.com/day.png",
        coupon_template="MDAY",
        buttons=(Button({"en": "Open", "zh_CN": "打开"}, "https://example.com/shop"),),
        send_at=send_at,
        recurrence="monthly",
    )
    async with uow_factory() as uow:
        created = await service.create_campaign(uow, clock, settings, wanted, actor=MARKETER)
    assert await count(uow_factory, Campaign) == 0, "create_campaign leaves the commit to its caller"
    async with uow_factory() as uow:
        created = await service.create_campaign(uow, clock, settings, wanted, actor=MARKETER)
        await uow.commit()
    stored = await campaign(uow_factory, created.id)
    assert stored.name == "Member day"
    assert stored.status == "scheduled"
    assert stored.texts == {"en": "Hi {{ member_number }}", "zh_CN": "你好"}
    assert stored.coupon_template_id == template.id
    assert stored.buttons == [{"texts": {"en": "Open", "zh_CN": "打开"}, "url": "https://example.com/shop"}]
    assert stored.audience["tiers"] == ["gold"]
    assert stored.send_at == send_at and stored.local_date is None and stored.local_time is None
    assert stored.recurrence == "monthly" and stored.parent_id is None
    assert stored.holdout_pct == settings.campaign_holdout_pct
    assert stored.attribution_days == settings.campaign_attribution_days
    assert stored.created_by == MARKETER.ref
    assert len(stored.seed) == 16 and int(stored.seed, 16) >= 0
    assert stored.started_at is None and stored.audience_size is None
    async with uow_factory() as uow:
        audit = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.create"))).all()
    assert [(event.actor, event.detail) for event in audit] == [(MARKETER.ref, f"{created.id} 'Member day': tier gold")]


async def test_create_without_a_time_goes_now_and_local_time_is_kept_as_text(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now_id = await make_campaign(uow_factory, clock, settings)
    local_id = await make_campaign(
        uow_factory, clock, settings, local_date=date(2026, 12, 8), local_time=time(10, 0), holdout_pct=0,
        attribution_days=30,
    )
    slightly_late = await make_campaign(uow_factory, clock, settings, send_at=clock.now() - 4 * MINUTE)
    assert (await campaign(uow_factory, now_id)).send_at == clock.now()
    local = await campaign(uow_factory, local_id)
    assert (local.send_at, local.local_date, local.local_time) == (None, date(2026, 12, 8), "10:00")
    assert (local.holdout_pct, local.attribution_days) == (0, 30)
    assert (await campaign(uow_factory, slightly_late)).send_at == clock.now() - 4 * MINUTE


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"texts": {}}, "texts"),
        ({"texts": {"fr": "Bonjour"}}, "texts.fr"),
        ({"texts": {"en": "Hi {{ nickname }}"}}, "texts.en"),
        ({"texts": {"en": "x" * 1025}, "image_url": "https://example.com/a.png"}, "texts.en"),  # a caption
        ({"image_url": "http://example.com/a.png"}, "image_url"),
        ({"image_url": "https:///nohost"}, "image_url"),
        ({"buttons": tuple(Button({"en": f"B{n}"}, "https://example.com") for n in range(4))}, "buttons"),
        ({"buttons": (Button({"en": "Go"}, "javascript:alert(1)"),)}, "buttons.0.url"),
        (
            {"buttons": (Button({"en": "Go"}, "https://example.com"), Button({"en": " "}, "https://e.com"))},
            "buttons.1.texts.en",
        ),
        ({"buttons": (Button({"en": "x" * 65}, "https://example.com"),)}, "buttons.0.texts.en"),
        ({"buttons": (Button({}, "https://example.com"),)}, "buttons.0.texts"),
        ({"buttons": (Button({"fr": "Aller"}, "https://example.com"),)}, "buttons.0.texts.fr"),
        ({"coupon_template": "NOPE"}, "coupon_template"),
        ({"coupon_template": "SLEEPY"}, "coupon_template"),
        ({"send_at": NOW - 6 * MINUTE}, "send_at"),
        ({"send_at": datetime(2026, 12, 1, 10, 0)}, "send_at"),  # no zone
        ({"send_at": NOW + DAY, "local_date": date(2026, 12, 1), "local_time": time(10)}, "send_at"),
        ({"local_date": date(2026, 12, 1)}, "local_time"),
        ({"local_time": time(10)}, "local_date"),
        ({"local_date": date(2026, 11, 23), "local_time": time(10)}, "local_date"),  # past everywhere
        ({"holdout_pct": 51}, "holdout_pct"),
        ({"holdout_pct": -1}, "holdout_pct"),
        ({"attribution_days": 0}, "attribution_days"),
        ({"attribution_days": 91}, "attribution_days"),
        ({"recurrence": "monthly", "send_at": datetime(2026, 12, 29, 2, 0, tzinfo=UTC)}, "recurrence"),
        ({"recurrence": "quarterly", "local_date": date(2026, 12, 31), "local_time": time(10)}, "recurrence"),
        ({"recurrence": "weekly"}, "recurrence"),
        ({"audience": Audience(tiers=["platinum"])}, "audience.tiers"),
        ({"audience": Audience(near_store="S404")}, "audience.near_store"),
    ],
)
async def test_create_refuses_a_bad_draft_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, fields: dict[str, Any], field: str
) -> None:
    await make_template(uow_factory, clock, code="SLEEPY", active=False)
    before = await written(uow_factory)
    async with uow_factory() as uow:
        with pytest.raises(InvalidCampaign) as refused:
            await service.create_campaign(uow, clock, settings, draft(**fields), actor=OWNER)
        await uow.commit()  # even a caller that commits anyway keeps nothing
    assert refused.value.details["field"] == field
    assert await written(uow_factory) == before


async def test_a_recurring_campaign_on_the_28th_is_accepted(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    # 28 December 01:00 in Shanghai is still the 27th in UTC: the day is read in the program's zone.
    campaign_id = await make_campaign(
        uow_factory, clock, settings, recurrence="monthly", send_at=datetime(2026, 12, 27, 17, 0, tzinfo=UTC)
    )
    assert (await campaign(uow_factory, campaign_id)).recurrence == "monthly"


# --- preview -------------------------------------------------------------------------------------


async def test_preview_sizes_the_audience_renders_samples_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    unreachable = await add_member(uow_factory, clock, tier="gold", chat=False)
    muted = await add_member(uow_factory, clock, tier="gold")
    await mute_offers(uow_factory, clock, muted)
    first = await add_member(uow_factory, clock, tier="gold", points_balance=1234, locale="zh_CN")
    second = await add_member(uow_factory, clock, tier="gold", points_balance=5)
    await add_members(uow_factory, clock, 16, tier="gold")
    await add_member(uow_factory, clock, tier="silver")
    assert unreachable < muted < first < second
    before = await written(uow_factory)
    wanted = draft(
        texts={"en": "{{ tier }}: {{ points }} points", "zh_CN": "{{ tier }}：{{ points }} 积分"},
        audience=Audience(tiers=["gold"]),
        holdout_pct=10,
    )
    async with uow_factory() as uow:
        shown = await service.preview(uow, clock, settings, wanted, samples=2)
        await uow.commit()
    assert shown.audience == AudienceSize(total=20, reachable=18, opted_out=1, unreachable=1)
    assert shown.holdout == 2
    assert [(sample.locale, sample.text) for sample in shown.samples] == [
        ("zh_CN", "金卡：1,234 积分"),
        ("en", "Gold: 5 points"),
    ]
    assert await written(uow_factory) == before


async def test_preview_checks_the_draft_like_create(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(InvalidCampaign) as refused:
            await service.preview(uow, clock, settings, draft(texts={"en": "{{ oops"}))
    assert refused.value.details["field"] == "texts.en"


# --- the hold-out ----------------------------------------------------------------------------------


@hypothesis_settings(max_examples=40, deadline=None)
@given(seed=st.text(min_size=1, max_size=32), pct=st.integers(min_value=0, max_value=50))
def test_holdout_is_reproducible_and_close_to_its_share(seed: str, pct: int) -> None:
    ids = range(1, 5_001)
    group = {member_id for member_id in ids if held_out(seed, member_id, pct)}
    assert group == {member_id for member_id in ids if held_out(seed, member_id, pct)}, "same seed, same group"
    # A fair draw: within five standard deviations of the share (at 26 %, 3.1 points), which a
    # sound hash misses about once in 1.7 million draws; a biased one misses it at once.
    spread = 5 * math.sqrt(pct / 100 * (1 - pct / 100) / 5_000) * 100
    assert abs(len(group) / 5_000 * 100 - pct) <= spread
    assert all((holdout(seed, member_id) < pct) == (member_id in group) for member_id in range(1, 200))
    if pct == 0:
        assert not group


def test_different_seeds_hold_out_different_members() -> None:
    first = {member_id for member_id in range(1, 2_001) if held_out("a" * 16, member_id, 10)}
    second = {member_id for member_id in range(1, 2_001) if held_out("b" * 16, member_id, 10)}
    assert first != second


# --- starting ------------------------------------------------------------------------------------


async def population(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, int]:
    """One member of each kind, and twenty plain ones for the hold-out to draw from."""
    members = {
        "shanghai": await add_member(uow_factory, clock),
        "new_york": await add_member(uow_factory, clock, timezone=NEW_YORK),
        "no_chat": await add_member(uow_factory, clock, chat=False),
        "blocked": await add_member(uow_factory, clock, chat_blocked_at=clock.now() - DAY),
        "muted": await add_member(uow_factory, clock),
        "unknown_zone": await add_member(uow_factory, clock, timezone="Mars/Olympus"),
    }
    await mute_offers(uow_factory, clock, members["muted"])
    for n, member_id in enumerate(await add_members(uow_factory, clock, 20)):
        members[f"plain{n}"] = member_id
    return members


async def test_start_decides_each_members_fate(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    members = await population(uow_factory, clock)
    # 04:00 UTC on the 25th: 12:00 in Shanghai, 23:00 on the 24th in New York (quiet).
    send_at = utc("2026-11-25T04:00:00")
    campaign_id = await make_campaign(uow_factory, clock, settings, send_at=send_at, holdout_pct=30)
    await set_seed(uow_factory, campaign_id, "0123456789abcdef")
    assert await start(uow_factory, clock, settings, campaign_id) == len(members)
    rows = await recipients(uow_factory, campaign_id)
    assert set(rows) == set(members.values())
    expected_held = {member_id for member_id in members.values() if held_out("0123456789abcdef", member_id, 30)}
    assert {member_id for member_id, row in rows.items() if row.status == "held_out"} == expected_held
    assert expected_held and len(expected_held) < len(members)

    def fate(name: str) -> tuple[str, str | None, datetime, bool]:
        row = rows[members[name]]
        return row.status, row.reason, row.deliver_after, row.deferred

    for name, wanted in {
        "shanghai": ("pending", None, send_at, False),
        "new_york": ("pending", None, utc("2026-11-25T13:00:00"), True),  # 08:00 in New York
        "unknown_zone": ("pending", None, send_at, False),  # read in the program's zone
        "no_chat": ("skipped", "unreachable", clock.now(), False),
        "blocked": ("skipped", "unreachable", clock.now(), False),
        "muted": ("skipped", "opted_out", clock.now(), False),
    }.items():
        if members[name] not in expected_held:
            assert fate(name) == wanted, name
    for member_id in expected_held:
        assert rows[member_id].deliver_after == clock.now() and rows[member_id].coupon_id is None

    stored = await campaign(uow_factory, campaign_id)
    assert stored.status == "sending"
    assert stored.started_at == clock.now()
    assert stored.audience_size == len(members)


@pytest.mark.parametrize(
    ("local_time", "shanghai", "new_york", "deferred"),
    [
        # 10:00 local on 25 November: 02:00 UTC in Shanghai, 15:00 UTC in New York.
        (time(10, 0), "2026-11-25T02:00:00", "2026-11-25T15:00:00", False),
        # 07:00 local is quiet: held to 08:00 local.
        (time(7, 0), "2026-11-25T00:00:00", "2026-11-25T13:00:00", True),
    ],
)
async def test_local_time_is_read_in_each_members_zone(
    uow_factory: UnitOfWorkFactory,
    clock: FixedClock,
    settings: Settings,
    local_time: time,
    shanghai: str,
    new_york: str,
    deferred: bool,
) -> None:
    in_shanghai = await add_member(uow_factory, clock)
    in_new_york = await add_member(uow_factory, clock, timezone=NEW_YORK)
    campaign_id = await make_campaign(
        uow_factory, clock, settings, local_date=date(2026, 11, 25), local_time=local_time, holdout_pct=0
    )
    await start(uow_factory, clock, settings, campaign_id)
    rows = await recipients(uow_factory, campaign_id)
    assert (rows[in_shanghai].deliver_after, rows[in_shanghai].deferred) == (utc(shanghai), deferred)
    assert (rows[in_new_york].deliver_after, rows[in_new_york].deferred) == (utc(new_york), deferred)


async def test_a_local_time_already_past_goes_now(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """10:00 on the 24th has passed in Shanghai (it is 20:00 there), not yet in New York."""
    in_shanghai = await add_member(uow_factory, clock)
    in_new_york = await add_member(uow_factory, clock, timezone=NEW_YORK)
    campaign_id = await make_campaign(
        uow_factory, clock, settings, local_date=date(2026, 11, 24), local_time=time(10, 0), holdout_pct=0
    )
    await start(uow_factory, clock, settings, campaign_id)
    rows = await recipients(uow_factory, campaign_id)
    assert (rows[in_shanghai].deliver_after, rows[in_shanghai].deferred) == (clock.now(), False)
    assert rows[in_new_york].deliver_after == utc("2026-11-24T15:00:00")


async def test_a_send_time_in_quiet_hours_waits_for_their_end(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """Now is 20:00 in Shanghai; three hours later it is 23:00, quiet until 08:00 next morning."""
    member = await add_member(uow_factory, clock)
    campaign_id = await make_campaign(
        uow_factory, clock, settings, send_at=clock.now() + timedelta(hours=3), holdout_pct=0
    )
    await start(uow_factory, clock, settings, campaign_id)
    row = (await recipients(uow_factory, campaign_id))[member]
    assert (row.deliver_after, row.deferred) == (utc("2026-11-25T00:00:00"), True)


async def test_coupons_go_to_pending_recipients_once_each(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    template = await make_template(uow_factory, clock, code="MDAY", valid_days=7, per_member_limit=1)
    members = await population(uow_factory, clock)
    campaign_id = await started_campaign(uow_factory, clock, settings, coupon_template="MDAY", holdout_pct=20)
    rows = await recipients(uow_factory, campaign_id)
    issued = {coupon.member_id: coupon for coupon in await campaign_coupons(uow_factory, campaign_id)}
    pending = {member_id for member_id, row in rows.items() if row.status == "pending"}
    assert pending and set(issued) == pending
    for member_id, row in rows.items():
        assert row.coupon_id == (issued[member_id].id if member_id in pending else None)
    coupon = next(iter(issued.values()))
    assert coupon.source == "campaign" and coupon.status == "issued"
    assert coupon.issue_key == f"campaign:{campaign_id}:{coupon.member_id}"
    assert (coupon.valid_from, coupon.valid_until) == (date(2026, 11, 24), date(2026, 12, 1))
    assert coupon.code.startswith("CP-")
    async with uow_factory() as uow:
        stored = await uow.coupons.template(template.id)
        assert stored is not None and stored.issued_count == len(pending)
    assert len(members) == len(rows)


async def test_coupons_stop_at_the_templates_quantity(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await make_template(uow_factory, clock, code="FEW", total_quantity=3)
    await add_members(uow_factory, clock, 5)
    campaign_id = await started_campaign(uow_factory, clock, settings, coupon_template="FEW", holdout_pct=0)
    rows = await recipients(uow_factory, campaign_id)
    assert sorted(row.coupon_id is not None for row in rows.values()) == [False, False, True, True, True]
    assert all(row.status == "pending" for row in rows.values()), "the message still goes"
    async with uow_factory() as uow:
        template = await uow.coupons.template_by_code("FEW")
        assert template is not None and template.issued_count == 3
    assert len(await campaign_coupons(uow_factory, campaign_id)) == 3


async def test_issuing_a_campaigns_coupons_again_issues_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    template = await make_template(uow_factory, clock, code="AGAIN")
    member_ids = await add_members(uow_factory, clock, 3)
    async with uow_factory() as uow:
        first = await issue_for_campaign(uow, template, member_ids, campaign_id=99, now=clock.now(), zone=settings.zone)
        await uow.commit()
    async with uow_factory() as uow:
        again = await issue_for_campaign(uow, template, member_ids, campaign_id=99, now=clock.now(), zone=settings.zone)
        await uow.commit()
        stored = await uow.coupons.template(template.id)
    assert again == first and set(first) == set(member_ids)
    assert stored is not None and stored.issued_count == 3
    assert await count(uow_factory, Coupon) == 3


async def test_members_are_read_in_chunks_while_coupons_are_written(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audience is streamed while its coupons are written on the same connection, even when
    the audience itself is about coupons ("without an unused coupon"): nobody is missed or
    read twice."""
    monkeypatch.setattr(service, "START_CHUNK", 7)
    await make_template(uow_factory, clock, code="CHUNK")
    member_ids = await add_members(uow_factory, clock, 30)
    campaign_id = await make_campaign(
        uow_factory, clock, settings, coupon_template="CHUNK", holdout_pct=0,
        audience=Audience(has_unused_coupon=False),
    )
    assert await start(uow_factory, clock, settings, campaign_id) == 30
    rows = await recipients(uow_factory, campaign_id)
    assert set(rows) == set(member_ids)
    assert all(row.coupon_id is not None for row in rows.values())
    assert len(await campaign_coupons(uow_factory, campaign_id)) == 30


async def test_the_start_is_logged_with_what_it_chose(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await add_members(uow_factory, clock, 2)
    await mute_offers(uow_factory, clock, await add_member(uow_factory, clock))
    await add_member(uow_factory, clock, timezone="Asia/Tokyo")  # in an hour: 21:00 in Shanghai, 22:00 there
    caplog.set_level("INFO", logger="loyalty.campaigns.service")
    campaign_id = await started_campaign(
        uow_factory, clock, settings, holdout_pct=0, send_at=clock.now() + timedelta(hours=1)
    )
    assert (
        f"campaign {campaign_id} 'Member day' started: 3 recipients, 0 held out, 1 skipped "
        "(0 unreachable, 1 opted out), 1 deferred by quiet hours"
    ) in caplog.text


async def test_a_campaign_with_nobody_to_send_to_is_done_at_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    muted = await add_member(uow_factory, clock)
    await mute_offers(uow_factory, clock, muted)
    await add_member(uow_factory, clock, chat=False)
    campaign_id = await started_campaign(uow_factory, clock, settings, holdout_pct=0)
    stored = await campaign(uow_factory, campaign_id)
    assert (stored.status, stored.finished_at, stored.audience_size) == ("done", clock.now(), 2)


async def test_starting_again_changes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 5)
    campaign_id = await started_campaign(uow_factory, clock, settings)
    before = await written(uow_factory)
    assert await start(uow_factory, clock, settings, campaign_id) == 0
    assert await written(uow_factory) == before
    with pytest.raises(CampaignNotFound):
        await start(uow_factory, clock, settings, 999_999)


async def test_two_starts_at_once_choose_each_recipient_and_coupon_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await make_template(uow_factory, clock, code="RACE")
    member_ids = await add_members(uow_factory, clock, 300)
    campaign_id = await make_campaign(uow_factory, clock, settings, coupon_template="RACE", holdout_pct=10)
    results = await asyncio.gather(*(start(uow_factory, clock, settings, campaign_id) for _ in range(2)))
    assert sorted(results) == [0, 300]
    rows = await recipients(uow_factory, campaign_id)
    assert set(rows) == set(member_ids)
    coupons = await campaign_coupons(uow_factory, campaign_id)
    pending = [row for row in rows.values() if row.status == "pending"]
    assert len(coupons) == len({coupon.member_id for coupon in coupons}) == len(pending)
    async with uow_factory() as uow:
        template = await uow.coupons.template_by_code("RACE")
        assert template is not None and template.issued_count == len(pending)


async def test_twenty_thousand_members_start_in_a_round_trip_per_chunk(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, engine: AsyncEngine
) -> None:
    # How fast a start is, is measured where time means something (benchmarks/
    # purchases_during_sweeps.py starts a campaign to 100,000); here, that its work grows with
    # the chunks and never with the members: a query per member would be 20,000 round trips.
    await add_members(uow_factory, clock, 20_000)
    campaign_id = await make_campaign(uow_factory, clock, settings, holdout_pct=10)
    with statements(engine) as seen:
        assert await start(uow_factory, clock, settings, campaign_id) == 20_000
    chunk = service.START_CHUNK if engine.dialect.name == "sqlite" else service.START_BATCH
    chunks = math.ceil(20_000 / chunk)
    assert len(seen) <= ROUND_TRIPS_PER_CHUNK * chunks + ROUND_TRIPS_PER_START, (chunks, len(seen))
    statuses = Counter(row.status for row in (await recipients(uow_factory, campaign_id)).values())
    assert statuses["pending"] + statuses["held_out"] == 20_000
    assert abs(statuses["held_out"] - 2_000) < 300
    async with uow_factory() as uow:
        if uow.session.bind.dialect.name == "postgresql":
            # The planner knows of the new rows before the sender's first claim (see
            # refresh_recipient_statistics); autovacuum would have waited.
            estimate = await uow.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'campaign_recipients'"))
            assert estimate is not None and estimate >= 18_000, estimate


# --- the scheduler -----------------------------------------------------------------------------------


async def test_start_due_starts_what_is_due(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_member(uow_factory, clock)
    due = await make_campaign(uow_factory, clock, settings)
    later = await make_campaign(uow_factory, clock, settings, send_at=clock.now() + timedelta(hours=1))
    # 10:00 on the 25th is first reached at UTC+14: 20:00 UTC on the 24th.
    local = await make_campaign(uow_factory, clock, settings, local_date=date(2026, 11, 25), local_time=time(10))
    paused = await make_campaign(uow_factory, clock, settings)
    async with uow_factory() as uow:
        await service.pause(uow, clock, paused, actor=OWNER)
    assert await service.start_due(uow_factory, clock, settings) == [due]
    clock.set(utc("2026-11-24T19:59:00"))
    assert await service.start_due(uow_factory, clock, settings) == [later]
    clock.set(utc("2026-11-24T20:00:00"))
    assert await service.start_due(uow_factory, clock, settings) == [local]
    assert await service.start_due(uow_factory, clock, settings) == []
    assert (await campaign(uow_factory, paused)).status == "paused"


async def test_start_due_in_two_processes_at_once_starts_each_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 50)
    ids = [await make_campaign(uow_factory, clock, settings, recurrence="monthly") for _ in range(3)]
    first, second = await asyncio.gather(
        service.start_due(uow_factory, clock, settings), service.start_due(uow_factory, clock, settings)
    )
    assert sorted(first + second) == ids
    for campaign_id in ids:
        assert len(await recipients(uow_factory, campaign_id)) == 50
    async with uow_factory() as uow:
        children = (await uow.session.scalars(select(Campaign).where(Campaign.parent_id.is_not(None)))).all()
    assert sorted(child.parent_id for child in children) == ids, "one next occurrence each"


async def test_a_monthly_campaign_repeats_on_the_same_day_and_time(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """The 8th at 10:00 in Shanghai, every month: its next occurrence is made when it starts."""
    await add_member(uow_factory, clock)
    first_at = utc("2026-12-08T02:00:00")
    first = await make_campaign(uow_factory, clock, settings, send_at=first_at, recurrence="monthly")
    clock.set(first_at)
    assert await service.start_due(uow_factory, clock, settings) == [first]
    async with uow_factory() as uow:
        [second] = await service.list_campaigns(uow, limit=1)
    original = await campaign(uow_factory, first)
    assert second.id != first
    assert (second.status, second.parent_id, second.send_at) == ("scheduled", first, utc("2027-01-08T02:00:00"))
    assert second.seed != original.seed
    assert (second.name, second.texts, second.audience, second.recurrence) == (
        original.name, original.texts, original.audience, original.recurrence,
    )
    assert await service.start_due(uow_factory, clock, settings) == [], "not due before 8 January"
    clock.set(utc("2027-01-08T02:00:00"))
    assert await service.start_due(uow_factory, clock, settings) == [second.id]
    async with uow_factory() as uow:
        [third] = await service.list_campaigns(uow, limit=1)
    assert (third.parent_id, third.send_at) == (first, utc("2027-02-08T02:00:00")), "children point at the first"


async def test_a_quarterly_local_time_campaign_moves_its_local_date(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    first = await make_campaign(
        uow_factory, clock, settings, local_date=date(2026, 11, 25), local_time=time(10), recurrence="quarterly"
    )
    async with uow_factory() as uow:
        await service.start(uow, clock, settings, first)
        [following] = await service.list_campaigns(uow, limit=1)
    assert (following.local_date, following.local_time, following.send_at) == (date(2027, 2, 25), "10:00", None)


async def test_occurrences_missed_while_down_are_skipped(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """Started three months late, a monthly campaign's next occurrence is the next one to come,
    not three overdue ones at once."""
    first = await make_campaign(uow_factory, clock, settings, send_at=utc("2026-12-08T02:00:00"), recurrence="monthly")
    clock.set(utc("2027-03-01T00:00:00"))
    assert await service.start_due(uow_factory, clock, settings) == [first]
    async with uow_factory() as uow:
        [following] = await service.list_campaigns(uow, limit=1)
    assert following.send_at == utc("2027-03-08T02:00:00")


# --- pause, resume, cancel ---------------------------------------------------------------------------


async def test_pause_and_resume_before_and_after_the_start(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 3)
    scheduled = await make_campaign(uow_factory, clock, settings, send_at=clock.now() + DAY)
    async with uow_factory() as uow:
        assert (await service.pause(uow, clock, scheduled, actor=OWNER)).status == "paused"
        assert (await service.resume(uow, clock, scheduled, actor=OWNER)).status == "scheduled"
    sending = await started_campaign(uow_factory, clock, settings, holdout_pct=0)
    async with uow_factory() as uow:
        assert (await service.pause(uow, clock, sending, actor=OWNER)).status == "paused"
    assert (await campaign(uow_factory, sending)).status == "paused", "committed"
    async with uow_factory() as uow:
        assert (await service.resume(uow, clock, sending, actor=OWNER)).status == "sending"
    assert all(row.status == "pending" for row in (await recipients(uow_factory, sending)).values())


async def test_cancel_cancels_what_is_not_yet_sent(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 40)
    campaign_id = await started_campaign(uow_factory, clock, settings, holdout_pct=25)
    rows = await recipients(uow_factory, campaign_id)
    pending = sorted(member_id for member_id, row in rows.items() if row.status == "pending")
    sent, in_flight = pending[0], pending[1]
    async with uow_factory() as uow:
        await uow.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.member_id == sent)
            .values(status="sent", sent_at=clock.now())
        )
        await uow.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.member_id == in_flight)
            .values(status="sending", claimed_at=clock.now())
        )
        await uow.commit()
    async with uow_factory() as uow:
        cancelled = await service.cancel(uow, clock, campaign_id, actor=OWNER)
    assert (cancelled.status, cancelled.finished_at) == ("cancelled", clock.now())
    after = await recipients(uow_factory, campaign_id)
    assert after[sent].status == "sent" and after[in_flight].status == "sending"
    for member_id in pending[2:]:
        assert after[member_id].status == "cancelled"
    assert {member_id for member_id, row in after.items() if row.status == "held_out"} == {
        member_id for member_id, row in rows.items() if row.status == "held_out"
    }


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("sending", "resume"),
        ("scheduled", "resume"),
        ("paused", "pause"),
        ("cancelled", "pause"),
        ("cancelled", "resume"),
        ("cancelled", "cancel"),
        ("done", "pause"),
        ("done", "cancel"),
    ],
)
async def test_refused_transitions_say_why_and_change_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, status: str, action: str
) -> None:
    campaign_id = await make_campaign(uow_factory, clock, settings)
    async with uow_factory() as uow:
        await uow.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))
        await uow.commit()
    before = await written(uow_factory)
    async with uow_factory() as uow:
        with pytest.raises(CampaignStateConflict) as refused:
            await getattr(service, action)(uow, clock, campaign_id, actor=OWNER)
    assert refused.value.details["reason"] == status
    assert (await campaign(uow_factory, campaign_id)).status == status
    assert await written(uow_factory) == before


async def test_a_marketer_acts_only_on_their_own_campaigns(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    mine = await make_campaign(uow_factory, clock, settings, actor=MARKETER, send_at=clock.now() + DAY)
    other = Actor("staff:6002", "marketer")
    theirs = await make_campaign(uow_factory, clock, settings, actor=other, send_at=clock.now() + DAY)
    async with uow_factory() as uow:
        assert (await service.pause(uow, clock, mine, actor=MARKETER)).status == "paused"
        for action in (service.pause, service.resume, service.cancel):
            with pytest.raises(StaffOnly):
                await action(uow, clock, theirs, actor=MARKETER)
    assert (await campaign(uow_factory, theirs)).status == "scheduled"
    async with uow_factory() as uow:
        owner = Actor("staff:1", "owner")
        assert (await service.cancel(uow, clock, theirs, actor=owner)).status == "cancelled"
        with pytest.raises(CampaignNotFound):
            await service.pause(uow, clock, 999_999, actor=owner)


# --- progress -----------------------------------------------------------------------------------------


async def test_progress_counts_rows_and_measures_the_rate(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    members = await population(uow_factory, clock)
    night = await add_member(uow_factory, clock, timezone="Asia/Tokyo")  # 21:00 + 3 h: quiet
    campaign_id = await started_campaign(
        uow_factory, clock, settings, holdout_pct=0, send_at=clock.now() + timedelta(hours=3)
    )
    rows = await recipients(uow_factory, campaign_id)
    assert rows[night].deferred
    pending = sorted(member_id for member_id, row in rows.items() if row.status == "pending")
    clock.advance(timedelta(minutes=1))
    async with uow_factory() as uow:
        # Five sent in the last ten seconds, one a minute ago, one failed, one being sent.
        for n, member_id in enumerate(pending[:6]):
            at = clock.now() - (timedelta(seconds=n) if n < 5 else timedelta(minutes=1))
            await uow.session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.member_id == member_id)
                .values(status="sent", sent_at=at)
            )
        for member_id, status in ((pending[6], "failed"), (pending[7], "sending")):
            await uow.session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.member_id == member_id)
                .values(status=status)
            )
        await uow.commit()
    async with uow_factory() as uow:
        shown = await service.progress(uow, clock, campaign_id)
    total = len(members) + 1
    assert (shown.total, shown.sent, shown.failed, shown.sending) == (total, 6, 1, 1)
    assert (shown.skipped, shown.unreachable, shown.opted_out, shown.held_out) == (3, 2, 1, 0)
    assert shown.pending == total - 3 - 8
    assert shown.deferred >= 1
    assert shown.rate == pytest.approx(0.5)
    assert shown.eta_seconds == pytest.approx((shown.pending + 1) / 0.5)
    assert shown.done == 6 + 1 + 3
    assert (shown.status, shown.started_at, shown.finished_at) == ("sending", clock.now() - MINUTE, None)


async def test_progress_without_sending_has_no_eta(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 4)
    campaign_id = await started_campaign(uow_factory, clock, settings, holdout_pct=0)
    async with uow_factory() as uow:
        shown = await service.progress(uow, clock, campaign_id)
    assert (shown.pending, shown.rate, shown.eta_seconds) == (4, 0.0, None)


async def test_finish_if_drained_finishes_once_when_nothing_is_left(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await add_members(uow_factory, clock, 3)
    campaign_id = await started_campaign(uow_factory, clock, settings, holdout_pct=0)
    async with uow_factory() as uow:
        assert not await service.finish_if_drained(uow, clock, campaign_id)
    async with uow_factory() as uow:
        await uow.session.execute(
            update(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id).values(status="sent")
        )
        await uow.commit()
    clock.advance(MINUTE)
    results = await asyncio.gather(
        *(_finish(uow_factory, clock, campaign_id) for _ in range(2))
    )
    assert sorted(results) == [False, True]
    stored = await campaign(uow_factory, campaign_id)
    assert (stored.status, stored.finished_at) == ("done", clock.now())


async def _finish(uow_factory: UnitOfWorkFactory, clock: FixedClock, campaign_id: int) -> bool:
    async with uow_factory() as uow:
        return await service.finish_if_drained(uow, clock, campaign_id)


async def test_list_campaigns_newest_first(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    ids = [await make_campaign(uow_factory, clock, settings, name=f"C{n}") for n in range(4)]
    async with uow_factory() as uow:
        listed = await service.list_campaigns(uow, limit=3)
        with pytest.raises(CampaignNotFound):
            await service.get_campaign(uow, 999_999)
    assert [item.id for item in listed] == ids[::-1][:3]


async def test_followed_campaigns_are_those_with_a_progress_message_that_may_still_change(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    shapes = {  # name: (status, started days ago, with a progress message)
        "old but paused": ("paused", 200, True),
        "done last week": ("done", 7, True),
        "done long ago": ("cancelled", 91, False),
        "done a season ago": ("done", 91, True),
        "sending, no message": ("sending", 0, False),
        "scheduled": ("scheduled", None, True),
    }
    ids = {name: await make_campaign(uow_factory, clock, settings, name=name) for name in shapes}
    for n in range(60):  # many newer campaigns nobody follows in a chat
        await make_campaign(uow_factory, clock, settings, name=f"API {n}")
    async with uow_factory() as uow:
        for name, (status, days, message) in shapes.items():
            await uow.session.execute(
                update(Campaign).where(Campaign.id == ids[name]).values(
                    status=status, started_at=now - timedelta(days=days) if days is not None else None,
                    progress_chat_id=42 if message else None, progress_message_id=7 if message else None,
                )
            )
        await uow.commit()
    async with uow_factory() as uow:
        followed = await service.followed_campaigns(uow, clock)
    assert [item.name for item in followed] == ["old but paused", "done last week", "scheduled"]


async def test_template_inactive_at_start_sends_without_coupons(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    template = await make_template(uow_factory, clock, code="GONE")
    await add_members(uow_factory, clock, 2)
    campaign_id = await make_campaign(uow_factory, clock, settings, coupon_template="GONE", holdout_pct=0)
    async with uow_factory() as uow:
        await uow.session.execute(update(CouponTemplate).where(CouponTemplate.id == template.id).values(active=False))
        await uow.commit()
    await start(uow_factory, clock, settings, campaign_id)
    rows = await recipients(uow_factory, campaign_id)
    assert [row.status for row in rows.values()] == ["pending", "pending"]
    assert all(row.coupon_id is None for row in rows.values())
