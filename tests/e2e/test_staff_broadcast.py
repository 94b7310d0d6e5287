"""Staff in the chat, through aiogram and the sandbox: a staff member walks /broadcast from the
segment (live sizes on the buttons) to a sent campaign whose progress message becomes the report;
bad input at each step is answered and writes nothing; /campaigns pauses, resumes and cancels,
refusing a marketer on someone else's campaign and a stale button; members see none of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from aiogram import Bot
from sqlalchemy import func, insert, select

from bot.app import build_bot
from bot.broadcast import BroadcastClient, BroadcastEngine
from bot.campaign_progress import CampaignProgressWatcher
from bot.render import texts_for
from bot.routers.staff.broadcast import Segment, segment_options
from db.models import Campaign, CampaignRecipient, Member, Purchase
from loyalty import staff
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience, audience_size
from loyalty.config import Settings
from sandbox import Conversation, SandboxMessage
from tests.e2e.conftest import Product
from tests.utils.campaigns import add_members
from tests.utils.coupons import give_coupon, make_template
from tests.utils.members import chat_member

EN = texts_for("en")
ZH = texts_for("zh_CN")


@pytest.fixture
async def bot(product: Product) -> AsyncIterator[Bot]:
    """A second connection to the sandbox, for the progress watcher."""
    bot = build_bot(product.sandbox.token, product.sandbox.base_url)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def client(product: Product) -> AsyncIterator[BroadcastClient]:
    """The campaign sender's connection to the sandbox."""
    client = BroadcastClient(product.sandbox.token, product.sandbox.base_url)
    try:
        yield client
    finally:
        await client.close()


async def staff_chat(
    product: Product, name: str = "Boss", *, role: str = "owner", language: str = "en"
) -> Conversation:
    user, conv = product.member(name, language=language)
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=user.id, role=role, name=name)
    return conv


async def members_in_chat(product: Product, count: int) -> list[tuple[Conversation, Member]]:
    found = []
    for n in range(count):
        user, conv = product.member(f"Member {n}")
        found.append((conv, await chat_member(product.uow_factory, product.clock, telegram_id=user.id)))
    return found


async def campaigns(product: Product) -> list[Campaign]:
    async with product.uow_factory() as uow:
        return list(await uow.session.scalars(select(Campaign).order_by(Campaign.id)))


async def recipient_count(product: Product) -> int:
    async with product.uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(CampaignRecipient)) or 0)


def one_with(replies: list[SandboxMessage], fragment: str) -> SandboxMessage:
    found = [reply for reply in replies if fragment in (reply.text or "")]
    assert len(found) == 1, (fragment, [reply.summary() for reply in replies])
    return found[0]


def commands_of(product: Product, scope: dict[str, object], language: str = "") -> list[str]:
    key = (json.dumps(scope, sort_keys=True), language)
    return [command["command"] for command in product.sandbox.state.commands.get(key, [])]


