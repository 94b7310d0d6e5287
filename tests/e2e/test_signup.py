"""A member signs up in the chat and gets their card, through aiogram and the sandbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.render import texts_for
from db.models import Member
from loyalty.members import is_valid_member_number
from sandbox import SandboxMessage
from tests.e2e.conftest import Product
from tests.utils.members import next_phone, till_member
from tests.utils.qr import decode_qr

EN = texts_for("en")
ZH = texts_for("zh_CN")


async def members_in_db(product: Product) -> list[Member]:
    async with product.uow_factory() as uow:
        return list(await uow.session.scalars(select(Member).order_by(Member.id)))


async def sign_up(conv, *, phone: str, birthday: str = "1990-05-17", city: str = "Shanghai") -> list[SandboxMessage]:
    await conv.say("/start")
    await conv.press(0)  # agree
    await conv.share_contact(phone)
    await conv.say(birthday)
    return await conv.say(city)


async def test_full_sign_up_ends_with_a_card_whose_qr_is_the_member_number(product: Product) -> None:
    phone = next_phone()
    user, conv = product.member("Alex")

    greeting = await conv.say("/start")
    assert "Welcome to" in greeting[0].text and "Alex" in greeting[0].text
    consent = greeting[-1]
    assert consent.button_labels == [EN("buttons/agree"), EN("buttons/decline")]
    assert await members_in_db(product) == [], "nothing is stored before consent"

    asked_phone = await conv.press(EN("buttons/agree"))
    assert any("share your phone" in m.text for m in asked_phone if m.text)
    contact_button = conv.reply_keyboard["keyboard"][0][0]
    assert contact_button["request_contact"] is True

    asked_birthday = await conv.share_contact(phone)
    assert "birthday" in asked_birthday[-1].text
    [member] = await members_in_db(product)
    assert member.telegram_id == user.id and member.enrolled_via == "chat"

    asked_city = await conv.say("1990-05-17")
    assert "city" in asked_city[-1].text

    finished = await conv.say("Shanghai")
    assert "you're a member now" in finished[0].text
    card = finished[-1]
    number = decode_qr(card)
    assert is_valid_member_number(number)
    assert f"Member number: {number}" in card.caption
    assert "Points: 0" in card.caption and "Tier: Member" in card.caption
    assert "member card · Shanghai" in card.caption, "a member in Shanghai reads the Shanghai texts"
    assert EN("buttons/my_card") in conv.reply_keyboard_labels

    async with product.uow_factory() as uow:
        [member] = await uow.session.scalars(select(Member))
        assert str(uow.members.birthday_of(member)) == "1990-05-17"
    assert member.member_number == number and member.city == "Shanghai"
    assert member.consented_at == product.clock.now()


async def test_chinese_telegram_client_is_answered_in_chinese(product: Product) -> None:
    _, conv = product.member("小明", language="zh-hans")
    replies = await conv.say("/start")
    assert "欢迎来到" in replies[0].text
    assert replies[-1].button_labels == [ZH("buttons/agree"), ZH("buttons/decline")]
    finished = await sign_up(conv, phone=next_phone(), birthday="1990年5月17日", city="上海")
    assert "会员号" in finished[-1].caption
    [member] = await members_in_db(product)
    assert member.locale == "zh_CN" and member.city == "上海"


async def test_start_again_shows_the_card_instead_of_signing_up_twice(product: Product) -> None:
    _, conv = product.member()
    first = await sign_up(conv, phone=next_phone())
    again = await conv.say("/start")
    assert decode_qr(again[-1]) == decode_qr(first[-1])
    assert len(await members_in_db(product)) == 1
    card = await conv.say("/card")
    assert decode_qr(card[-1]) == decode_qr(first[-1])
    via_button = await conv.press(EN("buttons/my_card"))
    assert decode_qr(via_button[-1]) == decode_qr(first[-1])


async def test_declining_consent_stores_nothing(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    replies = await conv.press(EN("buttons/decline"))
    assert any("nothing about you has been stored" in m.text for m in replies if m.text)
    assert await members_in_db(product) == []
    # The consent buttons are gone, and pressing the old one again is a stale button.
    assert conv.messages[-2].buttons == [] or conv.latest_with_buttons() is None


async def test_someone_elses_contact_is_refused(product: Product) -> None:
    user, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    replies = await conv.share_contact(next_phone(), user_id=user.id + 1)
    assert "not your own number" in replies[-1].text
    assert await members_in_db(product) == []
    # The member can still go on with their own number.
    replies = await conv.share_contact(next_phone())
    assert "birthday" in replies[-1].text


async def test_typed_phone_number_is_not_accepted(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    replies = await conv.say("+86 138 0013 8000")
    assert "don't type the number" in replies[-1].text
    assert await members_in_db(product) == []


@pytest.mark.parametrize(
    ("typed", "explained"),
    [
        ("next tuesday", "couldn't read that as a date"),
        ("1990-02-30", "doesn't exist"),
        ("2030-01-01", "in the future"),
        ("1800-01-01", "too long ago"),
    ],
)
async def test_bad_birthday_is_explained_and_not_stored(product: Product, typed: str, explained: str) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    replies = await conv.say(typed)
    assert explained in replies[-1].text
    [member] = await members_in_db(product)
    assert member.birthday_month is None and member.birthday_encrypted is None
    # Skipping is always possible.
    replies = await conv.press(EN("buttons/skip"))
    assert "city" in replies[-1].text


async def test_members_elsewhere_read_the_general_texts_and_a_city_change_follows(product: Product) -> None:
    _, conv = product.member("Jean")
    finished = await sign_up(conv, phone=next_phone(), city="Paris")
    assert finished[-1].caption.startswith("💳 Loyalty Club member card\n\nMember number")
    _, beijing = product.member("Wei")
    finished = await sign_up(beijing, phone=next_phone(), city="北京市")
    assert "member card · Beijing" in finished[-1].caption
    [card] = await beijing.say("/card")
    assert "member card · Beijing" in (card.caption or ""), "later messages keep the region"


async def test_skipping_birthday_and_city_still_makes_a_member(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    await conv.press(EN("buttons/skip"))
    replies = await conv.press(EN("buttons/skip"))
    assert replies[-1].photo is not None
    [member] = await members_in_db(product)
    assert member.birthday_month is None and member.birthday_encrypted is None and member.city is None


async def test_bad_city_is_explained(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    await conv.press(EN("buttons/skip"))
    replies = await conv.say("x" * 80)
    assert "too long for a city name" in replies[-1].text
    [member] = await members_in_db(product)
    assert member.city is None


async def test_start_payload_is_kept_and_a_malformed_one_ignored(product: Product) -> None:
    _, conv = product.member("Ann")
    await conv.say("/start ref_FRIEND42")
    await conv.press(0)
    await conv.share_contact(next_phone())
    _, conv2 = product.member("Ben")
    await conv2.say("/start " + "x" * 65)
    await conv2.press(0)
    await conv2.share_contact(next_phone())
    ann, ben = await members_in_db(product)
    assert ann.start_payload == "ref_FRIEND42"
    assert ben.start_payload is None


async def test_phone_enrolled_at_the_till_links_the_chat_to_that_member(product: Product) -> None:
    phone = next_phone()
    enrolled = await till_member(product.uow_factory, product.clock, phone=phone)
    user, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    replies = await conv.share_contact(phone.removeprefix("+"))  # Telegram sends no '+'
    assert any(enrolled.member_number in (m.text or "") for m in replies)
    [member] = await members_in_db(product)
    assert member.id == enrolled.id and member.telegram_id == user.id


async def test_a_contact_telegram_verified_joins_even_in_a_range_the_library_does_not_know(product: Product) -> None:
    """+888 numbers are Telegram's own anonymous numbers; the phone-number library calls them
    invalid. Telegram vouches for the contact, so the member joins with it, normalised."""
    user, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    asked_birthday = await conv.share_contact("88812345678")
    assert "birthday" in asked_birthday[-1].text
    [member] = await members_in_db(product)
    assert member.telegram_id == user.id
    async with product.uow_factory() as uow:
        assert await uow.members.by_phone("+88812345678") is not None


async def test_phone_already_linked_to_another_chat_is_refused(product: Product) -> None:
    phone = next_phone()
    _, first = product.member("First")
    await sign_up(first, phone=phone)
    second_user, second = product.member("Second")
    await second.say("/start")
    await second.press(0)
    replies = await second.share_contact(phone)
    assert "already linked to another Telegram account" in replies[-1].text
    members = await members_in_db(product)
    assert len(members) == 1 and members[0].telegram_id != second_user.id


async def test_unexpected_input_gets_help_and_writes_nothing(product: Product) -> None:
    _, conv = product.member()
    replies = await conv.send_sticker()
    assert "/start" in replies[-1].text
    replies = await conv.say("what is this")
    assert "/start" in replies[-1].text
    await sign_up(conv, phone=next_phone())
    before = await members_in_db(product)
    replies = await conv.say("random words")
    assert "didn't understand" in replies[-1].text
    replies = await conv.send_sticker()
    assert "didn't understand" in replies[-1].text
    after = await members_in_db(product)
    assert [(m.id, m.updated_at) for m in after] == [(m.id, m.updated_at) for m in before]


async def test_forged_and_stale_buttons_are_refused(product: Product) -> None:
    user, conv = product.member()
    await sign_up(conv, phone=next_phone())
    card_message = conv.messages[-1]
    for forged in ("consent:agree", "lang:fr", "lang:en:extra", "admin:delete:1", "x" * 64):
        query_id = await product.sandbox.press_button(user, card_message.message_id, forged)
        answer = await product.sandbox.wait_for_callback_answer(query_id)
        assert answer.text == EN("fallback/stale_button")
    [member] = await members_in_db(product)
    assert member.locale == "en" and member.consent_version


async def test_language_switch_persists_for_a_member(product: Product) -> None:
    _, conv = product.member()
    await sign_up(conv, phone=next_phone())
    [question] = await conv.say("/language")
    replies = await conv.press("中文")
    assert "中文" in replies[-1].text
    # The question stays, the language chosen under it.
    assert replies[0].message_id == question.message_id
    assert replies[0].text == EN("language/choose").replace("<b>", "").replace("</b>", "") + "\n\n→ 中文"
    assert replies[0].buttons == []
    assert ZH("buttons/my_card") in conv.reply_keyboard_labels
    [member] = await members_in_db(product)
    assert member.locale == "zh_CN"
    card = await conv.say("/card")
    assert "会员号" in card[-1].caption


async def test_guest_language_choice_is_kept_until_sign_up(product: Product) -> None:
    _, conv = product.member(language="en")
    await conv.say("/language")
    await conv.press("中文")
    replies = await conv.say("/start")
    assert "欢迎来到" in replies[0].text
    await conv.press(0)
    await conv.share_contact(next_phone())
    [member] = await members_in_db(product)
    assert member.locale == "zh_CN"


async def test_commands_mid_sign_up_are_not_taken_as_answers(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    replies = await conv.say("/help")
    assert "what I can do" in replies[-1].text
    [member] = await members_in_db(product)
    assert member.birthday_month is None and member.birthday_encrypted is None
    replies = await conv.say("/cancel")
    assert "you're a member already. /card shows your member card" in replies[-1].text


async def test_cancel_before_phone_stores_nothing(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    replies = await conv.press(EN("buttons/cancel"))
    # The chat said "consent recorded" a moment ago: the answer says what became of it.
    assert "your consent is withdrawn and nothing about you is kept" in replies[-1].text
    assert await members_in_db(product) == []


async def test_blocking_the_bot_marks_the_member_unreachable(product: Product) -> None:
    _, conv = product.member()
    await sign_up(conv, phone=next_phone())
    await conv.block()
    await product.sandbox.wait_idle()
    [member] = await members_in_db(product)
    assert member.chat_blocked_at is not None
    await conv.unblock()
    await product.sandbox.wait_idle()
    [member] = await members_in_db(product)
    assert member.chat_blocked_at is None


async def test_group_chats_are_ignored(product: Product) -> None:
    async with product.uow_factory() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(Member))
    assert count == 0


async def test_typed_button_labels_work_whatever_the_case(product: Product) -> None:
    _, conv = product.member()
    await conv.say("/start")
    await conv.press(0)
    await conv.share_contact(next_phone())
    replies = await conv.say("skip")  # typed, not tapped
    assert "city" in replies[-1].text
    replies = await conv.say("  SKIP ")
    assert replies[-1].photo is not None
    [member] = await members_in_db(product)
    assert member.birthday_month is None and member.birthday_encrypted is None and member.city is None
