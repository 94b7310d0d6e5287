"""The survey a purchase at a store owes, timed with the injected clock through the same
delivery rules as every nudge (quiet hours in the member's zone, the weekly cap, a muted topic);
at most one per member per FEEDBACK_MIN_DAYS; its answer taken once, by its own member only;
points for answering once; a detractor's answer for the store's staff (else the owners), audited;
/feedback replies by staff only."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db.models import AuditEvent, FeedbackSurvey, LedgerEntry, Member, Notification, Staff
from db.uow import UnitOfWorkFactory
from loyalty import feedback
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.data_export import export_member
from loyalty.erasure import erase_member
from loyalty.errors import InvalidInput
from loyalty.idempotency import IdempotencyKey
from loyalty.nudges import preferences
from loyalty.nudges.delivery import SEND, Decision, decide, defer
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from tests.utils.console import add_staff
from tests.utils.coupons import add_store
from tests.utils.members import chat_member, till_member
from tests.utils.nudges import already_sent, set_member

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
_orders = itertools.count(1)


@pytest.fixture
def fb_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"feedback_delay_minutes": 180, "feedback_min_days": 30, "nudges_per_week": 3})


def local(zone: ZoneInfo, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=zone).astimezone(timezone.utc)


async def buy(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, member: Member, *,
    store: str | None = "SH-01", channel: str = "store", at: datetime | None = None,
) -> None:
    order = f"F-{next(_orders)}"
    async with uow_factory() as uow:
        await record_purchase(
            uow, clock, settings,
            PurchaseRequest(
                MemberRef(member_number=member.member_number), order, channel, 3_000, "CNY", store_code=store,
                purchased_at=at,
            ),
            actor="test", idempotency=IdempotencyKey("test", order, "x"),
        )


async def surveys_of(uow_factory: UnitOfWorkFactory, member: Member) -> list[FeedbackSurvey]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(FeedbackSurvey).where(FeedbackSurvey.member_id == member.id).order_by(FeedbackSurvey.id)
        )
        return list(rows)


async def question_of(uow_factory: UnitOfWorkFactory, survey: FeedbackSurvey) -> Notification:
    async with uow_factory() as uow:
        row = await uow.session.get(Notification, survey.notification_id)
        assert row is not None
        return row


async def decision_at(
    uow_factory: UnitOfWorkFactory, member: Member, row: Notification, now: datetime, settings: Settings
) -> Decision:
    async with uow_factory() as uow:
        fresh = await uow.members.by_id(member.id)
        assert fresh is not None
        return await decide(uow, row, fresh, now=now, settings=settings)


async def asked_when(
    uow_factory: UnitOfWorkFactory, member: Member, row: Notification, settings: Settings
) -> datetime:
    """Follow the sender's decisions from the row's deliver_after until it may go."""
    assert row.deliver_after is not None
    moment = row.deliver_after
    for _ in range(10):
        result = await decision_at(uow_factory, member, row, moment, settings)
        if result == SEND:
            return moment
        assert result.action == "defer" and result.until is not None, result
        moment = result.until
    raise AssertionError("never sent")


# --- timing --------------------------------------------------------------------------------------


async def test_a_purchase_at_half_past_eight_in_shanghai_is_asked_at_eight_next_morning(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=801)
    clock.set(local(SHANGHAI, 11, 24, 20, 30))
    await buy(uow_factory, clock, fb_settings, member)
    [survey] = await surveys_of(uow_factory, member)
    row = await question_of(uow_factory, survey)
    assert row.kind == "feedback_asked" and row.deliver_after == local(SHANGHAI, 11, 24, 23, 30)
    assert await decision_at(uow_factory, member, row, row.deliver_after, fb_settings) == defer(
        local(SHANGHAI, 11, 25, 8, 0), "quiet hours"
    )
    assert await asked_when(uow_factory, member, row, fb_settings) == local(SHANGHAI, 11, 25, 8, 0)


async def test_a_member_in_london_is_asked_at_eight_in_london(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=802)
    await set_member(uow_factory, member, timezone="Europe/London")
    clock.set(local(LONDON, 11, 24, 20, 30))  # 04:30 next day in Shanghai: not quiet there, quiet in London
    await buy(uow_factory, clock, fb_settings, member)
    [survey] = await surveys_of(uow_factory, member)
    row = await question_of(uow_factory, survey)
    assert await asked_when(uow_factory, member, row, fb_settings) == local(LONDON, 11, 25, 8, 0)


async def test_an_afternoon_purchase_is_asked_three_hours_later(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=803)
    clock.set(local(SHANGHAI, 11, 24, 14, 0))
    await buy(uow_factory, clock, fb_settings, member)
    [survey] = await surveys_of(uow_factory, member)
    row = await question_of(uow_factory, survey)
    assert await asked_when(uow_factory, member, row, fb_settings) == local(SHANGHAI, 11, 24, 17, 0)


async def test_a_purchase_posted_days_late_is_asked_about_from_now(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=809)
    clock.set(local(SHANGHAI, 11, 24, 12, 0))
    await buy(uow_factory, clock, fb_settings, member, at=clock.now() - timedelta(days=2))
    [survey] = await surveys_of(uow_factory, member)
    assert (await question_of(uow_factory, survey)).deliver_after == clock.now()


async def test_a_member_at_the_weekly_cap_is_asked_later_not_dropped(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=804)
    clock.set(local(SHANGHAI, 11, 24, 10, 0))
    for days_ago in (6, 4, 1):
        await already_sent(uow_factory, member, "points_expiring", at=clock.now() - timedelta(days=days_ago))
    await buy(uow_factory, clock, fb_settings, member)
    [survey] = await surveys_of(uow_factory, member)
    row = await question_of(uow_factory, survey)
    assert row.deliver_after is not None
    held = await decision_at(uow_factory, member, row, row.deliver_after, fb_settings)
    assert held == defer(clock.now() - timedelta(days=6) + timedelta(days=7), "weekly cap")
    assert await asked_when(uow_factory, member, row, fb_settings) == local(SHANGHAI, 11, 25, 10, 0)


async def test_a_second_purchase_within_the_period_asks_nothing_more(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=805)
    await buy(uow_factory, clock, fb_settings, member)
    clock.advance(timedelta(hours=1))
    await buy(uow_factory, clock, fb_settings, member)
    clock.advance(timedelta(days=29))
    await buy(uow_factory, clock, fb_settings, member)
    assert len(await surveys_of(uow_factory, member)) == 1
    clock.advance(timedelta(days=1, hours=1))  # 30 days after the first survey
    await buy(uow_factory, clock, fb_settings, member)
    assert len(await surveys_of(uow_factory, member)) == 2


async def test_a_muted_topic_never_asks_and_a_survey_owed_before_muting_is_dropped(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=806)
    await buy(uow_factory, clock, fb_settings, member)
    [survey] = await surveys_of(uow_factory, member)
    row = await question_of(uow_factory, survey)
    async with uow_factory() as uow:
        await preferences.set_muted(uow, clock, member, "feedback", True)
    assert row.deliver_after is not None
    assert (await decision_at(uow_factory, member, row, row.deliver_after, fb_settings)).action == "drop"
    clock.advance(timedelta(days=40))
    await buy(uow_factory, clock, fb_settings, member)
    assert len(await surveys_of(uow_factory, member)) == 1


async def test_online_purchases_and_members_without_a_chat_owe_no_survey(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    online = await chat_member(uow_factory, clock, telegram_id=807)
    await buy(uow_factory, clock, fb_settings, online, channel="online", store=None)
    at_till = await till_member(uow_factory, clock)
    await buy(uow_factory, clock, fb_settings, at_till)
    assert await surveys_of(uow_factory, online) == [] and await surveys_of(uow_factory, at_till) == []


# --- the answer ----------------------------------------------------------------------------------


async def owed(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, telegram_id: int) -> tuple[Member, int]:
    member = await chat_member(uow_factory, clock, telegram_id=telegram_id)
    await buy(uow_factory, clock, settings, member)
    [survey] = await surveys_of(uow_factory, member)
    return member, survey.id


async def test_a_score_is_taken_once_with_its_points_and_only_from_its_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    settings = fb_settings.model_copy(update={"feedback_points": 20})
    member, survey_id = await owed(uow_factory, clock, settings, 811)
    other = await chat_member(uow_factory, clock, telegram_id=812)
    async with uow_factory() as uow:
        with pytest.raises(feedback.SurveyNotFound):
            await feedback.answer_score(uow, clock, settings, other, survey_id, 0)
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            await feedback.answer_score(uow, clock, settings, member, survey_id, 11)
    async with uow_factory() as uow:
        survey = await feedback.answer_score(uow, clock, settings, member, survey_id, 9)
    assert survey.score == 9 and survey.points_awarded == 20
    async with uow_factory() as uow:
        with pytest.raises(feedback.SurveyAnswered):
            await feedback.answer_score(uow, clock, settings, member, survey_id, 2)
    async with uow_factory() as uow:
        bonus = (await uow.session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id, LedgerEntry.kind == "bonus")
        )).all()
        stored = await uow.feedback.survey(survey_id)
    assert [entry.points for entry in bonus] == [20]
    assert stored is not None and stored.score == 9
    async with uow_factory() as uow:  # a promoter's comment closes the survey
        closed = await feedback.answer_comment(uow, clock, member, survey_id, "  Great latte  ")
    assert closed.comment == "Great latte" and closed.closed_at is not None
    async with uow_factory() as uow:
        with pytest.raises(feedback.SurveyClosed):
            await feedback.answer_comment(uow, clock, member, survey_id, "again")


async def test_a_detractors_answer_reaches_the_stores_staff_and_is_audited(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    store = await add_store(uow_factory, clock, "SH-01")
    await add_staff(uow_factory, clock, 9001, "owner", name="Olga")
    await add_staff(uow_factory, clock, 9002, "marketer", name="Cai")
    async with uow_factory() as uow:
        cashier = (await uow.session.scalars(select(Staff).where(Staff.telegram_id == 9002))).one()
        cashier.store_id = store.id
        await uow.commit()
    member, survey_id = await owed(uow_factory, clock, fb_settings, 813)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, fb_settings, member, survey_id, 3)
    async with uow_factory() as uow:
        open_still = await feedback.answer_comment(uow, clock, member, survey_id, "Cold coffee")
    assert open_still.closed_at is None  # the consent question is still to come
    async with uow_factory() as uow:
        alert = await feedback.answer_contact(uow, clock, member, survey_id, True)
    assert [staff.telegram_id for staff in alert.recipients] == [9002]  # the store's own, not the owner
    assert alert.telegram_id == 813 and alert.store_name == store.name and alert.survey.comment == "Cold coffee"
    async with uow_factory() as uow:
        with pytest.raises(feedback.SurveyClosed):
            await feedback.answer_contact(uow, clock, member, survey_id, False)
        events = (await uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "feedback.detractor_alert")
        )).all()
    assert len(events) == 1 and events[0].member_id == member.id


async def test_without_staff_at_the_store_the_owners_hear_and_no_consent_gives_no_chat(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    await add_staff(uow_factory, clock, 9001, "owner")
    await add_staff(uow_factory, clock, 9003, "marketer")
    member, survey_id = await owed(uow_factory, clock, fb_settings, 814)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, fb_settings, member, survey_id, 0)
    async with uow_factory() as uow:
        await feedback.answer_comment(uow, clock, member, survey_id, None)
    async with uow_factory() as uow:
        alert = await feedback.answer_contact(uow, clock, member, survey_id, False)
    assert [staff.telegram_id for staff in alert.recipients] == [9001]
    assert alert.telegram_id is None


async def test_a_promoter_is_never_asked_for_contact(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member, survey_id = await owed(uow_factory, clock, fb_settings, 815)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, fb_settings, member, survey_id, 10)
    async with uow_factory() as uow:
        with pytest.raises(feedback.SurveyClosed):
            await feedback.answer_contact(uow, clock, member, survey_id, True)


# --- /feedback -----------------------------------------------------------------------------------


async def test_only_staff_reply_and_the_member_is_owed_the_answer(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    await add_staff(uow_factory, clock, 9001, "owner")
    member = await chat_member(uow_factory, clock, telegram_id=816)
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            await feedback.write(uow, clock, member, "   ")
    async with uow_factory() as uow:
        written = await feedback.write(uow, clock, member, "Are you open on Sunday?")
    assert [staff.telegram_id for staff in written.recipients] == [9001]
    async with uow_factory() as uow:
        with pytest.raises(feedback.NotStaff):
            await feedback.reply(uow, clock, 816, written.message.id, "Yes!")
    async with uow_factory() as uow:
        answer = await feedback.reply(uow, clock, 9001, written.message.id, "Yes, 9 to 5")
    async with uow_factory() as uow:
        with pytest.raises(feedback.FeedbackMessageNotFound):  # a reply is not a member's message
            await feedback.reply(uow, clock, 9001, answer.id, "again")
        thread = await uow.feedback.thread(member.id)
        owed_reply = (await uow.session.scalars(
            select(Notification).where(Notification.member_id == member.id, Notification.kind == "feedback_reply")
        )).all()
        audited = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "feedback.reply"))).all()
    assert [(m.body, m.staff_id is not None) for m in thread] == [("Are you open on Sunday?", False), ("Yes, 9 to 5", True)]
    assert [row.payload["reply"] for row in owed_reply] == ["Yes, 9 to 5"]
    assert len(audited) == 1


async def test_erasing_a_member_keeps_the_score_and_forgets_what_they_wrote(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member, survey_id = await owed(uow_factory, clock, fb_settings, 817)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, fb_settings, member, survey_id, 4)
    async with uow_factory() as uow:
        await feedback.answer_comment(uow, clock, member, survey_id, "My neighbour Ann was rude")
    async with uow_factory() as uow:
        await feedback.write(uow, clock, member, "Call me on 138...")
    async with uow_factory() as uow:
        await erase_member(uow, clock, member.id, actor="member", audited=False)
    async with uow_factory() as uow:
        survey = await uow.feedback.survey(survey_id)
        thread = await uow.feedback.thread(member.id)
    assert survey is not None and (survey.score, survey.comment) == (4, None)
    assert thread == []


async def test_two_scores_racing_for_one_survey_take_one_and_credit_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    settings = fb_settings.model_copy(update={"feedback_points": 15})
    member, survey_id = await owed(uow_factory, clock, settings, 818)

    async def press(score: int) -> int | None:
        async with uow_factory() as uow:
            try:
                return (await feedback.answer_score(uow, clock, settings, member, survey_id, score)).score
            except feedback.SurveyAnswered:
                return None

    results = await asyncio.gather(press(2), press(9))
    assert results.count(None) == 1, results  # one press took it, the other was told it was answered
    async with uow_factory() as uow:
        stored = await uow.feedback.survey(survey_id)
        bonus = (await uow.session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id, LedgerEntry.kind == "bonus")
        )).all()
    assert stored is not None and stored.score in results and [entry.points for entry in bonus] == [15]


async def test_two_purchases_at_once_owe_one_survey(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    member = await chat_member(uow_factory, clock, telegram_id=819)
    await asyncio.gather(*(buy(uow_factory, clock, fb_settings, member) for _ in range(3)))
    assert len(await surveys_of(uow_factory, member)) == 1


async def test_a_members_export_holds_their_answers_messages_and_the_replies(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, fb_settings: Settings
) -> None:
    await add_store(uow_factory, clock, "SH-01")
    await add_staff(uow_factory, clock, 9001, "owner")
    member, survey_id = await owed(uow_factory, clock, fb_settings, 820)
    async with uow_factory() as uow:
        await feedback.answer_score(uow, clock, fb_settings, member, survey_id, 8)
    async with uow_factory() as uow:
        await feedback.answer_comment(uow, clock, member, survey_id, "Nice music")
    clock.advance(timedelta(minutes=1))
    async with uow_factory() as uow:
        written = await feedback.write(uow, clock, member, "Do you deliver?")
    clock.advance(timedelta(minutes=1))
    async with uow_factory() as uow:
        await feedback.reply(uow, clock, 9001, written.message.id, "Not yet")
    async with uow_factory() as uow:
        fresh = await uow.members.by_id(member.id)
        assert fresh is not None
        export = await export_member(uow, fb_settings, fresh, now=clock.now())
    assert [(item.kind, item.score, item.text) for item in export.feedback] == [
        ("survey", 8, "Nice music"), ("message", None, "Do you deliver?"), ("reply", None, "Not yet")
    ]