async def test_a_staff_member_broadcasts_to_a_segment_and_watches_it_become_the_report(
    product: Product, bot: Bot, client: BroadcastClient, settings: Settings
) -> None:
    boss = await staff_chat(product)
    members = await members_in_chat(product, 4)
    [(_, birthday_member), (_, coupon_member), *_] = members
    async with product.uow_factory() as uow:  # a birthday this month (November, in Shanghai)
        uow.members.set_birthday(await uow.lock_member(birthday_member.id), date(1990, 11, 30))
        await uow.commit()
    gift = await make_template(product.uow_factory, product.clock, code="MDAY", name="Member day gift")
    await give_coupon(product.uow_factory, product.clock, coupon_member, gift)

    # 1. The segments, each with its live size, as the audience rules count it.
    [menu] = await boss.say("/broadcast")
    assert menu.text == EN("staff/broadcast/choose_segment").replace("<b>", "").replace("</b>", "")
    labels = menu.button_labels
    assert labels[0] == "All members · 4"
    assert "Birthday in November · 1" in labels and "Has an unused coupon · 1" in labels
    async with product.uow_factory() as uow:
        options = await segment_options(uow, product.clock, settings)
        for segment, size in options:
            expected = await audience_size(uow, segment.audience(), now=product.clock.now(), zone=settings.zone)
            assert size == expected.total, segment
    assert [label.rsplit(" · ", 1)[1] for label in labels] == [str(size) for _, size in options]
    assert "broadcast" in commands_of(product, {"type": "chat", "chat_id": boss.user.id})

    replies = await boss.press("All members · 4")
    assert replies[0].message_id == menu.message_id and replies[0].buttons == [], "a step's buttons go once used"
    # ...and the question stays, with the answer chosen under it.
    question = EN("staff/broadcast/choose_segment").replace("<b>", "").replace("</b>", "")
    assert replies[0].text == question + "\n\n→ All members · 4"
    assert any(entity["type"] == "bold" for entity in replies[0].entities or []), "the question keeps its formatting"
    asked = one_with(replies, "Now send the text")
    assert asked.button_labels == ["🎉 Member day", "✨ New offer"]

    # 2. A misspelt placeholder is explained and asked again; nothing is written.
    [refusal] = await boss.say("Hello {{ pointz }}!")
    assert "{{ pointz }} is not a value I can fill in" in refusal.text
    [coupon_question] = await boss.say("Hi {{ tier }} member: {{ points }} points wait for you. Member day <today>!")
    assert coupon_question.button_labels == ["🎟 Member day gift", "No coupon"]

    # 3. A coupon template; 4. malformed and past times are refused, then Now.
    replies = await boss.press("🎟 Member day gift")
    assert replies[0].message_id == coupon_question.message_id
    assert replies[0].text.endswith("\n\n→ 🎟 Member day gift") and replies[0].buttons == []
    when_question = replies[-1]
    assert when_question.button_labels == ["🚀 Now"]
    [malformed] = await boss.say("next tuesday")
    assert "I can't read that time" in malformed.text
    [past] = await boss.say("2026-11-24 08:00")
    assert "That time has already passed in Asia/Shanghai" in past.text
    [bad_date] = await boss.say("2026-02-30 10:00")
    assert "I can't read that time" in bad_date.text
    assert await campaigns(product) == [] and await recipient_count(product) == 0

    # 5. The preview as a member gets it, with the coupon's button, and the summary.
    replies = await boss.press("🚀 Now")
    preview, summary = replies[-2], replies[-1]
    assert preview.text.startswith("Hi ") and "member: 0 points wait for you. Member day <today>!" in preview.text
    assert preview.button_labels == [EN("coupons/buttons/show", name="Member day gift")]
    assert "All members, 4 members" in summary.text and "Coupon: Member day gift" in summary.text
    assert "When: as soon as you confirm" in summary.text
    assert "Nobody in this audience bought in the last 7 days" in summary.text, "no usual conversion to size it by"
    assert summary.button_labels == ["✅ Confirm", "✏️ Edit", "✖️ Cancel"]
    assert await campaigns(product) == []

    # 6. Confirmed: created, started, and a progress message in the staff chat.
    replies = await boss.press("✅ Confirm")
    progress_message = replies[-1]
    [campaign] = await campaigns(product)
    assert campaign.status == "sending" and campaign.created_by == f"staff:{boss.user.id}"
    assert campaign.progress_chat_id == boss.user.id and campaign.progress_message_id == progress_message.message_id
    assert "sending" in progress_message.text and "0 sent of" in progress_message.text
    assert (await product.forge(boss, "sf_rev:confirm:")).text == EN("staff/stale"), "a second confirm does nothing"
    assert len(await campaigns(product)) == 1

    await BroadcastEngine(client, product.uow_factory, product.clock, settings).drain(campaign.id)
    async with product.uow_factory() as uow:
        rows = {row.member_id: row for row in await uow.session.scalars(select(CampaignRecipient))}
    assert set(rows) == {member.id for _, member in members}
    for conv, member in members:
        got = product.sandbox.messages(conv.user.id)
        if rows[member.id].status == "held_out":
            assert got == []
        else:
            assert rows[member.id].status == "sent"
            assert len(got) == 1 and got[0].text is not None and "wait for you" in got[0].text

    watcher = CampaignProgressWatcher(bot, product.uow_factory, product.clock, settings)
    assert await watcher.refresh_once() == 1
    report = boss.chat.by_id[progress_message.message_id]
    sent = sum(row.status == "sent" for row in rows.values())
    assert report.text is not None and report.text.startswith("📊") and f"sent: {sent}" in report.text
    assert "held out:" in report.text and "skipped: 0 (0 opted out, 0 unreachable)" in report.text
    assert await watcher.refresh_once() == 0, "an unchanged report is not edited again"


