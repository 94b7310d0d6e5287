"""/privacy through aiogram and the sandbox: a member gets everything stored about them as files in
their language, deletes their membership after two questions, leaves nothing personal behind, and
can join again from zero; forged and stale buttons erase nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.app import build_bot
from bot.render import texts_for
from bot.routers.staff.menu import give_staff_menu
from db.models import Member, Notification
from loyalty import staff
from loyalty.config import Settings
from loyalty.data_export import MemberExport
from loyalty.idempotency import IdempotencyKey
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from sandbox import SandboxMessage
from tests.e2e.conftest import Product
from tests.utils.coupons import make_template
from tests.utils.members import next_phone
from tests.utils.privacy import ALEX, lead_a_life, traces
from tests.utils.qr import decode_qr

EN = texts_for("en")
ZH = texts_for("zh_CN")


async def members(product: Product) -> list[Member]:
    async with product.uow_factory() as uow:
        return list(await uow.session.scalars(select(Member).order_by(Member.id)))


async def sign_up(conv, *, phone: str | None = None, birthday: str = "24.11.1990", city: str = ALEX.city) -> str:  # type: ignore[no-untyped-def]
    await conv.say(f"/start ref_{ALEX.username}")
    await conv.press(0)  # agree
    await conv.share_contact(phone)
    await conv.say(birthday)
    finished = await conv.say(city)
    return decode_qr(finished[-1])


def documents(messages: list[SandboxMessage]) -> list[SandboxMessage]:
    return [message for message in messages if message.document is not None]


async def test_a_member_exports_deletes_and_joins_again_as_someone_new(product: Product, settings: Settings) -> None:
    await make_template(product.uow_factory, product.clock, code="WELCOME", auto_issue="signup")
    user = product.sandbox.add_user(
        ALEX.first_name, last_name=ALEX.last_name, username=ALEX.username, user_id=ALEX.telegram_id,
        phone_number=ALEX.phone,
    )
    conv = product.sandbox.conversation(user)
    number = await sign_up(conv)
    life = await lead_a_life(product.uow_factory, product.clock, settings, number)
    while await product.notifier.drain_once():  # receipts and greetings reach the chat
        pass

    # Export: a readable file and the same as JSON.
    [menu] = await conv.say("/privacy")
    assert menu.button_labels == [EN("privacy/buttons/export"), EN("privacy/buttons/erase")]
    readable, machine = documents(await conv.press(EN("privacy/buttons/export")))
    assert readable.document is not None and readable.document.file_name == f"my-data-{number}-2026-11-24.txt"
    assert readable.caption is not None and readable.caption.startswith("📦 Everything we store about you")
    text = (readable.document_bytes or b"").decode()
    for expected in (ALEX.phone, "November 24, 1990", ALEX.city, number, *life.orders, life.refund_id,
                     life.reward_code, *life.coupon_codes, f"ref_{ALEX.username}", "vip, water-town"):
        assert expected in text, expected
    assert "PURCHASES (2)" in text and "Goodwill for" in text
    export = MemberExport.model_validate(json.loads(machine.document_bytes or b""))
    assert (export.profile.phone, export.profile.telegram_id, str(export.profile.birthday)) == (
        ALEX.phone, ALEX.telegram_id, "1990-11-24"
    )
    assert [purchase.order_id for purchase in export.purchases] == list(life.orders)
    assert {item.kind for item in export.messages} >= {"points_earned", "birthday", "coupon_nearby"}

    # A receipt waits in the outbox while they delete: it must never go out.
    async with product.uow_factory() as uow:
        await record_purchase(
            uow, product.clock, settings,
            PurchaseRequest(MemberRef(member_number=number), "WEB-LAST", "online", 5_000, "CNY"),
            actor="apikey:shop", idempotency=IdempotencyKey("apikey:2", "WEB-LAST", "last"),
        )

    # Delete: asked twice, the second time with what is lost.
    await conv.say("/privacy")
    [asked] = await conv.press(EN("privacy/buttons/erase"))
    assert asked.text == EN("privacy/erase_ask")
    [final] = await conv.press(EN("privacy/buttons/continue"))
    assert "cannot be undone" in (final.text or "")
    assert "2 coupons you have not used" in (final.text or "") and "1 reward code" in (final.text or "")
    assert [m.erased_at for m in await members(product)] == [None], "asking twice erases nothing"

    erased = await conv.press(EN("privacy/buttons/confirm"))
    assert EN("privacy/erased") in [m.text for m in erased]
    assert conv.reply_keyboard is None, "the member keyboard goes"
    [member] = await members(product)
    assert member.erased_at is not None and member.telegram_id is None
    found = await traces(product.uow_factory, ALEX.texts, [ALEX.telegram_id])
    assert found == [], "\n".join(map(str, found))

    # Nothing reaches the chat again, and its buttons are dead.
    sent = len(conv.messages)
    assert await product.notifier.drain_once() == 0
    assert len(conv.messages) == sent
    async with product.uow_factory() as uow:
        assert list(await uow.session.scalars(select(Notification))) == [], "the unsent receipt went with the rest"
    assert (await product.forge(conv, f"pvx:{number}:AAAAAAAAAAAA")).text == EN("card/need_signup")

    # The same Telegram user is a guest: /start signs them up anew, the same phone joins.
    greeting = await conv.say("/start")
    assert greeting[-1].button_labels == [EN("buttons/agree"), EN("buttons/decline")]
    await conv.press(0)
    await conv.share_contact()
    await conv.press(EN("buttons/skip"))
    replies = await conv.press(EN("buttons/skip"))
    again = decode_qr(replies[-1])
    assert again != number
    old, new = await members(product)
    assert old.erased_at is not None and new.member_number == again and new.telegram_id == ALEX.telegram_id
    assert new.points_balance == 0


async def test_the_export_speaks_the_members_language(product: Product) -> None:
    _, conv = product.member("小明", language="zh-hans")
    number = await sign_up(conv, phone=next_phone(), birthday="1990年11月24日", city="上海")
    await conv.say("/privacy")
    readable, machine = documents(await conv.press(ZH("privacy/buttons/export")))
    text = (readable.document_bytes or b"").decode()
    assert "我们保存的关于您的全部信息" in text and "1990年11月24日" in text and "上海" in text and number in text
    assert readable.caption is not None and readable.caption.startswith("📦 截至")
    assert json.loads(machine.document_bytes or b"")["profile"]["city"] == "上海"


async def test_settings_lead_to_the_privacy_menu(product: Product) -> None:
    _, conv = product.member()
    await sign_up(conv, phone=next_phone())
    [listed] = await conv.say("/settings")
    assert listed.button_labels[-1] == EN("privacy/buttons/open")
    [menu] = await conv.press(EN("privacy/buttons/open"))
    assert menu.button_labels == [EN("privacy/buttons/export"), EN("privacy/buttons/erase")]
    assert "/privacy" in (await conv.say("/help"))[-1].text  # type: ignore[operator]


async def test_changing_ones_mind_keeps_the_membership_and_kills_the_old_button(product: Product) -> None:
    _, conv = product.member()
    await sign_up(conv, phone=next_phone())
    await conv.say("/privacy")
    await conv.press(EN("privacy/buttons/erase"))
    [final] = await conv.press(EN("privacy/buttons/continue"))
    confirm = final.button(EN("privacy/buttons/confirm"))["callback_data"]
    [kept] = await conv.press(EN("privacy/buttons/keep"))
    assert kept.text == EN("privacy/kept") and kept.buttons == []
    # The "delete" button of that confirmation, pressed after all (an old message, a forger).
    answer = await product.forge(conv, confirm)
    assert answer.text == EN("privacy/confirm_expired")
    assert [m.erased_at for m in await members(product)] == [None]


async def test_cancel_withdraws_a_pending_deletion(product: Product) -> None:
    _, conv = product.member()
    await sign_up(conv, phone=next_phone())
    await conv.say("/privacy")
    await conv.press(EN("privacy/buttons/erase"))
    [final] = await conv.press(EN("privacy/buttons/continue"))
    confirm = final.button(EN("privacy/buttons/confirm"))["callback_data"]
    [cancelled] = await conv.say("/cancel")
    assert cancelled.text == EN("privacy/kept")
    answer = await product.forge(conv, confirm)
    assert answer.text == EN("privacy/confirm_expired"), "the confirmation no longer erases"
    assert [m.erased_at for m in await members(product)] == [None]
    [again] = await conv.say("/cancel")
    assert again.text == EN("fallback/nothing_to_cancel")


async def test_forged_and_stale_confirmations_erase_nothing(product: Product) -> None:
    _, conv = product.member()
    number = await sign_up(conv, phone=next_phone())
    other = "4260185626" if number != "4260185626" else "4260185634"

    # Never asked: a well-formed confirmation out of nowhere.
    await conv.say("/privacy")
    assert (await product.forge(conv, f"pvx:{number}:AAAAAAAAAAAA")).text == EN("privacy/confirm_expired")
    await conv.press(EN("privacy/buttons/erase"))
    [final] = await conv.press(EN("privacy/buttons/continue"))
    nonce = final.button(EN("privacy/buttons/confirm"))["callback_data"].rsplit(":", 1)[1]
    # Asked: the right nonce for another membership, a wrong nonce, then shapes that do not unpack.
    assert (await product.forge(conv, f"pvx:{other}:{nonce}")).text == EN("privacy/confirm_expired")
    assert (await product.forge(conv, f"pvx:{number}:{nonce[:-1]}x")).text == EN("privacy/confirm_expired")
    for malformed in (f"pvx:{number}", f"pvx:12345:{nonce}", f"pvx:{number}:no spaces!", "pv:explode"):
        assert (await product.forge(conv, malformed)).text == EN("fallback/stale_button")
    # Asked too long ago: the confirmation lapses after ten minutes.
    product.clock.advance(timedelta(minutes=11))
    assert (await product.forge(conv, f"pvx:{number}:{nonce}")).text == EN("privacy/confirm_expired")
    assert [m.erased_at for m in await members(product)] == [None]
    # Asked again, in time: that one works, once.
    await conv.say("/privacy")
    await conv.press(EN("privacy/buttons/erase"))
    await conv.press(EN("privacy/buttons/continue"))
    erased = await conv.press(EN("privacy/buttons/confirm"))
    assert EN("privacy/erased") in [m.text for m in erased]
    assert [m.erased_at is not None for m in await members(product)] == [True]


async def test_a_guest_has_nothing_to_export_or_delete(product: Product) -> None:
    _, conv = product.member()
    assert (await conv.say("/privacy"))[-1].text == EN("card/need_signup")
    await conv.say("/start")
    assert (await product.forge(conv, "pv:export")).text == EN("card/need_signup")
    assert await members(product) == []


async def test_a_staff_member_who_deletes_their_membership_loses_the_role_and_its_menu(product: Product) -> None:
    user, conv = product.member("Boss")
    await sign_up(conv, phone=next_phone())
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=user.id, role="owner", name="Boss")
    bot = build_bot(product.sandbox.token, product.sandbox.base_url)
    try:
        await give_staff_menu(bot, user.id)
    finally:
        await bot.session.close()
    scope = {"type": "chat", "chat_id": user.id}

    def menu() -> list[str]:
        return [entry["command"] for entry in product.sandbox.commands(scope=scope)]

    assert "broadcast" in menu()

    await conv.say("/privacy")
    await conv.press(EN("privacy/buttons/erase"))
    await conv.press(EN("privacy/buttons/continue"))
    await conv.press(EN("privacy/buttons/confirm"))

    async with product.uow_factory() as uow:
        assert await staff.role_of(uow, user.id) is None
    assert menu() == [], "back to the members' menu"
    [answer] = await conv.say("/broadcast")
    assert answer.text == EN("fallback/guest")
