"""Nudges through aiogram and the sandbox, owed as the sweeps owe them (pending rows): expiring
points told in what they buy with a button to the catalogue, a nudge written at night held until
08:00, a muted topic never delivered, a birthday gift issued once however often the outbox is
drained, two senders draining at once sending each row once, and /settings toggling topics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import build_bot
from bot.notifier import NotificationSender
from bot.render import texts_for
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.models import Coupon, Member, MemberMute, Notification
from db.uow import UnitOfWorkFactory
from loyalty import coupons, ledger
from loyalty.config import Settings
from loyalty.nudges import preferences
from sandbox import Conversation
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import Product
from tests.utils.coupons import make_template
from tests.utils.members import chat_member
from tests.utils.nudges import owe, stored
from tests.utils.rewards import make_reward

EN = texts_for("en")
ZH = texts_for("zh_CN")
SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DECEMBER = datetime(2027, 1, 1, tzinfo=SHANGHAI)


async def member_in_chat(product: Product, name: str = "Alex", *, locale: str = "en") -> tuple[Conversation, Member]:
    user, conv = product.member(name, language="zh-hans" if locale == "zh_CN" else "en")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale=locale)
    return conv, member


async def points_expiring_at(product: Product, member: Member, points: int, expires_at: datetime) -> None:
    async with product.uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await ledger.credit(uow, locked, points=points, kind="adjust", at=product.clock.now(), expires_at=expires_at,
                            actor="test")
        await uow.commit()


async def mutes(product: Product) -> list[tuple[int, str]]:
    async with product.uow_factory() as uow:
        return [(row.member_id, row.topic) for row in await uow.session.scalars(select(MemberMute).order_by(MemberMute.topic))]


async def test_expiring_points_arrive_in_what_they_buy_and_the_button_opens_the_catalogue(product: Product) -> None:
    await make_reward(product.uow_factory, product.clock, price=500, name="Latte")
    await make_reward(product.uow_factory, product.clock, price=1000, name="Mug")
    conv, member = await member_in_chat(product)
    await points_expiring_at(product, member, 1200, END_OF_DECEMBER)
    row = await owe(product.uow_factory, product.clock, member, "points_expiring", points=1200,
                    expires_at=END_OF_DECEMBER.isoformat(), lead_days=30)

    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [message] = await conv.collect_since(mark, "the nudge")
    assert "Your 1,200 points expiring on Dec 31, 2026 are enough for 2 × Latte or 1 × Mug." in message.text
    assert message.button_labels == [EN("notifications/buttons/use_points")]
    sent = await stored(product.uow_factory, row.id)
    assert (sent.status, sent.sent_at, sent.attempts) == ("sent", product.clock.now(), 1)
    assert await product.notifier.drain_once() == 0, "sent once"

    [catalogue] = await conv.press("🎁 Use them")
    assert catalogue.message_id == message.message_id
    assert "You have 1,200 points to spend" in catalogue.text
    assert catalogue.button_labels[:2] == ["Latte · 500 pts", "Mug · 1,000 pts"]


async def test_a_nudge_written_at_night_is_held_until_eight_and_then_delivered(product: Product) -> None:
    conv, member = await member_in_chat(product, locale="zh_CN")
    product.clock.set(datetime(2026, 11, 24, 23, 0, tzinfo=SHANGHAI))
    row = await owe(product.uow_factory, product.clock, member, "anniversary", years=3)

    assert await product.notifier.drain_once() == 0
    held = await stored(product.uow_factory, row.id)
    morning = datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
    assert (held.status, held.deliver_after, held.last_error, held.attempts) == ("pending", morning, "quiet hours", 0)

    product.clock.set(morning - timedelta(seconds=1))
    assert await product.notifier.drain_once() == 0, "not due before 08:00"
    product.clock.set(morning)
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [message] = await conv.collect_since(mark, "the greeting")
    assert "今天是您加入会员 3 周年" in message.text
    assert (await stored(product.uow_factory, row.id)).status == "sent"


async def test_a_muted_topic_is_not_delivered_and_receipts_still_are(product: Product) -> None:
    conv, member = await member_in_chat(product)
    await conv.say("/settings")
    await conv.press("✅ Points about to expire")
    await points_expiring_at(product, member, 1200, END_OF_DECEMBER)
    nudge = await owe(product.uow_factory, product.clock, member, "points_expiring", points=1200,
                      expires_at=END_OF_DECEMBER.isoformat())
    async with product.uow_factory() as uow:
        receipt = Notification(member_id=member.id, kind="points_earned", payload={"points": 10, "balance": 1210},
                               status="pending", created_at=product.clock.now())
        uow.notifications.add(receipt)
        await uow.commit()

    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [message] = await conv.collect_since(mark, "the receipt only")
    assert "+10 points" in message.text
    skipped = await stored(product.uow_factory, nudge.id)
    assert (skipped.status, skipped.last_error) == ("skipped", "topic points muted")


async def test_a_birthday_gift_is_issued_once_however_often_the_outbox_is_drained(product: Product) -> None:
    await make_template(product.uow_factory, product.clock, code="CAKE", kind="free_item", value=2800,
                        auto_issue="birthday", per_member_limit=5)
    conv, member = await member_in_chat(product)
    row = await owe(product.uow_factory, product.clock, member, "birthday", year=2026)

    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [greeting] = await conv.collect_since(mark, "the birthday greeting")
    assert "Happy birthday!" in greeting.text
    assert "Your Member birthday gift: Coupon CAKE — free (worth ¥28.00)" in greeting.text
    assert greeting.button_labels == ["🎟 Coupon CAKE"]

    # The same nudge again (a retry after a lost answer): the same coupon, never a second one.
    async with product.uow_factory() as uow:
        again = await uow.notifications.get(row.id)
        assert again is not None
        again.status = "pending"
        await uow.commit()
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [repeat] = await conv.collect_since(mark, "the greeting again")
    assert "Coupon CAKE" in repeat.text
    async with product.uow_factory() as uow:
        coupons = list(await uow.session.scalars(select(Coupon).where(Coupon.member_id == member.id)))
    assert [(coupon.source, coupon.issue_key) for coupon in coupons] == [("birthday", f"birthday:{member.id}:2026")]

    [photo] = await conv.press("🎟 Coupon CAKE")
    assert coupons[0].code in (photo.caption or "")


async def test_a_greeting_without_a_gift_template_still_goes(product: Product) -> None:
    conv, member = await member_in_chat(product)
    await owe(product.uow_factory, product.clock, member, "birthday", year=2026)
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [greeting] = await conv.collect_since(mark, "the greeting")
    assert "Happy birthday!" in greeting.text and "gift" not in greeting.text


async def test_two_senders_draining_at_once_send_each_row_once(
    product: Product, database_url: str, settings: Settings
) -> None:
    members = []
    for number in range(4):
        conv, member = await member_in_chat(product, f"Member {number}")
        members.append((conv, member))
    rows = []
    for _conv, member in members:
        for year in range(2020, 2025):
            rows.append(await owe(product.uow_factory, product.clock, member, "birthday", year=year, stale_in=timedelta(days=30)))
    # A second bot process: its own database connections and its own Bot API session.
    engine = create_engine(database_url)
    other_bot = build_bot(product.sandbox.token, product.sandbox.base_url)
    try:
        other = NotificationSender(
            other_bot, UnitOfWorkFactory(create_session_factory(engine), FieldCipher(TEST_SECRET)), product.clock, settings
        )
        sent = await asyncio.gather(product.notifier.drain_once(), other.drain_once())
    finally:
        await other_bot.session.close()
        await engine.dispose()
    # Both saw the whole outbox; the cap of 3 a week lets three of each member's five go now.
    assert sum(sent) == 12
    await product.sandbox.wait_idle()
    for conv, _member in members:
        assert len([m for m in conv.messages if "Happy birthday" in (m.text or "")]) == 3
    after = [await stored(product.uow_factory, row.id) for row in rows]
    assert sorted(row.status for row in after) == ["pending"] * 8 + ["sent"] * 12, [(r.status, r.last_error) for r in after]
    week = product.clock.now() + timedelta(days=7)
    assert {(row.deliver_after, row.last_error) for row in after if row.status == "pending"} == {(week, "weekly cap")}


async def test_settings_toggle_topics_in_place_and_refuse_forged_buttons(product: Product) -> None:
    conv, member = await member_in_chat(product)
    [listing] = await conv.say("/settings")
    assert "Receipts of what you do — points earned, a new tier — always come." in listing.text
    labels = [
        "Points about to expire", "Coupons: new, ending, nearby", "Keeping or reaching a tier",
        "Birthday and anniversary greetings", "Offers and news from us", "Friends you invited",
        "Questions about your visit",
    ]
    assert listing.button_labels == [f"✅ {label}" for label in labels] + [EN("privacy/buttons/open")]

    [edited] = await conv.press("✅ Keeping or reaching a tier")
    assert edited.message_id == listing.message_id, "the message changes in place"
    off = "🔕 Keeping or reaching a tier"
    assert off in edited.text and edited.button_labels[2] == off
    assert conv.last_callback_answer is not None and conv.last_callback_answer.text == "🔕 Off: Keeping or reaching a tier"
    assert await mutes(product) == [(member.id, "tier")]

    # The same old button again sets what it offered: still off, not flipped back on.
    await product.forge(conv, "topic:tier:0")
    assert await mutes(product) == [(member.id, "tier")]
    await conv.press("🔕 Keeping or reaching a tier")
    assert await mutes(product) == []

    for data in ("topic:weather:0", "topic:tier", "topic:tier:0:1", "topic:TIER:0", "topic:tier:maybe"):
        answer = await product.forge(conv, data)
        assert answer.text == EN("fallback/stale_button"), data
    assert await mutes(product) == [], "forged buttons write nothing"

    _guest_user, guest = product.member("Guest")
    [answer] = await guest.say("/settings")
    assert answer.text == EN("card/need_signup")
    assert (await product.forge(guest, "topic:points:0")).text == EN("card/need_signup")
    assert await mutes(product) == []

    zh_conv, _ = await member_in_chat(product, "Li", locale="zh_CN")
    [zh_listing] = await zh_conv.say("/settings")
    assert "消费回执" in zh_listing.text and zh_listing.button_labels[0] == "✅ 积分到期提醒"
    assert "/settings" in EN("help", program="x", is_member=True)


async def test_a_coupon_the_merchant_gives_reaches_the_chat_at_once_unless_coupons_are_muted(
    product: Product, settings: Settings
) -> None:
    await make_template(product.uow_factory, product.clock, code="THANKS", name="Thank you", value=500, per_member_limit=2)
    conv, member = await member_in_chat(product)
    async with product.uow_factory() as uow:
        given = await coupons.issue(
            uow, product.clock, settings, member_id=member.id, template_code="THANKS", actor="apikey:till"
        )
    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [message] = await conv.collect_since(mark, "the coupon")
    assert "A coupon for you: Thank you — ¥5.00 off." in message.text
    assert len(message.button_labels) == 1, "one button: the coupon's code"
    assert await product.notifier.drain_once() == 0, "sent once"

    # Muted: the next one is written, then dropped when its turn comes.
    async with product.uow_factory() as uow:
        await preferences.set_muted(uow, product.clock, member, "coupons", True)
    async with product.uow_factory() as uow:
        await coupons.issue(
            uow, product.clock, settings, member_id=member.id, template_code="THANKS", actor="apikey:till",
            issue_key="second",
        )
    assert await product.notifier.drain_once() == 0
    async with product.uow_factory() as uow:
        rows = list(await uow.session.scalars(select(Notification).where(Notification.kind == "coupon_issued")))
    assert sorted(row.status for row in rows) == ["sent", "skipped"] and given.coupon.id == rows[0].payload["coupon_id"]
