"""Coupons in the chat through aiogram and the sandbox: /coupons lists the member's usable coupons
soonest-ending first with what each is worth and where; a button sends the code and its QR;
forged, foreign, used and expired coupons are refused; Offers near me shows which nearby store
takes which coupon; a live location walking into a store's geofence gets exactly one push."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.render import texts_for
from db.models import Coupon, Member, Notification, Store
from loyalty import coupons, earning
from loyalty.earning import RuleSpec
from sandbox import Conversation
from tests.e2e.conftest import Product
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import chat_member
from tests.utils.qr import decode_qr
from tests.utils.stores import SHANGHAI, add_stores, located_store

EN = texts_for("en")
ZH = texts_for("zh_CN")
LAT, LON = SHANGHAI
METRE = 1 / 111_195  # a metre of latitude, in degrees


async def two_stores(product: Product) -> tuple[Store, Store]:
    clock = product.clock
    near, other = await add_stores(product.uow_factory, [
        located_store("NEAR", LAT + 300 * METRE, LON, clock, name="Nanjing Rd", address="1 Nanjing Rd"),
        located_store("OTHER", LAT + 1_200 * METRE, LON, clock, name="Bund"),
    ])
    return near, other


async def pushes(product: Product, member: Member) -> list[Notification]:
    async with product.uow_factory() as uow:
        statement = select(Notification).where(
            Notification.member_id == member.id, Notification.kind == "coupon_nearby"
        ).order_by(Notification.id)
        return list(await uow.session.scalars(statement))


async def share_live_location(product: Product, conv: Conversation, latitude: float, longitude: float) -> int:
    """Start sharing a live location (answered with the stores nearby); its message id."""
    mark = conv.mark()
    live = await product.sandbox.send_location(conv.user, latitude, longitude, live_period=3600)
    await conv.collect_since(mark, "live location shared")
    return live.message_id


async def settle(conv: Conversation) -> None:
    """Wait until the bot has handled everything this chat sent: updates of one chat are handled
    in order, so once a later command is answered, the earlier (silent) updates are done."""
    await conv.say("/help")


async def test_coupons_are_listed_soonest_ending_first_and_a_button_shows_code_and_qr(product: Product) -> None:
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    _near, _ = await two_stores(product)
    factory, clock = product.uow_factory, product.clock
    later = await make_template(factory, clock, code="WELCOME38", kind="percent_off", value=38, name="Welcome")
    sooner = await make_template(
        factory, clock, code="LATTE20", value=2000, valid_days=3, min_spend_minor=5000, stores=["NEAR"], name="Latte deal"
    )
    ended = await make_template(factory, clock, code="OLD", kind="free_item", value=1800, valid_days=0, name="Old cookie")
    first = await give_coupon(product.uow_factory, product.clock, member, later)
    second = await give_coupon(product.uow_factory, product.clock, member, sooner)
    await give_coupon(product.uow_factory, product.clock, member, ended)
    product.clock.advance(timedelta(days=1))  # the zero-day coupon is over

    [answer] = await conv.say("/coupons")
    text = answer.text
    assert text.index("Latte deal") < text.index("Welcome"), "soonest-ending first"
    assert "Old cookie" not in text
    assert "¥20.00 off on ¥50.00 or more" in text and "at Nanjing Rd" in text
    assert "38% off" in text and "at every store" in text
    assert answer.button_labels == ["🎟 Latte deal", "🎟 Welcome"]

    [photo] = await conv.press("🎟 Latte deal")
    assert decode_qr(photo) == second.code
    assert second.code in (photo.caption or "") and "It can be used once" in (photo.caption or "")
    assert first.code not in (photo.caption or "")


async def test_forged_foreign_used_and_expired_coupons_are_refused(product: Product) -> None:
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    other = await chat_member(product.uow_factory, product.clock, telegram_id=user.id + 1)
    template = await make_template(
        product.uow_factory, product.clock, code="T1", kind="percent_off", value=10, valid_days=1, per_member_limit=3
    )
    mine = await give_coupon(product.uow_factory, product.clock, member, template)
    theirs = await give_coupon(product.uow_factory, product.clock, other, template)
    await conv.say("/coupons")

    for data, reason in ((f"coupon:{theirs.id}", "unknown"), ("coupon:999999", "unknown")):
        mark = conv.mark()
        refusal = await product.forge(conv, data)
        assert (refusal.text, refusal.show_alert) == (EN("coupons/refused", reason=reason), True)
        assert all(m.photo is None for m in conv.messages[mark:]), "no code was sent"
    assert (await product.forge(conv, "coupon:99999999999")).text == EN("fallback/stale_button")

    async with product.uow_factory() as uow:
        await uow.session.execute(update(Coupon).where(Coupon.id == mine.id).values(status="used"))
        await uow.commit()
    assert (await product.forge(conv, f"coupon:{mine.id}")).text == EN("coupons/refused", reason="used")

    fresh = await give_coupon(product.uow_factory, product.clock, member, template)
    product.clock.advance(timedelta(days=2))
    assert (await product.forge(conv, f"coupon:{fresh.id}")).text == EN("coupons/refused", reason="expired")


async def test_a_guest_has_no_coupons_and_a_member_without_any_is_told_how_they_come(product: Product) -> None:
    _, guest = product.member("Guest")
    [answer] = await guest.say("/coupons")
    assert answer.text == EN("card/need_signup")
    refusal = await product.forge(guest, "coupon:1")
    assert refusal.text == EN("card/need_signup")

    user, conv = product.member()
    await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    [answer] = await conv.say("🎟 coupons")  # the menu label, typed in any case
    assert answer.text == EN("coupons/none")


async def test_chinese_members_read_discounts_the_chinese_way(product: Product) -> None:
    user, conv = product.member("Li", language="zh-hans")
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="zh_CN")
    template = await make_template(
        product.uow_factory, product.clock, code="ZH38", kind="percent_off", value=38, valid_days=7, min_spend_minor=10000
    )
    await give_coupon(product.uow_factory, product.clock, member, template)
    [answer] = await conv.say("/coupons")
    assert "满¥100.00" in answer.text and "6.2折" in answer.text and "全部门店通用" in answer.text


async def test_offers_near_me_shows_which_store_takes_which_coupon(product: Product) -> None:
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    await two_stores(product)
    only_near = await make_template(
        product.uow_factory, product.clock, code="NEARONLY", value=1000, valid_days=5, stores=["NEAR"], name="Ten off"
    )
    await give_coupon(product.uow_factory, product.clock, member, only_near)

    [answer] = await conv.share_location(LAT, LON)
    text = answer.text
    near_part, bund_part = text.split("Bund ·")
    assert "Your coupon works here: Ten off" in near_part
    assert "Ten off" not in bund_part
    assert answer.button_labels == ["🧭 Nanjing Rd", "🧭 Bund", "🎟 Ten off"]
    assert "Member offers now" not in text, "no promotion is running"
    async with product.uow_factory() as uow:
        refreshed = await uow.members.by_id(member.id)
        assert refreshed is not None and refreshed.timezone == "Asia/Shanghai", "the zone is learnt"

    # A promotion every member gets is listed too, with its last day in the program's zone.
    ends = datetime(2026, 12, 2, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    async with product.uow_factory() as uow:
        spec = RuleSpec(name="Double points on coffee", kind="promotion", multiplier_pct=200, ends_at=ends)
        await earning.create_rule(uow, product.clock, spec, actor="test")
    [answer] = await conv.share_location(LAT, LON)
    assert "Member offers now" in answer.text and "• Double points on coffee (until Dec 1, 2026)" in answer.text


async def test_walking_into_a_geofence_with_a_live_location_pushes_once(product: Product) -> None:
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    near, _other = await two_stores(product)
    template = await make_template(
        product.uow_factory, product.clock, code="GEO", kind="percent_off", value=38, valid_days=5, name="38 off"
    )
    coupon = await give_coupon(product.uow_factory, product.clock, member, template)

    live_id = await share_live_location(product, conv, LAT - 2_000 * METRE, LON)

    # Walking: far, then 40 m from Nanjing Rd, then 20 m, then inside again a minute later.
    for metres in (1_000, 260, 280, 295):
        product.clock.advance(timedelta(minutes=1))
        await conv.move_live_location(live_id, LAT + metres * METRE, LON)
    await settle(conv)
    assert [n.payload["store_id"] for n in await pushes(product, member)] == [near.id]

    mark = conv.mark()
    assert await product.notifier.drain_once() == 1
    [push] = await conv.collect_since(mark, "the push")
    assert "📍 You're" in push.text and "Nanjing Rd" in push.text and "38 off" in push.text
    assert push.button_labels == ["🎟 38 off", "🧭 Directions"]
    [photo] = await conv.press("🎟 38 off")
    assert decode_qr(photo) == coupon.code


async def test_geofence_pushes_respect_quiet_hours_the_daily_cap_and_used_coupons(product: Product) -> None:
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    clock = product.clock
    stores = await add_stores(product.uow_factory, [
        located_store(f"S{i}", LAT + i * 0.01, LON, clock, name=f"Store {i}") for i in range(4)
    ])
    template = await make_template(product.uow_factory, product.clock, code="CAP", kind="percent_off", value=10, valid_days=5)
    await give_coupon(product.uow_factory, product.clock, member, template)
    live_id = await share_live_location(product, conv, LAT - 0.05, LON)

    # 23:30 in Shanghai: quiet hours, nothing owed even at the store's door.
    clock.set(datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc))
    await conv.move_live_location(live_id, stores[0].latitude, LON)
    await settle(conv)
    assert await pushes(product, member) == []

    # The next morning at 09:00: one push per store, at most two a day.
    clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc))
    for store in stores:
        clock.advance(timedelta(minutes=5))
        await conv.move_live_location(live_id, store.latitude, LON)
    await settle(conv)
    assert [n.payload["store_id"] for n in await pushes(product, member)] == [stores[0].id, stores[1].id]

    # A push written before the coupon was used has nothing left to say: skipped, not sent.
    async with product.uow_factory() as uow:
        await uow.session.execute(update(Coupon).where(Coupon.member_id == member.id).values(status="used"))
        await uow.commit()
    assert await product.notifier.drain_once() == 0
    assert {n.status for n in await pushes(product, member)} == {"skipped"}


async def test_a_welcome_coupon_is_issued_at_sign_up_and_named_in_the_welcome(product: Product) -> None:
    await make_template(
        product.uow_factory, product.clock, code="HELLO", value=1500, valid_days=14, auto_issue="signup", name="Hello gift"
    )
    user, conv = product.member(phone="+8613800138000")
    await conv.say("/start")
    await conv.press("✅ I agree")
    await conv.share_contact()
    await conv.press("Skip")
    messages = await conv.press("Skip")
    welcome = next(m for m in messages if "Welcome to" in m.text)
    assert "Hello gift" in welcome.text and "¥15.00 off" in welcome.text
    until = date(2026, 11, 24) + timedelta(days=14)
    assert EN._env.from_string("{{ d | day }}").render(d=until) in welcome.text  # noqa: SLF001
    async with product.uow_factory() as uow:
        member = await uow.members.by_telegram_id(user.id)
        assert member is not None
        owned = await coupons.usable_coupons(uow, member, now=product.clock.now(), zone=ZoneInfo("Asia/Shanghai"))
        assert [own.template.code for own in owned] == ["HELLO"]


async def test_a_forged_live_location_is_ignored_and_the_next_move_still_counts(product: Product) -> None:
    """Impossible coordinates (only a forged update carries them) roll the update back: no
    answer, nothing written, and the member's next real move is handled as usual."""
    user, conv = product.member()
    member = await chat_member(product.uow_factory, product.clock, telegram_id=user.id)
    near, _ = await two_stores(product)
    template = await make_template(
        product.uow_factory, product.clock, code="GEO", kind="percent_off", value=38, valid_days=5
    )
    await give_coupon(product.uow_factory, product.clock, member, template)
    live_id = await share_live_location(product, conv, LAT - 2_000 * METRE, LON)

    assert await conv.move_live_location(live_id, 95.0, LON) == []
    await settle(conv)
    assert await pushes(product, member) == []
    product.clock.advance(timedelta(minutes=1))
    await conv.move_live_location(live_id, LAT + 280 * METRE, LON)
    await settle(conv)
    assert [n.payload["store_id"] for n in await pushes(product, member)] == [near.id]
