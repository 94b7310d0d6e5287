"""The /broadcast draft kept in FSM data (bot/routers/staff/broadcast/draft.py): it goes through
JSON unchanged (Redis storage keeps only JSON), a draft written before it was typed still reads,
the flow asks for the first missing choice, and a finished draft is the campaign it describes."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.callbacks import BroadcastStep, Repeat, SegmentKind
from bot.routers.staff.broadcast.draft import NO_COUPON, BroadcastDraft, Coupon, Segment, repeats_offered
from loyalty.campaigns.audience import Audience
from loyalty.campaigns.messages import headline
from loyalty.campaigns.when import At, LocalAt, Now, SendTime

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = Now()
GIFT = Coupon(id=7, code="MDAY", names={"en": "Member day gift", "zh_CN": "会员日礼物"})


def finished(when: SendTime = NOW, repeat: Repeat = Repeat.once) -> BroadcastDraft:
    return (
        BroadcastDraft()
        .with_segment(Segment(SegmentKind.birthday, month=11))
        .with_texts({"en": "Hi {{ tier }} member:   {{ points }} points wait for you, all of them, today"})
        .with_coupon(GIFT)
        .with_when(when)
        .with_repeat(repeat)
    )


@pytest.mark.parametrize(
    "draft",
    [
        BroadcastDraft(),
        BroadcastDraft().with_segment(Segment(SegmentKind.tier, "gold")),
        finished(),
        finished(At(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)), Repeat.monthly),
        finished(LocalAt(date(2026, 12, 8), time(10, 0)), Repeat.quarterly),
        finished().with_coupon(NO_COUPON),
    ],
)
def test_a_draft_goes_through_json_unchanged(draft: BroadcastDraft) -> None:
    stored = json.loads(json.dumps(draft.model_dump(mode="json")))
    assert BroadcastDraft.model_validate(stored) == draft


def test_a_draft_written_before_it_was_typed_still_reads() -> None:
    old = {
        "segment": {"kind": "birthday", "value": "", "month": 11},
        "texts": {"en": "Hi"},
        "ready": None,
        "coupon": {"id": 7, "code": "MDAY", "name": {"en": "Member day gift", "zh_CN": "会员日礼物"}},
        "when": {"kind": "local", "date": "2026-12-08", "time": "10:00"},
        "repeat": "monthly",
    }
    draft = BroadcastDraft.model_validate(old)
    assert draft == finished(LocalAt(date(2026, 12, 8), time(10, 0)), Repeat.monthly).with_texts({"en": "Hi"})
    at = BroadcastDraft.model_validate(old | {"when": {"kind": "at", "at": "2026-12-08T10:00:00+08:00"}})
    assert at.when == At(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))
    assert BroadcastDraft.model_validate(old | {"when": {"kind": "now"}}).when == Now()
    no_coupon = {"id": 0, "code": None, "name": None}
    assert BroadcastDraft.model_validate(old | {"coupon": no_coupon}).coupon == NO_COUPON


def test_the_flow_asks_for_the_first_missing_choice_and_an_edit_forgets_one() -> None:
    draft = BroadcastDraft()
    assert draft.missing() is BroadcastStep.segment
    draft = draft.with_segment(Segment(SegmentKind.all))
    assert draft.missing() is BroadcastStep.text
    draft = draft.with_texts({"en": "Hi"}).with_coupon(NO_COUPON)
    assert draft.missing() is BroadcastStep.when
    draft = draft.with_when(Now())
    assert draft.missing() is None, "a broadcast goes once unless the repeat is edited"
    assert draft.repeat is Repeat.once
    for step in BroadcastStep:
        assert draft.without(step).missing() is step
    # A new time keeps the repeat chosen before (the review refuses it if the day cannot repeat).
    monthly = draft.with_repeat(Repeat.monthly).without(BroadcastStep.when)
    assert monthly.with_when(LocalAt(date(2026, 12, 30), time(10, 0))).repeat is Repeat.monthly


def test_a_finished_draft_is_the_campaign_it_describes() -> None:
    campaign = finished(LocalAt(date(2026, 12, 8), time(10, 0)), Repeat.quarterly).campaign_draft()
    # Named by the start of its text, without template markup, and by its audience.
    assert campaign.name == "Hi member: points wait for you, all of… · " + Audience(birthday_month=11).describe()
    assert campaign.audience == Audience(birthday_month=11) and campaign.coupon_template == "MDAY"
    assert (campaign.send_at, campaign.local_date, campaign.local_time) == (None, date(2026, 12, 8), time(10, 0))
    assert campaign.recurrence == "quarterly"
    moment = datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)
    once = finished(At(moment)).with_coupon(NO_COUPON).campaign_draft()
    assert (once.send_at, once.local_date, once.recurrence, once.coupon_template) == (moment, None, None, None)
    assert finished().campaign_draft().send_at is None, "now: the campaign takes the moment it is created"


def test_only_a_day_every_month_has_can_repeat() -> None:
    assert repeats_offered(28) == [Repeat.once, Repeat.monthly, Repeat.quarterly]
    assert repeats_offered(29) == [Repeat.once]


def test_the_wizard_leaves_every_commit_to_the_campaign_services() -> None:
    package = Path(__file__).parents[2] / "bot" / "routers" / "staff" / "broadcast"
    assert [path.name for path in package.glob("*.py") if ".commit()" in path.read_text(encoding="utf-8")] == []


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("Hi {{ tier }} member, you have {{ points }} points!", "Hi member, you have points!"),
        ("{% if points %}Spend{% endif %} them today", "Spend them today"),
        ("Member day: twenty percent off everything in every store today", "Member day: twenty percent off…"),
        ("会员日！{{ tier }}会员今日八折，全场商品均可享受，欢迎您到店选购，更多惊喜等您发现哦！", "会员日！ 会员今日八折，全场商品均可享受，欢迎您到店选购，更多…"),
        ("{{ points }}", ""),
    ],
)
def test_a_campaign_is_named_from_its_text_without_template_markup(source: str, name: str) -> None:
    assert headline(source, 32) == name
    assert len(headline(source, 32)) <= 32