async def test_ready_texts_local_times_edit_and_cancel_write_nothing(product: Product, settings: Settings) -> None:
    boss = await staff_chat(product, language="zh-hans")
    await members_in_chat(product, 2)
    [menu] = await boss.say("/broadcast")
    assert menu.button_labels[0] == "全部会员 · 2"
    await boss.press(0)
    await boss.press("🎉 会员日")
    await boss.press("不附带优惠券")
    replies = await boss.say("10:00")  # the next 10:00 in each member's own zone
    summary = replies[-1]
    assert "2026年11月25日 每位会员当地时间 10:00" in summary.text
    assert "It's member day" in replies[-2].text, "the preview is a member's message, in their language"

    # Edit one step: only that one is asked again, then the summary comes back.
    await boss.press("✏️ 修改")
    segments = (await boss.press("👥 受众"))[-1]
    assert segments.button_labels[0] == "全部会员 · 2"
    replies = await boss.press("有未使用的优惠券 · 0")
    assert "受众" in replies[-1].text and "有未使用的优惠券，共 0 名会员" in replies[-1].text

    [bye] = await boss.say("/cancel")
    assert bye.text == ZH("staff/broadcast/cancelled")
    assert await campaigns(product) == []
    [answer] = await boss.say("/cancel")
    assert answer.text == ZH("fallback/nothing_to_cancel"), "the flow is over"

    # A time in the program's zone, then the Cancel button.
    await boss.say("/broadcast")
    await boss.press(0)
    await boss.say("Hi {{ member_number }}")
    await boss.press("不附带优惠券")
    replies = await boss.say("2026-12-08 10:00")
    assert "2026年12月8日 10:00（Asia/Shanghai）" in replies[-1].text
    cancelled = (await boss.press("✖️ 取消"))[-1]
    assert cancelled.text == ZH("staff/broadcast/cancelled")
    assert await campaigns(product) == [] and await recipient_count(product) == 0


async def test_the_summary_says_how_small_a_lift_the_hold_out_could_show(product: Product) -> None:
    # 2,000 members, half of whom bought in the last 7 days: p = 0.5. Held out 10 % (the
    # default): 2.8016 x sqrt(0.25 x (1/1800 + 1/200)) / 0.5 = 0.2088, a lift under +21 % would
    # not show; 11 % gives 0.2002, 12 % 0.1928: the first share that reads +20 %.
    ids = await add_members(product.uow_factory, product.clock, 2_000)
    now = product.clock.now()
    async with product.uow_factory() as uow:
        await uow.session.execute(
            insert(Purchase),
            [{"member_id": member_id, "order_id": f"B-{member_id}", "channel": "online", "amount_minor": 3_000,
              "currency": "CNY", "purchased_at": now - timedelta(days=3), "refunded_minor": 0, "created_at": now,
              "points_earned": 0} for member_id in ids[:1_000]],
        )
        await uow.commit()
    for language, texts, expected in [
        ("en", EN, "⚠️ A 10 % hold-out only shows a lift above +21 %; holding out 12 % would show one of +20 %."),
        ("zh-hans", ZH, "⚠️ 10% 的对照组只能看出超过 +21% 的提升；对照组设为 12% 可看出 +20% 的提升。"),
    ]:
        boss = await staff_chat(product, f"Boss {language}", language=language)
        await boss.say("/broadcast")
        await boss.press(0)  # every member
        await boss.press(texts("staff/broadcast/ready_button", ready="member_day"))
        await boss.press(texts("staff/broadcast/coupon_button", coupon_name=None))
        summary = (await boss.press(texts("staff/broadcast/now_button")))[-1]
        assert expected in summary.text, summary.text
        assert "Nobody" not in summary.text and "太少" not in summary.text
        cancel = summary.button_labels[-1]
        assert (await boss.press(cancel))[-1].text == texts("staff/broadcast/cancelled")
    assert await campaigns(product) == []


async def test_editing_the_text_asks_for_it_again(product: Product) -> None:
    boss = await staff_chat(product)
    await members_in_chat(product, 1)
    await boss.say("/broadcast")
    await boss.press(0)
    await boss.say("Hello, first draft")
    await boss.press("No coupon")
    assert "Hello, first draft" in (await boss.press("🚀 Now"))[-2].text

    await boss.press("✏️ Edit")
    asked = (await boss.press("📝 Text"))[-1]
    assert "Now send the text" in asked.text, "the text is asked again, the other choices kept"
    preview, summary = (await boss.say("Hello, second draft"))[-2:]
    assert "Hello, second draft" in preview.text and "When: as soon as you confirm" in summary.text
    await boss.press("✅ Confirm")
    [campaign] = await campaigns(product)
    # Started at once; the sender may already have finished with so small an audience.
    assert campaign.texts == {"en": "Hello, second draft"} and campaign.status in ("sending", "done")


