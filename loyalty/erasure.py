"""Erasure: a member's personal data removed for good, at their request in the chat or on the
merchant's through the API. Withdrawing consent to the privacy terms is the same thing: nothing
may be kept that needed it.

One rule for every front end. Under the member's lock, in one transaction:
- what is left of their points is forfeited with a ledger entry (`forfeit`), their unused
  coupons are voided and their unused reward codes cancelled;
- every copy of personal data goes (`PersonalDataRepository.erase_rows`): the messages written
  to them, unsent ones with the rest; their tags and muted topics; free text about them in the
  ledger and the audit trail (set to NULL: those rows stay); the answers kept to repeat requests
  about them; a staff role of their Telegram account. Unsent campaign rows are cancelled;
- their own row keeps only what the merchant's accounts need (number, dates, language, how they
  enrolled, the consent they gave): no phone or its index, so the number can join again as a
  new member; no chat, so nothing is ever sent there again and the same Telegram user who comes
  back starts as a guest; no first name, birthday, city, time zone or sign-up payload. The
  database refuses an erased row with any of them (`ck_members_erased_row_empty`).

Ledger, purchases, refunds and used coupons stay, linked to the anonymous row: the merchant's
books must still add up. An erasure is answered once and remembered (an idempotency record with
nothing personal in it), so repeating it gives the same answer and forfeits nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from db.models import LedgerKind, Member, RedemptionStatus, Tier
from db.uow import UnitOfWork
from loyalty import coupons, ledger
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.members import find_member
from loyalty.quiet_hours import member_zone

log = logging.getLogger(__name__)

FORFEIT_REASON = "membership erased"


@dataclass(frozen=True)
class Erasure:
    member_number: str
    erased_at: datetime
    points_forfeited: int
    coupons_voided: int
    reward_codes_cancelled: int


@dataclass(frozen=True)
class Losses:
    """What erasing the membership takes away, said plainly before it is confirmed."""

    points: int
    coupons: int
    reward_codes: int
    tier: Tier


async def losses(uow: UnitOfWork, settings: Settings, member: Member, *, now: datetime) -> Losses:
    usable = await coupons.usable_coupons(uow, member, now=now, zone=member_zone(member, settings))
    tier = next(tier for tier in await uow.program.tiers() if tier.id == member.tier_id)
    redemptions = await uow.personal_data.redemptions(member.id)
    codes = [code for code, _ in redemptions if code.status == RedemptionStatus.ISSUED]
    return Losses(await ledger.available(uow, member.id, at=now), len(usable), len(codes), tier)


async def erase_member(
    uow: UnitOfWork, clock: Clock, member_id: int, *, actor: str, audited: bool
) -> tuple[Erasure, bool]:
    """Erase the member's personal data (see the module). Returns the outcome and whether it
    is a repeat of an earlier erasure (then nothing was written). `audited`: staff and API
    erasures are written to the audit trail under `actor`; the member's own is not (the trail
    holds staff and API actions), its forfeit entry and `erased_at` record it. Commits."""
    now = clock.now()
    member = await uow.lock_member(member_id)
    key = IdempotencyKey(scope="erasure", key=str(member.id), fingerprint="erase")
    replay = await previous_answer(uow, key)
    if replay is not None:
        return _outcome(replay), True

    forfeited = await _forfeit(uow, member, now=now, actor=actor)
    erased = await uow.personal_data.erase_rows(member.id, member.telegram_id)
    uow.members.forget_personal_fields(member)
    entry = await uow.program.entry_tier()
    if member.tier_id != entry.id:
        member.tier_id, member.tier_since = entry.id, now
    member.erased_at = member.updated_at = now
    outcome = Erasure(member.member_number, now, forfeited, erased.coupons_voided, erased.codes_cancelled)
    if audited:
        uow.audit.record(
            at=now, actor=actor, action="member.erase", member_id=member.id,
            detail=f"{forfeited} points forfeited, {erased.coupons_voided} coupons voided",
        )
    # Not linked to the member: this answer must outlive their erasure, and names nothing of theirs.
    remember(uow, key, StoredAnswer(Outcome.done, _body(outcome)), at=now, member_id=None)
    await uow.commit()
    log.info("member %s erased by %s (%d points forfeited)", member.member_number, actor, forfeited)
    return outcome, False


async def erase_for_merchant(uow: UnitOfWork, clock: Clock, member_number: str, *, actor: str) -> tuple[Erasure, bool]:
    """The merchant erases a member on their request (the API): audited under `actor`."""
    member = await find_member(uow, member_number=member_number, include_erased=True)
    return await erase_member(uow, clock, member.id, actor=actor, audited=True)


async def _forfeit(uow: UnitOfWork, member: Member, *, now: datetime, actor: str) -> int:
    """Points that expired by now expire as usual; the rest is forfeited."""
    await ledger.expire_member(uow, member, at=now)
    if member.points_balance == 0:
        return 0
    result = await ledger.debit(
        uow, member, points=member.points_balance, kind=LedgerKind.FORFEIT, at=now, actor=actor, reason=FORFEIT_REASON
    )
    return result.debited


def _body(outcome: Erasure) -> dict[str, object]:
    return asdict(outcome) | {"erased_at": outcome.erased_at.isoformat()}


def _outcome(answer: StoredAnswer) -> Erasure:
    body = answer.body
    return Erasure(
        member_number=body["member_number"],
        erased_at=datetime.fromisoformat(body["erased_at"]),
        points_forfeited=body["points_forfeited"],
        coupons_voided=body["coupons_voided"],
        reward_codes_cancelled=body["reward_codes_cancelled"],
    )
