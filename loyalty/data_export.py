"""A member's export: everything the program stores about them, as they may ask for it at any
time (the chat sends it as a readable file in their language and as JSON; the API answers it).

The export is built from `PersonalDataRepository`, the same place erasure works from, so what
can be erased is what is shown. Names are in the member's language and times in their time zone
(the program's when they never shared a location); amounts are integer minor units with the
currency, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.i18n import localized
from loyalty.members import find_member
from loyalty.quiet_hours import member_zone


class ExportedProfile(BaseModel):
    member_number: str
    phone: str | None = Field(description="In full, E.164: this is the member's own data.")
    telegram_id: int | None
    first_name: str | None = Field(
        default=None, description="The first name their Telegram account showed when they last wrote; a greeting's."
    )
    birthday: date | None
    city: str | None
    language: str
    time_zone: str | None = Field(description="Where they were last seen (a shared location); None: never shared.")
    enrolled_via: str = Field(description="`chat` or `till`.")
    joined_at: datetime
    campaign: str | None = Field(description="The /start payload or campaign tag they joined with.")
    consent_version: str
    consented_at: datetime
    tier: str
    tier_name: str
    tier_since: datetime
    tier_at_risk_since: datetime | None
    points_balance: int
    chat_blocked_at: datetime | None
    tags: list[str]
    muted_topics: list[str]
    staff_role: str | None


class ExportedLedgerEntry(BaseModel):
    at: datetime
    kind: str
    points: int
    balance_after: int
    reason: str | None
    by: str = Field(description="Who made the change: `chat`, `apikey:<name>`, `expiry`, ...")


class ExportedPurchaseLine(BaseModel):
    sku: str
    category: str | None
    quantity: int
    amount_minor: int


class ExportedRefund(BaseModel):
    refund_id: str
    amount_minor: int
    points_clawed_back: int
    refunded_at: datetime


class ExportedPurchase(BaseModel):
    order_id: str
    channel: str
    store: str | None
    purchased_at: datetime
    amount_minor: int
    currency: str
    points_earned: int
    refunded_minor: int
    lines: list[ExportedPurchaseLine]
    refunds: list[ExportedRefund]


class ExportedCoupon(BaseModel):
    code: str
    name: str
    status: str
    source: str
    issued_at: datetime
    valid_from: date
    valid_until: date
    used_at: datetime | None
    discount_minor: int | None
    bonus_points: int | None


class ExportedRewardCode(BaseModel):
    code: str
    reward: str
    points: int
    status: str
    issued_at: datetime
    used_at: datetime | None


class ExportedMessage(BaseModel):
    kind: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    content: dict[str, Any] = Field(description="What the message was built from.")


class ExportedCampaignMessage(BaseModel):
    campaign: str
    status: str
    sent_at: datetime | None


class ExportedAuditEvent(BaseModel):
    at: datetime
    by: str
    action: str
    detail: str | None


class ExportedTierMove(BaseModel):
    at: datetime
    from_tier: str = Field(description="The tier's code, or `rank-<n>` for a rank no tier has any more.")
    to_tier: str


class ExportedReferral(BaseModel):
    role: str = Field(description="`referrer`: a friend joined by their link; `friend`: they joined by someone's link.")
    status: str
    joined_at: datetime
    qualified_at: datetime | None
    reward_points: int


class ExportedFeedback(BaseModel):
    at: datetime
    kind: str = Field(description="`survey` (their answer after a visit), `message` (theirs, /feedback) or `reply` (the staff's).")
    score: int | None = Field(description="A survey's score, 0-10; null if not answered.")
    text: str | None


class MemberExport(BaseModel):
    """Everything stored about one member."""

    exported_at: datetime
    program: str
    currency: str
    profile: ExportedProfile
    points: list[ExportedLedgerEntry] = Field(description="Every change of points, oldest first.")
    purchases: list[ExportedPurchase]
    coupons: list[ExportedCoupon]
    reward_codes: list[ExportedRewardCode]
    messages: list[ExportedMessage] = Field(description="Messages the program wrote to them (receipts, nudges).")
    campaigns: list[ExportedCampaignMessage] = Field(description="Broadcasts they were chosen for.")
    audit: list[ExportedAuditEvent] = Field(description="What staff and API keys did to their membership.")
    tier_moves: list[ExportedTierMove] = Field(default_factory=list, description="Their moves between tiers, oldest first.")
    referrals: list[ExportedReferral] = Field(
        default_factory=list, description="Friends they invited and who invited them, oldest first; the other member unnamed."
    )
    feedback: list[ExportedFeedback] = Field(
        default_factory=list, description="Their survey answers and feedback messages with the replies, oldest first."
    )


async def export_member(uow: UnitOfWork, settings: Settings, member: Member, *, now: datetime) -> MemberExport:
    """Reads only; the caller ends the transaction."""
    zone = member_zone(member, settings)
    locale = member.locale
    data = uow.personal_data
    tiers = await uow.program.tiers()
    tier = next(tier for tier in tiers if tier.id == member.tier_id)
    codes = {tier.rank: tier.code for tier in tiers}

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone) if moment is not None else None

    def at(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    profile = ExportedProfile(
        member_number=member.member_number,
        phone=uow.members.phone_of(member),
        telegram_id=member.telegram_id,
        first_name=uow.members.first_name_of(member),
        birthday=uow.members.birthday_of(member),
        city=member.city,
        language=locale,
        time_zone=member.timezone,
        enrolled_via=member.enrolled_via,
        joined_at=at(member.created_at),
        campaign=member.start_payload,
        consent_version=member.consent_version,
        consented_at=at(member.consented_at),
        tier=tier.code,
        tier_name=localized(tier.names, locale),
        tier_since=at(member.tier_since),
        tier_at_risk_since=local(member.tier_at_risk_since),
        points_balance=member.points_balance,
        chat_blocked_at=local(member.chat_blocked_at),
        tags=await uow.members.tags_of(member.id),
        muted_topics=await data.muted_topics(member.id),
        staff_role=await data.staff_role(member.telegram_id),
    )
    return MemberExport(
        exported_at=at(now),
        program=settings.program_name,
        currency=settings.currency,
        profile=profile,
        points=[
            ExportedLedgerEntry(
                at=at(entry.at), kind=entry.kind, points=entry.points, balance_after=entry.balance_after,
                reason=entry.reason, by=entry.actor,
            )
            for entry in await data.ledger(member.id)
        ],
        purchases=[
            ExportedPurchase(
                order_id=record.purchase.order_id,
                channel=record.purchase.channel,
                store=record.store.name if record.store else None,
                purchased_at=at(record.purchase.purchased_at),
                amount_minor=record.purchase.amount_minor,
                currency=record.purchase.currency,
                points_earned=record.purchase.points_earned,
                refunded_minor=record.purchase.refunded_minor,
                lines=[
                    ExportedPurchaseLine(
                        sku=line.sku, category=line.category, quantity=line.quantity, amount_minor=line.amount_minor
                    )
                    for line in record.lines
                ],
                refunds=[
                    ExportedRefund(
                        refund_id=refund.refund_id, amount_minor=refund.amount_minor,
                        points_clawed_back=refund.points_clawed_back, refunded_at=at(refund.refunded_at),
                    )
                    for refund in record.refunds
                ],
            )
            for record in await data.purchases(member.id)
        ],
        coupons=[
            ExportedCoupon(
                code=coupon.code, name=localized(template.names, locale) or template.code, status=coupon.status,
                source=coupon.source, issued_at=at(coupon.issued_at), valid_from=coupon.valid_from,
                valid_until=coupon.valid_until, used_at=local(coupon.used_at), discount_minor=coupon.discount_minor,
                bonus_points=coupon.bonus_points,
            )
            for coupon, template in await data.coupons(member.id)
        ],
        reward_codes=[
            ExportedRewardCode(
                code=redemption.code, reward=localized(reward.names, locale) or reward.code, points=redemption.points,
                status=redemption.status, issued_at=at(redemption.issued_at), used_at=local(redemption.used_at),
            )
            for redemption, reward in await data.redemptions(member.id)
        ],
        messages=[
            ExportedMessage(
                kind=item.kind, status=item.status, created_at=at(item.created_at), sent_at=local(item.sent_at),
                content=dict(item.payload),
            )
            for item in await data.notifications(member.id)
        ],
        campaigns=[
            ExportedCampaignMessage(
                campaign=item.campaign_name, status=item.recipient.status, sent_at=local(item.recipient.sent_at)
            )
            for item in await data.campaign_messages(member.id)
        ],
        audit=[
            ExportedAuditEvent(at=at(event.at), by=event.actor, action=event.action, detail=event.detail)
            for event in await data.audit_events(member.id)
        ],
        tier_moves=[
            ExportedTierMove(
                at=at(move.at), from_tier=codes.get(move.from_rank, f"rank-{move.from_rank}"),
                to_tier=codes.get(move.to_rank, f"rank-{move.to_rank}"),
            )
            for move in await data.tier_changes(member.id)
        ],
        referrals=[
            ExportedReferral(
                role="referrer" if referral.referrer_id == member.id else "friend", status=referral.status,
                joined_at=at(referral.joined_at), qualified_at=local(referral.qualified_at),
                reward_points=referral.reward_points if referral.referrer_id == member.id else 0,
            )
            for referral in await data.referrals(member.id)
        ],
        feedback=await _feedback(uow, member, at),
    )


async def _feedback(uow: UnitOfWork, member: Member, at: Callable[[datetime], datetime]) -> list[ExportedFeedback]:
    surveys = [
        ExportedFeedback(at=at(survey.answered_at or survey.created_at), kind="survey", score=survey.score, text=survey.comment)
        for survey in await uow.feedback.surveys_of(member.id)
    ]
    messages = [
        ExportedFeedback(at=at(message.created_at), kind="reply" if message.staff_id else "message", score=None, text=message.body)
        for message in await uow.feedback.thread(member.id)
    ]
    return sorted(surveys + messages, key=lambda item: item.at)


async def export_for_merchant(
    uow: UnitOfWork, clock: Clock, settings: Settings, member_number: str, *, actor: str
) -> MemberExport:
    """The export a merchant answers a member's data request with: audited under `actor` (the
    API key), as every staff and API action on a member is. Commits the audit event."""
    now = clock.now()
    member = await find_member(uow, member_number=member_number)
    export = await export_member(uow, settings, member, now=now)
    uow.audit.record(at=now, actor=actor, action="member.export", member_id=member.id)
    await uow.commit()
    return export
