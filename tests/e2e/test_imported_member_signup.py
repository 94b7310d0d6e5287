"""A member moved from an old program has a phone but no chat: when they send /start and share
that phone, the chat joins the imported membership, balance and tier included."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Member
from loyalty.config import Settings
from loyalty.member_import import import_members
from tests.e2e.conftest import Product
from tests.utils.members import next_phone


async def test_an_imported_member_who_starts_the_bot_gets_their_own_card(product: Product, settings: Settings) -> None:
    phone = next_phone()
    data = f"external_id,phone,name,opening_points,tier\nA-9,{phone},Mei,1500,gold\n".encode()
    async with product.uow_factory() as uow:
        report = await import_members(uow, product.clock, settings, data, actor="cli")
    [number] = report.member_numbers

    user, conv = product.member("Mei")
    await conv.say("/start")
    await conv.press(0)  # agree
    replies = await conv.share_contact(phone.removeprefix("+"))  # Telegram sends no '+'
    assert any(number in (message.text or "") for message in replies)
    async with product.uow_factory() as uow:
        [member] = (await uow.session.scalars(select(Member))).all()
        tiers = {tier.id: tier.code for tier in await uow.program.tiers()}
    assert (member.member_number, member.telegram_id, tiers[member.tier_id]) == (number, user.id, "gold")
    assert member.points_balance >= 1500, "the opening balance stays (a sign-up bonus may add to it)"
    assert member.consent_version != "import", "the chat's consent replaces the import's placeholder"