async def test_a_monthly_member_day_is_set_up_in_the_chat(product: Product, settings: Settings) -> None:
    boss = await staff_chat(product)
    await members_in_chat(product, 2)
    await boss.say("/broadcast")
    await boss.press(0)
    await boss.press("🎉 Member day")
    await boss.press("No coupon")
    summary = (await boss.say("2026-12-08 10:00 local"))[-1]
    assert "Repeats: no, only once" in summary.text, "a broadcast goes once unless told otherwise"

    await boss.press("✏️ Edit")
    asked = (await boss.press("🔁 Repeat"))[-1]
    assert "again on day 8 of every month or quarter" in asked.text
    assert asked.button_labels == ["1️⃣ Only once", "🔁 Every month, on day 8", "🔁 Every quarter, on day 8"]
    summary = (await boss.press("🔁 Every month, on day 8"))[-1]
    assert "Repeats: every month, on day 8" in summary.text

    # Moved to the 30th, which February lacks: refused with the reason, nothing written.
    await boss.press("✏️ Edit")
    await boss.press("🕙 When")
    replies = await boss.say("2026-12-30 10:00 local")
    assert "which only a day from 1 to 28 can" in one_with(replies, "not created").text
    assert await campaigns(product) == []
    asked = (await boss.press("🔁 Repeat"))[-1]
    assert asked.button_labels == ["1️⃣ Only once"] and "only on days 1–28" in asked.text
    assert (await product.forge(boss, "sf_rep:monthly")).text == EN("staff/stale"), "the 30th cannot repeat"
    assert await campaigns(product) == []

    await boss.press("1️⃣ Only once")
    await boss.press("✏️ Edit")
    await boss.press("🕙 When")
    await boss.say("2026-12-08 10:00 local")
    await boss.press("✏️ Edit")
    await boss.press("🔁 Repeat")
    summary = (await boss.press("🔁 Every quarter, on day 8"))[-1]
    assert "Repeats: every quarter, on day 8" in summary.text
    await boss.press("✅ Confirm")
    [campaign] = await campaigns(product)
    assert (campaign.recurrence, campaign.local_date, campaign.local_time) == ("quarterly", date(2026, 12, 8), "10:00")
    assert campaign.status == "scheduled"
    [listing] = await boss.say("/campaigns")
    assert f"#{campaign.id}" in listing.text and "🔁 every quarter" in listing.text


async def test_forged_staff_buttons_are_refused_in_the_flow(product: Product) -> None:
    boss = await staff_chat(product)
    await members_in_chat(product, 1)
    await boss.say("/broadcast")
    for data in ("sf_seg:tier:nosuchtier", "sf_seg:rfm:royalty", "sf_seg:all:x", "sf_seg:bogus:", "sf_txt:secret",
                 "sf_cpn:999999", "sf_cmp:cancel:999999"):
        answer = await product.forge(boss, data)
        assert (answer.text, answer.show_alert) == (EN("staff/stale"), True), data
    asked = (await boss.press("All members · 1"))[-1]
    assert "Now send the text" in asked.text
    assert (await product.forge(boss, "sf_txt:secret")).text == EN("staff/stale")
    await boss.say("Hello")
    assert (await product.forge(boss, "sf_cpn:999999")).text == EN("staff/stale")
    inactive = await make_template(product.uow_factory, product.clock, code="OFF", active=False)
    assert (await product.forge(boss, f"sf_cpn:{inactive.id}")).text == EN("staff/stale")
    assert await campaigns(product) == []


async def scheduled_campaign(
    product: Product, settings: Settings, *, by: Conversation, role: str = "owner"
) -> Campaign:
    draft = service.CampaignDraft(
        name="Member day", texts={"en": "Member day!"}, audience=Audience(),
        send_at=product.clock.now() + timedelta(days=2),
    )
    async with product.uow_factory() as uow:
        actor = service.Actor(f"staff:{by.user.id}", role)  # type: ignore[arg-type]
        campaign = await service.create_campaign(uow, product.clock, settings, draft, actor=actor)
        await uow.commit()
        return campaign


async def status_of(product: Product, campaign_id: int) -> str:
    async with product.uow_factory() as uow:
        return (await service.get_campaign(uow, campaign_id)).status


