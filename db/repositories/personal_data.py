"""Everything stored about one member, in one place: read for their export, erased on request.

`MEMBER_TABLES` names every table that holds a row per member and what erasure does with it; a
test holds it to the models (every table with a foreign key to `members` is listed), so a new
table cannot hold personal data that an export or an erasure never sees. The member row itself
is emptied by `MemberRepository.forget_personal_fields`, next to the encryption of its fields.

The ledger and the audit trail are append-only: their rows stay, and the only change made to
them is the one the database allows, a free-text `ledger_entries.reason` or
`audit_events.detail` set to NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AuditEvent,
    Campaign,
    CampaignRecipient,
    Coupon,
    CouponTemplate,
    FeedbackMessage,
    FeedbackSurvey,
    IdempotencyRecord,
    LedgerEntry,
    MemberMute,
    MemberTag,
    Notification,
    Purchase,
    PurchaseLine,
    Referral,
    Refund,
    Reward,
    RewardRedemption,
    Staff,
    Store,
    TierChange,
)

# Table -> what an erasure does with the member's rows there.
MEMBER_TABLES: dict[str, str] = {
    "members": "personal fields emptied, the row kept for what points to it",
    "ledger_entries": "kept for the accounts; free-text reasons (adjustments) set to NULL",
    "point_lots": "kept; emptied by the forfeit entry",
    "purchases": "kept for the accounts",
    "reward_redemptions": "kept; unused codes cancelled",
    "coupons": "kept for the accounts; unused ones voided",
    "notifications": "deleted: what each said, and when (a greeting on their birthday), unsent ones never go",
    "campaign_recipients": "kept for the campaign reports; unsent ones cancelled",
    "member_mutes": "deleted",
    "member_tags": "deleted",
    "audit_events": "kept; every detail about the member set to NULL",
    "idempotency_records": "answers to requests about the member deleted (also those under their scopes)",
    "tier_changes": "kept, like the ledger: ranks and times only, counted by the tier-moves chart",
    # A referral names two members by id, with statuses, times and points: nothing personal.
    "referrals": "kept for the referral report (as referrer or friend): ids, statuses and times only",
    "referral_opens": "kept for the referral report: when the member's invite link was opened, by nobody named",
    "feedback_surveys": "kept for the NPS report: scores only; comments and the consent set to NULL",
    "feedback_messages": "deleted: what the member wrote and the staff's replies",
}
# Rows that name a member without a foreign key: by Telegram id (staff, a campaign's progress
# message), by scope (idempotency answers: "member:<id>", "bonus:<id>", "chat:<Telegram id>").
UNLINKED_TABLES: dict[str, str] = {
    "staff": "the row of the member's Telegram id deleted",
    "campaigns": "a progress message in the member's chat forgotten",
    "idempotency_records": "answers kept under the member's scopes deleted",
}

@dataclass(frozen=True)
class PurchaseRecord:
    purchase: Purchase
    store: Store | None
    lines: Sequence[PurchaseLine]
    refunds: Sequence[Refund]


@dataclass(frozen=True)
class CampaignMessage:
    campaign_name: str
    recipient: CampaignRecipient


@dataclass(frozen=True)
class Erased:
    """How many rows of each kind an erasure changed."""

    coupons_voided: int
    codes_cancelled: int
    messages_cancelled: int  # unsent, deleted
    campaign_messages_cancelled: int


class PersonalDataRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- reading, for the export ---------------------------------------------------------------

    async def ledger(self, member_id: int) -> Sequence[LedgerEntry]:
        statement = select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        return (await self._session.scalars(statement)).all()

    async def purchases(self, member_id: int) -> list[PurchaseRecord]:
        rows = (
            await self._session.execute(
                select(Purchase, Store)
                .outerjoin(Store, Store.id == Purchase.store_id)
                .where(Purchase.member_id == member_id)
                .order_by(Purchase.purchased_at, Purchase.id)
            )
        ).all()
        ids = [purchase.id for purchase, _ in rows]
        lines = (
            await self._session.scalars(
                select(PurchaseLine).where(PurchaseLine.purchase_id.in_(ids)).order_by(PurchaseLine.id)
            )
        ).all()
        refunds = (
            await self._session.scalars(select(Refund).where(Refund.purchase_id.in_(ids)).order_by(Refund.id))
        ).all()
        return [
            PurchaseRecord(
                purchase,
                store,
                [line for line in lines if line.purchase_id == purchase.id],
                [refund for refund in refunds if refund.purchase_id == purchase.id],
            )
            for purchase, store in rows
        ]

    async def coupons(self, member_id: int) -> list[tuple[Coupon, CouponTemplate]]:
        rows = await self._session.execute(
            select(Coupon, CouponTemplate)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(Coupon.member_id == member_id)
            .order_by(Coupon.issued_at, Coupon.id)
        )
        return [(coupon, template) for coupon, template in rows.all()]

    async def redemptions(self, member_id: int) -> list[tuple[RewardRedemption, Reward]]:
        rows = await self._session.execute(
            select(RewardRedemption, Reward)
            .join(Reward, Reward.id == RewardRedemption.reward_id)
            .where(RewardRedemption.member_id == member_id)
            .order_by(RewardRedemption.issued_at, RewardRedemption.id)
        )
        return [(redemption, reward) for redemption, reward in rows.all()]

    async def notifications(self, member_id: int) -> Sequence[Notification]:
        statement = select(Notification).where(Notification.member_id == member_id).order_by(Notification.id)
        return (await self._session.scalars(statement)).all()

    async def campaign_messages(self, member_id: int) -> list[CampaignMessage]:
        rows = await self._session.execute(
            select(Campaign.name, CampaignRecipient)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.member_id == member_id)
            .order_by(CampaignRecipient.campaign_id)
        )
        return [CampaignMessage(name, recipient) for name, recipient in rows.all()]

    async def muted_topics(self, member_id: int) -> list[str]:
        rows = await self._session.scalars(
            select(MemberMute.topic).where(MemberMute.member_id == member_id).order_by(MemberMute.topic)
        )
        return list(rows)

    async def audit_events(self, member_id: int) -> Sequence[AuditEvent]:
        statement = select(AuditEvent).where(AuditEvent.member_id == member_id).order_by(AuditEvent.id)
        return (await self._session.scalars(statement)).all()

    async def tier_changes(self, member_id: int) -> Sequence[TierChange]:
        statement = select(TierChange).where(TierChange.member_id == member_id).order_by(TierChange.at, TierChange.id)
        return (await self._session.scalars(statement)).all()

    async def referrals(self, member_id: int) -> Sequence[Referral]:
        """The member's referrals, as the one who invited and as the friend, oldest first."""
        statement = (
            select(Referral)
            .where(or_(Referral.referrer_id == member_id, Referral.friend_id == member_id))
            .order_by(Referral.joined_at, Referral.id)
        )
        return (await self._session.scalars(statement)).all()

    async def staff_role(self, telegram_id: int | None) -> str | None:
        if telegram_id is None:
            return None
        return await self._session.scalar(select(Staff.role).where(Staff.telegram_id == telegram_id))

    # --- erasing -------------------------------------------------------------------------------

    async def erase_rows(self, member_id: int, telegram_id: int | None) -> Erased:
        """Every row about the member outside their own row, as MEMBER_TABLES and
        UNLINKED_TABLES say. The caller holds the member's lock and commits."""
        coupons = await self._count(
            update(Coupon).where(Coupon.member_id == member_id, Coupon.status == "issued").values(status="void")
        )
        codes = await self._count(
            update(RewardRedemption)
            .where(RewardRedemption.member_id == member_id, RewardRedemption.status == "issued")
            .values(status="cancelled")
        )
        unsent = Notification.member_id == member_id, Notification.status.in_(("pending", "sending"))
        messages = int(await self._session.scalar(select(func.count()).where(*unsent)) or 0)
        # Sent ones too: a payload holds what the message said (an order, a coupon, a place), and a
        # birthday greeting's date says when the birthday is. A sender holding one finds it gone.
        await self._session.execute(delete(Notification).where(Notification.member_id == member_id))
        campaign_messages = await self._count(
            update(CampaignRecipient)
            .where(CampaignRecipient.member_id == member_id, CampaignRecipient.status.in_(("pending", "sending")))
            .values(status="cancelled", claimed_at=None)
        )
        await self._session.execute(delete(MemberTag).where(MemberTag.member_id == member_id))
        await self._session.execute(delete(MemberMute).where(MemberMute.member_id == member_id))
        # What they wrote about a visit or to the merchant; the scores stay, anonymous, in the NPS.
        await self._session.execute(
            update(FeedbackSurvey).where(FeedbackSurvey.member_id == member_id).values(comment=None, contact_ok=None)
        )
        await self._session.execute(delete(FeedbackMessage).where(FeedbackMessage.member_id == member_id))
        # Free text people wrote about the member: an adjustment's reason, an audit detail. The
        # reasons the program writes itself ("order S001-42", a rule's name) stay for the accounts.
        await self._session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.member_id == member_id, LedgerEntry.kind == "adjust", LedgerEntry.reason.is_not(None))
            .values(reason=None)
        )
        mentions = [AuditEvent.member_id == member_id]
        scopes = [f"member:{member_id}", f"bonus:{member_id}"]
        if telegram_id is not None:
            # Staff changes name the Telegram id in the detail ("5001 owner").
            mentions.append(
                AuditEvent.action.startswith("staff.")
                & or_(AuditEvent.detail == str(telegram_id), AuditEvent.detail.startswith(f"{telegram_id} "))
            )
            scopes.append(f"chat:{telegram_id}")  # rewards redeemed in the chat before 0011
            await self._session.execute(delete(Staff).where(Staff.telegram_id == telegram_id))
            await self._session.execute(
                update(Campaign)
                .where(Campaign.progress_chat_id == telegram_id)
                .values(progress_chat_id=None, progress_message_id=None)
            )
        await self._session.execute(
            update(AuditEvent).where(or_(*mentions), AuditEvent.detail.is_not(None)).values(detail=None)
        )
        await self._session.execute(
            delete(IdempotencyRecord).where(
                or_(IdempotencyRecord.member_id == member_id, IdempotencyRecord.scope.in_(scopes))
            )
        )
        return Erased(coupons, codes, messages, campaign_messages)

    async def _count(self, statement: Any) -> int:
        result = await self._session.execute(statement)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
