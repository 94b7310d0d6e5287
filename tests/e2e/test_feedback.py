"""Feedback through aiogram and the sandbox: a member buys at a store in the evening, the survey
arrives at 08:00 the next morning, they score 3, say why and agree to be contacted, and the
store's staff member's chat gets the alert with the comment and a button to the member's chat;
forged and repeated score presses change nothing; /feedback reaches staff, who reply from the
chat, and the member gets the answer."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.callbacks import FeedbackScoreCallback, StaffFeedbackReplyCallback
from bot.render import texts_for
from db.models import FeedbackSurvey, Member, Staff
from loyalty import staff
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from sandbox import Conversation
from tests.e2e.conftest import Product
from tests.utils.coupons import add_store
from tests.utils.members import chat_member

EN = texts_for("en")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def plain(html: str) -> str:
    return html.replace("<b>", "").replace("</b>", "").replace("<i>", "").replace("</i>", "")


async def member_in_chat(product: Product, name: str) -> tuple[Conversation, Member]:
    user, conv = product.member(name)
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    return conv, member


async def staff_at(product: Product, name: str, store_id: int | None, role: str = "marketer") -> Conversation:
    user, conv = product.member(name)
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=user.id, role=role, name=name)
        await uow.session.execute(update(Staff).where(Staff.telegram_id == user.id).values(store_id=store_id))
        await uow.commit()
    return conv


async def buy(product: Product, settings: Settings, member: Member, order: str) -> None:
    async with product.uow_factory() as uow:
        await record_purchase(
            uow, product.clock, settings,
            PurchaseRequest(MemberRef(member_number=member.member_number), order, "store", 3_000, "CNY", store_code="SH-01"),
            actor="test", idempotency=IdempotencyKey("test", order, "x"),
        )


async def survey_of(product: Product, member: Member) -> FeedbackSurvey:
    async with product.uow_factory() as uow:
        return (await uow.session.scalars(select(FeedbackSurvey).where(FeedbackSurvey.member_id == member.id))).one()


async def test_a_detractor_is_asked_next_morning_and_the_stores_staff_hear_at_once(
    product: Product, settings: Settings
) -> None:
    store = await add_store(product.uow_factory, product.clock, "SH-01")
    barista = await staff_at(product, "Mia", store.id)
    owner = await staff_at(product, "Olga", None, role="owner")
    conv, member = await member_in_chat(product, "Alex")
    product.clock.set(datetime(2026, 11, 24, 20, 30, tzinfo=SHANGHAI).astimezone(timezone.utc))
    await buy(product, settings, member, "T-1")
    assert await product.notifier.drain_once() == 1  # the points receipt; the survey waits
    product.clock.set(datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI).astimezone(timezone.utc))
    assert await product.notifier.drain_once() == 0  # due, but quiet hours hold it
    product.clock.set(datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI).astimezone(timezone.utc))
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [question] = await conv.collect_since(mark, "the survey")
    assert "How likely are you to recommend us to a friend?" in question.text and store.name in question.text
    assert question.button_labels == [str(score) for score in range(11)]

    [follow_up] = [m for m in await conv.press("3") if m.message_id != question.message_id]
    assert follow_up.text.startswith("Sorry to hear that. What should we improve?")
    assert follow_up.button_labels == ["Skip"]
    assert plain(EN("feedback/scored", score=3, points=0)).strip() in [m.text for m in conv.messages]
    [consent] = await conv.say("The coffee was <cold> & slow")
    assert consent.text == EN("feedback/ask_contact").strip()
    barista_mark = barista.mark()
    owner_seen = len(owner.messages)
    await conv.press("Yes, contact me")
    assert conv.last is not None and conv.last.text == EN("feedback/thanks", contact=True).strip()
    [alert] = await barista.collect_since(barista_mark, "the detractor alert")
    assert "Low score: 3/10" in alert.text and "The coffee was <cold> & slow" in alert.text
    assert "From Alex" in alert.text and store.name in alert.text
    assert [button.get("url") for button in alert.buttons] == [f"tg://user?id={conv.user.id}"]
    assert len(owner.messages) == owner_seen, "the store has staff of its own: the owner is not bothered"

    survey = await survey_of(product, member)
    assert (survey.score, survey.comment, survey.contact_ok) == (3, "The coffee was <cold> & slow", True)
    # The same survey scored again (an old keyboard, a forged press): refused, nothing changes.
    again = await product.forge(conv, FeedbackScoreCallback(survey_id=survey.id, score=10).pack())
    assert again.text == EN("feedback/answered").strip()
    assert (await survey_of(product, member)).score == 3


async def test_a_forged_score_for_another_members_survey_is_refused(product: Product, settings: Settings) -> None:
    await add_store(product.uow_factory, product.clock, "SH-01")
    _, alex = await member_in_chat(product, "Alex")
    bob_conv, _ = await member_in_chat(product, "Bob")
    await buy(product, settings, alex, "T-2")
    await bob_conv.say("/help")
    survey = await survey_of(product, alex)
    answer = await product.forge(bob_conv, FeedbackScoreCallback(survey_id=survey.id, score=0).pack())
    assert answer.text == EN("fallback/stale_button").strip()
    assert (await survey_of(product, alex)).score is None


async def test_feedback_reaches_staff_who_reply_and_the_member_gets_the_answer(product: Product) -> None:
    await add_store(product.uow_factory, product.clock, "SH-01")
    owner = await staff_at(product, "Olga", None, role="owner")
    conv, _ = await member_in_chat(product, "Alex")
    [prompt] = await conv.say("/feedback")
    assert prompt.text == plain(EN("feedback/write")).strip()
    owner_mark = owner.mark()
    [thanks] = await conv.say("Are you open on Sunday?")
    assert thanks.text == EN("feedback/sent").strip()
    [incoming] = await owner.collect_since(owner_mark, "the member's message")
    assert "Are you open on Sunday?" in incoming.text and "Alex" in incoming.text

    # A member pressing a forged Reply is refused: staff buttons are for staff.
    forged = await product.forge(conv, StaffFeedbackReplyCallback(message_id=1).pack())
    assert forged.text == EN("staff/refused").strip()

    await owner.press("↩️ Reply")
    [done] = await owner.say("Yes, from 9 to 5.")
    assert done.text == plain(EN("feedback/replied")).strip()
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [answer] = await conv.collect_since(mark, "the staff's answer")
    assert "Yes, from 9 to 5." in answer.text and "Are you open on Sunday?" in answer.text


async def test_bad_input_in_the_follow_up_and_in_feedback_is_answered_in_the_members_language(
    product: Product, settings: Settings
) -> None:
    await add_store(product.uow_factory, product.clock, "SH-01")
    user, conv = product.member("Li", language="zh-hans")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="zh_CN")
    zh = texts_for("zh_CN")
    await buy(product, settings, member, "T-3")
    product.clock.set(datetime(2026, 11, 25, 12, 0, tzinfo=SHANGHAI).astimezone(timezone.utc))
    await product.notifier.drain_once()
    await conv.press("10")
    [refused] = await conv.say("好" * 1001)
    assert refused.text == zh("feedback/too_long", limit=1000).strip()
    [sticker] = await conv.send_sticker()
    assert sticker.text == zh("feedback/need_text").strip()
    assert (await survey_of(product, member)).comment is None, "nothing written"
    [thanks] = await conv.say("咖啡很好")
    assert thanks.text == zh("feedback/thanks", contact=False).strip()
    assert (await survey_of(product, member)).comment == "咖啡很好"

    await conv.say("/feedback")
    [left] = await conv.say("/cancel")
    assert left.text == zh("feedback/cancelled").strip()
    async with product.uow_factory() as uow:
        assert await uow.feedback.thread(member.id) == []