async def test_campaigns_pause_resume_cancel_with_roles_and_stale_buttons(product: Product, settings: Settings) -> None:
    owner = await staff_chat(product, "Owner")
    marketer = await staff_chat(product, "Marketer", role="marketer")
    await members_in_chat(product, 2)
    campaign = await scheduled_campaign(product, settings, by=owner)

    [listing] = await owner.say("/campaigns")
    assert f"#{campaign.id} Member day" in listing.text
    assert "scheduled · goes out Nov 26, 2026" in listing.text and "0 / 0" not in listing.text
    assert listing.button_labels == [f"⏸ #{campaign.id}", f"✖️ #{campaign.id}"]

    # A marketer may not act on the owner's campaign.
    await marketer.say("/campaigns")
    await marketer.press(f"✖️ #{campaign.id}")
    answer = marketer.last_callback_answer
    assert answer is not None and (answer.text, answer.show_alert) == (EN("staff/campaigns/not_yours"), True)
    assert await status_of(product, campaign.id) == "scheduled"

    [redrawn] = await owner.press(f"⏸ #{campaign.id}")
    assert owner.last_callback_answer is not None and owner.last_callback_answer.text == "Paused."
    assert redrawn.message_id == listing.message_id and "paused · not started, scheduled for Nov 26, 2026" in redrawn.text
    assert redrawn.button_labels == [f"▶️ #{campaign.id}", f"✖️ #{campaign.id}"]
    assert await status_of(product, campaign.id) == "paused"

    # The marketer's list still offers Pause: pressing it now says how things are, and changes nothing.
    stale = await product.forge(owner, f"sf_cmp:pause:{campaign.id}")
    assert (stale.text, stale.show_alert) == ("Nothing changed: the campaign is paused now.", True)
    assert await status_of(product, campaign.id) == "paused"

    await owner.press(f"▶️ #{campaign.id}")
    assert await status_of(product, campaign.id) == "scheduled"

    # Cancelling asks first; "Keep it" goes back to the list and changes nothing.
    [question] = await owner.press(f"✖️ #{campaign.id}")
    assert question.message_id == listing.message_id and "Cancel #" in question.text
    assert question.button_labels == ["✖️ Yes, cancel it", "↩️ Keep it"]
    assert await status_of(product, campaign.id) == "scheduled"
    [kept] = await owner.press("↩️ Keep it")
    assert kept.button_labels == [f"⏸ #{campaign.id}", f"✖️ #{campaign.id}"]
    assert await status_of(product, campaign.id) == "scheduled"
    # A confirmation forged onto the list (which offers no such button) writes nothing.
    forged = await product.forge(owner, f"sf_cmp:cancel_yes:{campaign.id}")
    assert (forged.text, forged.show_alert) == (EN("staff/stale"), True)
    assert await status_of(product, campaign.id) == "scheduled"
    # A marketer's confirmation of someone else's campaign is refused at the question already.
    await marketer.say("/campaigns")
    await marketer.press(f"✖️ #{campaign.id}")
    answer = marketer.last_callback_answer
    assert answer is not None and answer.text == EN("staff/campaigns/not_yours")

    await owner.press(f"✖️ #{campaign.id}")
    [after] = await owner.press("✖️ Yes, cancel it")
    assert await status_of(product, campaign.id) == "cancelled"
    assert after.buttons == [] and "cancelled" in after.text
    # The same confirmation again (a stale question) says how things are and writes nothing new.
    again = await product.forge(owner, f"sf_cmp:cancel_yes:{campaign.id}")
    assert again.show_alert

    # A marketer's own campaign is theirs to change.
    own = await scheduled_campaign(product, settings, by=marketer, role="marketer")
    await marketer.say("/campaigns")
    await marketer.press(f"⏸ #{own.id}")
    assert await status_of(product, own.id) == "paused"


