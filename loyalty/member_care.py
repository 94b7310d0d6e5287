"""Caring for one member, as an owner does in the console: finding them, their file (profile,
points with the reason of every movement, coupons, rewards, messages, opt-outs) and the staff
actions on them that are not rules of their own (those live in points, coupons, blocking,
data_export and erasure).

Search takes a phone number or a member number. Not a first name: names are stored encrypted
with a fresh nonce each (no index can match them), so finding one would mean decrypting every
member's name on each search; a till or the member can always give a phone or a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.models import Member, Notification, NotificationKind, NotificationStatus
from db.repositories.ledger import HistoryLine
from db.uow import UnitOfWork
from loyalty import points
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.data_export import MemberExport, export_member
from loyalty.erasure import Erasure, erase_for_merchant
from loyalty.errors import ConfirmationMismatch, InvalidInput, InvalidPhone, MemberErased, MemberNotFound, NoChat
from loyalty.members import find_member, is_valid_member_number, look_up_member, read_member
from loyalty.profile import mask_phone, normalize_phone

HISTORY_LINES = 100
QUERY_MAX = 40


def _digits(raw: str) -> str:
    return "".join(character for character in raw if not character.isspace() and character != "-")


async def search(uow: UnitOfWork, clock: Clock, settings: Settings, raw: str, *, actor: str) -> list[Member]:
    """The members a typed phone number or member number finds (at most one today; a list so
    a later key, such as a name, can find several). The lookup is audited as a read; a text
    that is neither is InvalidInput, and nothing is read."""
    text = raw.strip()
    if not text or len(text) > QUERY_MAX:
        raise InvalidInput("type a phone number or a member number", field="q")
    compact = _digits(text)
    if is_valid_member_number(compact):
        try:
            return [await read_member(uow, clock, compact, actor=actor)]
        except (MemberNotFound, MemberErased):
            return []
    try:
        phone = normalize_phone(text, settings.phone_region)
    except InvalidPhone:
        raise InvalidInput("this is neither a phone number nor a member number", field="q") from None
    found = await look_up_member(uow, clock, actor=actor, phone_e164=phone)
    return [found] if found is not None else []


@dataclass(frozen=True)
class MemberFile:
    member: Member
    masked_phone: str | None
    summary: points.PointsSummary
    history: list[HistoryLine]  # newest first
    export: MemberExport  # coupons, reward codes, messages, campaign deliveries, opt-outs

    @property
    def blocked(self) -> bool:
        return self.member.blocked_at is not None


async def member_file(uow: UnitOfWork, clock: Clock, settings: Settings, member_number: str, *, actor: str) -> MemberFile:
    """Everything an owner sees on a member's page; the read is audited under `actor`."""
    member = await read_member(uow, clock, member_number, actor=actor)
    now = clock.now()
    phone = uow.members.phone_of(member)
    return MemberFile(
        member=member,
        masked_phone=mask_phone(phone) if phone else None,
        summary=await points.points_summary(uow, member, now=now, settings=settings),
        history=await uow.ledger.history(member.id, limit=HISTORY_LINES),
        export=await export_member(uow, settings, member, now=now),
    )


async def resend_card(uow: UnitOfWork, clock: Clock, member_number: str, *, actor: str) -> None:
    """Queue the member card for the bot to send again (a member who lost it, or a new phone);
    audited. A member without a chat cannot be sent anything: NoChat, nothing written. Commits."""
    now = clock.now()
    member = await find_member(uow, member_number=member_number)
    if member.telegram_id is None or member.chat_blocked_at is not None:
        raise NoChat("the member has no chat the bot can write to", field="card")
    uow.notifications.add(
        Notification(
            member_id=member.id, kind=NotificationKind.CARD, payload={}, status=NotificationStatus.PENDING, created_at=now
        )
    )
    uow.audit.record(at=now, actor=actor, action="member.card_resent", member_id=member.id)
    await uow.commit()


async def erase_confirmed(
    uow: UnitOfWork, clock: Clock, member_number: str, *, typed: str, actor: str
) -> tuple[Erasure, bool]:
    """Erase the member once the person asking typed their member number again: erasure cannot
    be undone, so a slip of the mouse must not be enough. A mismatch writes nothing."""
    if _digits(typed) != member_number:
        raise ConfirmationMismatch("type the member's number to confirm", field="confirmation")
    return await erase_for_merchant(uow, clock, member_number, actor=actor)
