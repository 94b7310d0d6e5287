"""Referrals through the chat: Ann invites Bob, Bob joins by her link and gets his coupon, buys
at the till, the hold passes and Ann is rewarded and told; a refund in the hold voids it; links
pressed by members, a second referrer and a burst of fake friends are refused or held."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from bot.render import texts_for
from db.models import Member, Notification, NotificationKind, Referral, ReferralStatus
from loyalty import referrals
from loyalty.idempotency import IdempotencyKey
from loyalty.nudges.preferences import set_muted
from loyalty.purchases import MemberRef, PurchaseRequest, RefundRequest, record_purchase, record_refund
from sandbox import Conversation
from tests.e2e.conftest import Product
from tests.e2e.test_points import seed_catalogue
from tests.utils.coupons import make_template
from tests.utils.members import TEST_SETTINGS, next_phone, till_member
from tests.utils.referrals import set_terms

EN = texts_for("en")
HOLD = timedelta(days=14)


async def join(product: Product, name: str, payload: str | None = None) -> tuple[Conversation, Member]:
    user, conv = product.member(name)
    await conv.say(f"/start {payload}" if payload else "/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    await conv.press("Skip")
    await conv.press("Skip")
    async with product.uow_factory() as uow:
        member = await uow.members.by_telegram_id(user.id)
    assert member is not None
    return conv, member


async def invite_link(conv: Conversation) -> str:
    [card] = await conv.say("/invite")
    join_button, share_button = card.buttons
    assert join_button["url"] in card.text, "the card itself carries the link, for a forward"
    shared = parse_qs(urlsplit(share_button["url"]).query)
    assert share_button["url"].startswith("https://t.me/share/url?") and shared["url"] == [join_button["url"]]
    return str(join_button["url"])


def payload_of(link: str) -> str:
    [payload] = parse_qs(urlsplit(link).query)["start"]
    return payload


async def buy(product: Product, member: Member, order_id: str, amount_minor: int) -> None:
    async with product.uow_factory() as uow:
        await record_purchase(
            uow, product.clock, TEST_SETTINGS,
            PurchaseRequest(MemberRef(member_number=member.member_number), order_id, "store", amount_minor, "CNY",
                            store_code="S001"),
            actor="test", idempotency=IdempotencyKey("test", order_id, order_id),
        )


async def refund_all(product: Product, order_id: str, amount_minor: int) -> None:
    async with product.uow_factory() as uow:
        await record_refund(
            uow, product.clock, TEST_SETTINGS, RefundRequest(order_id, "store", f"{order_id}-R", amount_minor, "CNY"),
            actor="test", idempotency=IdempotencyKey("test", f"{order_id}-R", "r"),
        )


async def statuses(product: Product) -> dict[int, str]:
    async with product.uow_factory() as uow:
        return {row.friend_id: row.status for row in await uow.session.scalars(select(Referral))}


async def test_ann_invites_bob_who_buys_and_after_the_hold_ann_is_rewarded_and_told(product: Product) -> None:
    await seed_catalogue(product)
    await make_template(product.uow_factory, product.clock, code="FRIEND", name="Friend's ¥15 off", value=1500)
    await set_terms(product.uow_factory, product.clock, friend_coupon="FRIEND", reward_points=300,
                    min_purchase_minor=3000, hold_days=14)
    ann_conv, _ = await join(product, "Ann")
    link = await invite_link(ann_conv)
    assert link.startswith("https://t.me/loyalty_sandbox_bot?start=ref_")
    [summary] = await ann_conv.say("/points")
    assert summary.button_labels == [EN("buttons/invite")]
    [card] = await ann_conv.press(EN("buttons/invite"))
    assert card.buttons[0]["url"] == link, "the same link, made once"

    bob_conv, bob = await join(product, "Bob", payload_of(link))
    welcome = next(m for m in bob_conv.messages if m.text and "you're a member now" in m.text)
    assert "Friend's ¥15 off" in welcome.text, "Bob's coupon is named in his welcome"
    mark = ann_conv.mark()
    await product.notifier.drain_once()
    [joined] = await ann_conv.collect_since(mark, "Bob joined")
    assert "Bob joined with your invite link" in joined.text

    await buy(product, bob, "B-1", 4200)
    product.clock.advance(HOLD)
    assert await referrals.pay_due(product.uow_factory, product.clock, TEST_SETTINGS) == {"rewarded": 1, "capped": 0}
    mark = ann_conv.mark()
    await product.notifier.drain_once()
    [told] = await ann_conv.collect_since(mark, "Ann rewarded")
    assert "Bob made their first purchase: +300 points" in told.text
    assert "Latte" in told.text, "in value terms"
    assert await statuses(product) == {bob.id: ReferralStatus.REWARDED}

    # Bob pressing Ann's link again, Ann pressing her own, and Bob a second referrer's: each is
    # told they are a member already, and nothing changes.
    cleo_conv, _ = await join(product, "Cleo")
    cleos = payload_of(await invite_link(cleo_conv))
    for conv, payload in ((bob_conv, payload_of(link)), (ann_conv, payload_of(link)), (bob_conv, cleos)):
        replies = await conv.say(f"/start {payload}")
        assert EN("referrals/already_member") == replies[0].text
        assert "Member number" in replies[-1].caption
    assert await statuses(product) == {bob.id: ReferralStatus.REWARDED}


async def test_a_refund_inside_the_hold_voids_the_reward(product: Product) -> None:
    await seed_catalogue(product)
    await set_terms(product.uow_factory, product.clock, reward_points=300, hold_days=14)
    ann_conv, ann = await join(product, "Ann")
    _, dan = await join(product, "Dan", payload_of(await invite_link(ann_conv)))
    await buy(product, dan, "D-1", 5000)
    product.clock.advance(HOLD - timedelta(days=1))
    await refund_all(product, "D-1", 5000)
    product.clock.advance(timedelta(days=2))
    assert await referrals.pay_due(product.uow_factory, product.clock, TEST_SETTINGS) == {"rewarded": 0, "capped": 0}
    assert await statuses(product) == {dan.id: ReferralStatus.VOIDED}
    async with product.uow_factory() as uow:
        assert (await uow.lock_member(ann.id)).points_balance == 0


async def test_a_burst_of_fake_friends_is_held_not_paid(product: Product) -> None:
    await seed_catalogue(product)
    await set_terms(product.uow_factory, product.clock, reward_points=300, hold_days=1, burst_size=3, burst_minutes=10)
    ann_conv, ann = await join(product, "Ann")
    payload = payload_of(await invite_link(ann_conv))
    fakes = []
    for number in range(3):
        _, fake = await join(product, f"Fake{number}", payload)
        fakes.append(fake)
        product.clock.advance(timedelta(minutes=2))
    for number, fake in enumerate(fakes):
        await buy(product, fake, f"F-{number}", 1000)
    product.clock.advance(timedelta(days=2))
    assert await referrals.pay_due(product.uow_factory, product.clock, TEST_SETTINGS) == {"rewarded": 0, "capped": 0}
    assert set((await statuses(product)).values()) == {ReferralStatus.HELD}
    async with product.uow_factory() as uow:
        assert (await uow.lock_member(ann.id)).points_balance == 0


async def test_a_member_whose_phone_was_enrolled_at_a_till_is_not_a_referred_friend(product: Product) -> None:
    await seed_catalogue(product)
    await set_terms(product.uow_factory, product.clock, reward_points=300)
    ann_conv, _ = await join(product, "Ann")
    payload = payload_of(await invite_link(ann_conv))
    phone = next_phone()
    await till_member(product.uow_factory, product.clock, phone=phone)
    _, conv = product.member("Gus")
    await conv.say(f"/start {payload}")
    await conv.press(0)
    replies = await conv.share_contact(phone)
    assert any(m.text == EN("referrals/refused", reason="existing_member") for m in replies)
    assert await statuses(product) == {}


async def test_a_member_who_muted_referral_news_is_not_told(product: Product) -> None:
    await seed_catalogue(product)
    await set_terms(product.uow_factory, product.clock, reward_points=300, hold_days=0)
    ann_conv, ann = await join(product, "Ann")
    payload = payload_of(await invite_link(ann_conv))
    async with product.uow_factory() as uow:
        await set_muted(uow, product.clock, await uow.lock_member(ann.id), "referrals", True)
    _, bob = await join(product, "Bob", payload)
    await buy(product, bob, "M-1", 1000)
    await referrals.pay_due(product.uow_factory, product.clock, TEST_SETTINGS)
    mark = ann_conv.mark()
    await product.notifier.drain_once()
    assert ann_conv.messages[mark:] == [], "muted: neither the join nor the reward is told"
    async with product.uow_factory() as uow:
        told = await uow.session.scalars(select(Notification).where(Notification.member_id == ann.id))
        assert sorted((n.kind, n.status) for n in told) == [
            (NotificationKind.REFERRAL_JOINED, "skipped"), (NotificationKind.REFERRAL_REWARDED, "skipped"),
        ]
    async with product.uow_factory() as uow:
        assert (await uow.lock_member(ann.id)).points_balance == 300, "the reward itself is paid"