async def test_members_never_see_or_use_staff_commands(product: Product, settings: Settings) -> None:
    owner = await staff_chat(product, "Owner")
    [(member_conv, _)] = await members_in_chat(product, 1)
    _, guest = product.member("Guest")
    campaign = await scheduled_campaign(product, settings, by=owner)

    default_menu = commands_of(product, {"type": "default"})
    assert "broadcast" not in default_menu and "campaigns" not in default_menu
    assert "broadcast" not in commands_of(product, {"type": "default"}, "zh")
    for command in ("/broadcast", "/campaigns"):
        [answer] = await member_conv.say(command)
        assert answer.text == EN("fallback/member")
        [answer] = await guest.say(command)
        assert answer.text == EN("fallback/guest")

    for data in (f"sf_cmp:cancel:{campaign.id}", f"sf_cmp:pause:{campaign.id}", "sf_seg:all:", "sf_rev:confirm:"):
        refusal = await product.forge(member_conv, data)
        assert (refusal.text, refusal.show_alert) == (EN("staff/refused"), True)
    assert await status_of(product, campaign.id) == "scheduled"
    assert len(await campaigns(product)) == 1

    # Taking access away works at the next tap.
    await owner.say("/campaigns")
    async with product.uow_factory() as uow:
        await staff.add(uow, product.clock, telegram_id=owner.user.id + 1000, role="owner", name="Next owner")
        await staff.remove(uow, product.clock, owner.user.id)  # not the last owner: that one stays
    refusal = await product.forge(owner, f"sf_cmp:cancel:{campaign.id}")
    assert (refusal.text, refusal.show_alert) == (EN("staff/refused"), True)
    [answer] = await owner.say("/broadcast")
    assert answer.text == EN("fallback/guest")
    assert await status_of(product, campaign.id) == "scheduled"


def test_segments_become_audiences() -> None:
    from bot.callbacks import SegmentKind

    assert Segment(SegmentKind.all).audience() == Audience()
    assert Segment(SegmentKind.tier, "gold").audience() == Audience(tiers=["gold"])
    assert Segment(SegmentKind.rfm, "at_risk").audience() == Audience(rfm=["at_risk"])
    assert Segment(SegmentKind.birthday, month=11).audience() == Audience(birthday_month=11)
    assert Segment(SegmentKind.coupon).audience() == Audience(has_unused_coupon=True)


async def test_a_broadcast_greets_members_by_the_first_name_they_write_under(
    product: Product, client: BroadcastClient, settings: Settings
) -> None:
    owner = await staff_chat(product, "Owner")
    named_user, named = product.member("<b>Al</b> & Co")
    named_member = await chat_member(product.uow_factory, product.clock, telegram_id=named_user.id)
    _, silent = product.member("Silent")
    await chat_member(product.uow_factory, product.clock, telegram_id=silent.user.id)
    _, chinese = product.member("Silent too", language="zh")
    await chat_member(product.uow_factory, product.clock, telegram_id=chinese.user.id, locale="zh_CN")

    async def stored_name() -> tuple[str | None, str | None]:
        async with product.uow_factory() as uow:
            member = await uow.members.by_id(named_member.id)
            assert member is not None
            return uow.members.first_name_of(member), member.first_name_encrypted

    assert await stored_name() == (None, None), "signed up without a name here: none is made up"
    await named.say("/help")  # writing to the bot keeps the name they write under, encrypted
    name, token = await stored_name()
    assert name == "<b>Al</b> & Co" and token is not None and "Al" not in token

    # The staff member's preview fills it in from a member of the audience.
    await owner.say("/broadcast")
    await owner.press("All members · 3")
    await owner.say("Hi {{ name }}, {{ points }} points wait for you")
    await owner.press("No coupon")
    preview = (await owner.press("🚀 Now"))[-2]
    assert preview.text == "Hi <b>Al</b> & Co, 0 points wait for you" and not preview.entities
    await owner.say("/cancel")

    async with product.uow_factory() as uow:
        campaign = await service.create_campaign(
            uow, product.clock, settings,
            service.CampaignDraft(
                name="Hello", texts={"en": "Hi {{ name }}, {{ points }} points wait for you", "zh_CN": "{{ name }}，您好"},
                audience=Audience(), holdout_pct=0,
            ),
            actor=service.Actor(f"staff:{owner.user.id}", "owner"),
        )
        await uow.commit()
    async with product.uow_factory() as uow:
        await service.start(uow, product.clock, settings, campaign.id)
    await BroadcastEngine(client, product.uow_factory, product.clock, settings).drain(campaign.id)

    [greeting] = product.sandbox.messages(named.user.id)[-1:]
    assert greeting.text == "Hi <b>Al</b> & Co, 0 points wait for you", "a name is text: shown as written, never markup"
    assert not greeting.entities
    [unknown] = product.sandbox.messages(silent.user.id)
    assert unknown.text == "Hi friend, 0 points wait for you"
    [unknown_zh] = product.sandbox.messages(chinese.user.id)
    assert unknown_zh.text == "朋友，您好"

    # A new name on Telegram is kept the next time they write.
    named_user.first_name = "Alexandra"
    await named.say("/help")
    assert (await stored_name())[0] == "Alexandra"
