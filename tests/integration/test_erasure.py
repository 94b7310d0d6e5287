"""Erasure (loyalty/erasure.py) on a real database: after a member's realistic life, nothing
personal is left in any table or column, the merchant's accounts still add up, nothing is owed or
sent to them again, a repeat changes nothing, and the same phone and chat can join again."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import ForeignKey, func, select

from db.models import (
    AuditEvent,
    Base,
    Campaign,
    CampaignRecipient,
    Coupon,
    IdempotencyRecord,
    LedgerEntry,
    Member,
    MemberMute,
    MemberTag,
    Notification,
    Purchase,
    Refund,
    RewardRedemption,
    Staff,
)
from db.repositories.personal_data import MEMBER_TABLES, UNLINKED_TABLES
from db.uow import UnitOfWorkFactory
from loyalty import ledger, staff
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.erasure import Erasure, erase_member, losses
from loyalty.errors import MemberErased
from loyalty.idempotency import IdempotencyKey
from loyalty.members import find_member, member_for_chat
from loyalty.nudges.sweeps import run_sweeps
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase
from tests.conftest import START
from tests.utils.campaigns import draft
from tests.utils.members import till_member
from tests.utils.privacy import ALEX, lived, sign_up, traces
from tests.utils.rewards import give_points


async def erase(uow_factory: UnitOfWorkFactory, clock: FixedClock, member: Member) -> Erasure:
    """As the member does it in the chat."""
    async with uow_factory() as uow:
        outcome, _ = await erase_member(uow, clock, member.id, actor="chat", audited=False)
    return outcome


async def rows(uow_factory: UnitOfWorkFactory, model: type[Base], **where: object) -> list[object]:
    async with uow_factory() as uow:
        statement = select(model).filter_by(**where)
        return list(await uow.session.scalars(statement))


async def test_an_erased_member_leaves_no_personal_data_in_any_table_or_column(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the program's logs at their default level
    member = await lived(uow_factory, clock, settings)
    scan = await traces(uow_factory, ALEX.texts, [ALEX.telegram_id], decrypted=True)
    before = {(trace.table, trace.column) for trace in scan}
    # The scan finds what a life leaves (so it would find it after, too): the chat, city, the
    # sign-up payload naming them, an adjustment's reason and its audit detail, and what is kept
    # encrypted: the phone, the birthday, the first name a broadcast greets them by.
    assert {
        ("members", "telegram_id"), ("members", "city"), ("members", "start_payload"),
        ("ledger_entries", "reason"), ("audit_events", "detail"),
        ("members", "phone_encrypted"), ("members", "birthday_encrypted"), ("members", "first_name_encrypted"),
    } <= before

    await erase(uow_factory, clock, member)

    found = await traces(uow_factory, ALEX.texts, [ALEX.telegram_id], decrypted=True)
    assert found == [], "\n".join(map(str, found))
    assert f"member {member.member_number} erased by chat" in caplog.text
    logged = [needle for needle in [*ALEX.texts, str(ALEX.telegram_id)] if needle.casefold() in caplog.text.casefold()]
    assert logged == [], "the program's own logs never held them either"


async def test_erasure_keeps_the_accounts_and_forfeits_what_was_left(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await lived(uow_factory, clock, settings)
    async with uow_factory() as uow:
        loaded = await uow.lock_member(member.id)
        lost = await losses(uow, settings, loaded, now=clock.now())
        balance = loaded.points_balance
    assert balance > 0 and lost.points == balance and lost.coupons == 2 and lost.reward_codes == 1  # welcome + near
    purchases, refunds = await rows(uow_factory, Purchase), await rows(uow_factory, Refund)
    entries = await rows(uow_factory, LedgerEntry, member_id=member.id)

    assert await rows(uow_factory, Notification, member_id=member.id), "receipts and nudges were written"
    outcome = await erase(uow_factory, clock, member)

    assert (outcome.points_forfeited, outcome.coupons_voided, outcome.reward_codes_cancelled) == (balance, 2, 1)
    async with uow_factory() as uow:
        erased = await uow.session.get(Member, member.id)
        assert erased is not None and erased.erased_at == clock.now() and erased.points_balance == 0
        assert (await uow.program.entry_tier()).id == erased.tier_id
        await ledger.check_consistency(uow, member.id)  # the caches still agree with the ledger
    after = await rows(uow_factory, LedgerEntry, member_id=member.id)
    assert [(e.kind, e.points, e.balance_after, e.actor) for e in after[len(entries):]] == [  # type: ignore[attr-defined]
        ("forfeit", -balance, 0, "chat")
    ]
    assert len(await rows(uow_factory, Purchase)) == len(purchases)
    assert len(await rows(uow_factory, Refund)) == len(refunds)
    coupons = Counter(c.status for c in await rows(uow_factory, Coupon, member_id=member.id))  # type: ignore[attr-defined]
    assert coupons == Counter({"void": 2, "used": 1}), "the used coupon stays used: its discount is in the accounts"
    assert [r.status for r in await rows(uow_factory, RewardRedemption, member_id=member.id)] == ["cancelled"]  # type: ignore[attr-defined]
    assert await rows(uow_factory, Notification, member_id=member.id) == []
    [chosen] = await rows(uow_factory, CampaignRecipient, member_id=member.id)
    assert chosen.status == "cancelled"  # type: ignore[attr-defined]
    assert await rows(uow_factory, MemberTag, member_id=member.id) == []
    assert await rows(uow_factory, MemberMute, member_id=member.id) == []
    events = await rows(uow_factory, AuditEvent, member_id=member.id)
    assert events and all(e.detail is None for e in events), "the audit rows stay, their details go"  # type: ignore[attr-defined]
    # The answers to requests about them go: a purchase found by phone keeps a hash of that body.
    kept = await rows(uow_factory, IdempotencyRecord)
    assert [(r.scope, r.member_id) for r in kept if r.scope != "apikey:1:campaigns"] == [  # type: ignore[attr-defined]
        ("erasure", None)
    ]


async def test_erasing_again_answers_the_same_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)
    await give_points(uow_factory, clock, member, 300)
    first = await erase(uow_factory, clock, member)
    entries = await rows(uow_factory, LedgerEntry, member_id=member.id)
    events = await rows(uow_factory, AuditEvent)
    clock.advance(timedelta(hours=5))
    async with uow_factory() as uow:
        again, replayed = await erase_member(uow, clock, member.id, actor="apikey:admin", audited=True)
    assert replayed and again == first and first.points_forfeited == 300
    assert len(await rows(uow_factory, LedgerEntry, member_id=member.id)) == len(entries), "no second forfeit"
    assert len(await rows(uow_factory, AuditEvent)) == len(events)


async def test_two_erasures_at_once_forfeit_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)
    await give_points(uow_factory, clock, member, 300)

    async def one() -> tuple[Erasure, bool]:
        async with uow_factory() as uow:
            return await erase_member(uow, clock, member.id, actor="apikey:admin", audited=True)

    results = await asyncio.gather(*(one() for _ in range(5)))
    assert len({outcome for outcome, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True, True, True]
    forfeits = [e for e in await rows(uow_factory, LedgerEntry, member_id=member.id) if e.kind == "forfeit"]  # type: ignore[attr-defined]
    assert [e.points for e in forfeits] == [-300]  # type: ignore[attr-defined]
    assert [e.action for e in await rows(uow_factory, AuditEvent, member_id=member.id)].count("member.erase") == 1  # type: ignore[attr-defined]


async def test_purchases_racing_an_erasure_are_either_forfeited_or_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)

    async def buy(n: int) -> str:
        try:
            async with uow_factory() as uow:
                await record_purchase(
                    uow, clock, settings,
                    PurchaseRequest(
                        MemberRef(member_number=member.member_number), f"RACE-{n}", "online", 10_000, "CNY"
                    ),
                    actor="apikey:till", idempotency=IdempotencyKey("apikey:1", f"RACE-{n}", str(n)),
                )
            return "bought"
        except MemberErased:
            return "refused"

    async def erase_now() -> str:
        await erase(uow_factory, clock, member)
        return "erased"

    outcomes = await asyncio.gather(*(buy(n) for n in range(10)), erase_now(), *(buy(n) for n in range(10, 20)))
    assert "erased" in outcomes
    async with uow_factory() as uow:
        await ledger.check_consistency(uow, member.id)
        erased = await uow.session.get(Member, member.id)
        assert erased is not None and erased.points_balance == 0
        bought = await uow.session.scalar(
            select(func.count()).select_from(Purchase).where(Purchase.member_id == member.id)
        )
    entries = await rows(uow_factory, LedgerEntry, member_id=member.id)
    assert bought == outcomes.count("bought")
    assert [e.kind for e in entries][-1] == "forfeit" or outcomes.count("bought") == 0  # type: ignore[attr-defined]
    assert all(e.at <= clock.now() for e in entries)  # type: ignore[attr-defined]


async def test_nothing_is_owed_to_an_erased_member_and_no_audience_counts_them(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)  # born today: the birthday sweep greets them
    await erase(uow_factory, clock, member)
    await run_sweeps(uow_factory, clock, settings)
    assert await rows(uow_factory, Notification, member_id=member.id) == []
    async with uow_factory() as uow:
        assert await member_for_chat(uow, ALEX.telegram_id) is None, "the same Telegram user is a guest now"
        size = await service.audience_size(uow, Audience(), now=clock.now(), zone=settings.zone)
        assert (size.total, size.unreachable) == (0, 0), "not even counted as unreachable"
        owner = service.Actor("apikey:1", "owner")
        campaign = await service.create_campaign(uow, clock, settings, draft(), actor=owner)
        await uow.commit()
    async with uow_factory() as uow:
        await service.start(uow, clock, settings, campaign.id)
    assert await rows(uow_factory, CampaignRecipient, campaign_id=campaign.id) == []


async def test_the_same_phone_and_chat_join_again_as_a_new_member(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    old = await sign_up(uow_factory, clock, settings)
    await erase(uow_factory, clock, old)
    clock.advance(timedelta(days=1))
    new = await sign_up(uow_factory, clock, settings)
    assert new.id != old.id and new.member_number != old.member_number
    async with uow_factory() as uow:
        assert (await find_member(uow, phone_e164=ALEX.phone)).id == new.id
        assert (await find_member(uow, telegram_id=ALEX.telegram_id)).id == new.id
        with pytest.raises(MemberErased):
            await find_member(uow, member_number=old.member_number)
        assert (await find_member(uow, member_number=old.member_number, include_erased=True)).erased_at is not None


async def test_a_staff_member_who_erases_their_membership_keeps_no_staff_role_or_trace(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=ALEX.telegram_id, role="marketer", name=ALEX.first_name)
    async with uow_factory() as uow:
        campaign = await service.create_campaign(uow, clock, settings, draft(), actor=service.Actor("cli", "owner"))
        campaign.progress_chat_id, campaign.progress_message_id = ALEX.telegram_id, 42
        await uow.commit()

    await erase(uow_factory, clock, member)

    assert await rows(uow_factory, Staff) == []
    [kept] = await rows(uow_factory, Campaign)
    assert (kept.progress_chat_id, kept.progress_message_id) == (None, None)  # type: ignore[attr-defined]
    found = await traces(uow_factory, ALEX.texts, [ALEX.telegram_id])
    assert found == [], "\n".join(map(str, found))


async def test_a_birthday_is_kept_as_month_and_day_with_the_date_only_encrypted(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    member = await sign_up(uow_factory, clock, settings)
    async with uow_factory() as uow:
        stored = await uow.session.get(Member, member.id)
        assert stored is not None
        assert (stored.birthday_month, stored.birthday_day) == (11, 24)
        assert stored.birthday_encrypted and "1990" not in stored.birthday_encrypted
        assert uow.members.birthday_of(stored) == ALEX.birthday
    birthday = [t for t in await traces(uow_factory, ALEX.texts) if t.found in {"1990-11-24", "19901124", "24.11.1990"}]
    assert birthday == [], "the full date is nowhere in plain"


def test_every_table_that_points_to_members_is_exported_and_erased() -> None:
    """A new table with rows per member must say what erasure does with them."""
    members = Base.metadata.tables["members"]
    pointing = {
        table.name
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if isinstance(key, ForeignKey) and key.column.table is members
    }
    assert pointing | {"members"} == set(MEMBER_TABLES)
    assert set(UNLINKED_TABLES) <= set(Base.metadata.tables)


async def test_erased_at_is_refused_on_a_row_that_still_holds_personal_data(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    """The database keeps the promise too: an erased row with a phone, a chat or points left
    breaks ck_members_erased_row_empty."""
    member = await sign_up(uow_factory, clock, settings)
    async with uow_factory() as uow:
        stored = await uow.lock_member(member.id)
        stored.erased_at = clock.now()
        with pytest.raises(Exception, match=r"(?i)check|constraint"):
            await uow.commit()


# --- the forfeit, for any history -------------------------------------------------------------------

lots = st.lists(
    st.tuples(st.integers(min_value=1, max_value=500), st.integers(min_value=-60, max_value=400)),  # points, days left
    max_size=8,
)


@hypothesis.settings(
    max_examples=25,
    deadline=None,
    # One database for all examples: each makes its own member.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(earned=lots, spent=st.integers(min_value=0, max_value=1_000))
async def test_erasure_forfeits_exactly_the_points_still_usable_and_leaves_the_ledger_consistent(
    uow_factory: UnitOfWorkFactory, earned: list[tuple[int, int]], spent: int
) -> None:
    """Lots that expired by the erasure expire as usual; what is still usable is forfeited, once;
    afterwards the balance is 0 and the ledger's caches agree with its rows."""
    clock = FixedClock(START)
    member = await till_member(uow_factory, clock)
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        for points, days in earned:  # earned a year ago, expiring `days` after START
            await ledger.credit(
                uow, locked, points=points, kind="earn", at=START - timedelta(days=365),
                expires_at=START + timedelta(days=days), actor="test",
            )
        taken = min(spent, sum(points for points, days in earned))
        if taken:  # spent back then, soonest-expiring first
            await ledger.debit(uow, locked, points=taken, kind="redeem", at=START - timedelta(days=365), actor="test")
        usable = await ledger.available(uow, member.id, at=START)
        await uow.commit()

    outcome = await erase(uow_factory, clock, member)
    again = await erase(uow_factory, clock, member)

    assert outcome.points_forfeited == usable and again == outcome
    async with uow_factory() as uow:
        await ledger.check_consistency(uow, member.id)
        erased = await uow.session.get(Member, member.id)
        assert erased is not None and erased.points_balance == 0
        forfeits = [e.points for e in await uow.personal_data.ledger(member.id) if e.kind == "forfeit"]
    assert forfeits == ([-usable] if usable else [])
