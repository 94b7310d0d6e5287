"""The campaign outbox (campaign_recipients) as the broadcast sender sees it: claiming due rows, recording what became of them, handing back rows a dead sender left.

A row goes pending -> sending (claimed, `claimed_at` = the claim's moment) -> sent | skipped |
failed, or back to pending with a later `deliver_after` (a 429, an error to retry). Every move
out of `sending` names the claim it ends, so a sender whose claim was taken back (it looked
dead) cannot overwrite what happened to the row since. Outcomes are written in bulk, one
UPDATE per kind of outcome and claim, so a sender at 1,000 messages a second writes a few
statements a second, not a thousand.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, ColumnElement, Integer, and_, any_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.crypto import FieldCipher
from db.engine import on_postgres
from db.models import Campaign, CampaignRecipient, Coupon, CouponTemplate, Member, MemberMute, Tier

REASON_MAX_LENGTH = 300
OFFERS_TOPIC = "offers"  # the topic a member mutes to receive no campaigns


@dataclass(frozen=True)
class Recipient:
    """A claimed row with what sending it needs, read with the claim (never a query per member)."""

    campaign_id: int
    member_id: int
    claimed_at: datetime
    attempts: int
    telegram_id: int | None
    blocked: bool
    opted_out: bool
    locale: str
    points: int
    tier_names: dict[str, str]
    member_number: str
    coupon_id: int | None
    coupon_names: dict[str, str] | None
    first_name: str | None = None  # decrypted: a campaign's {{ name }}


def clip(reason: str | None) -> str | None:
    return reason[:REASON_MAX_LENGTH] if reason else None


class CampaignOutboxRepository:
    def __init__(self, session: AsyncSession, cipher: FieldCipher) -> None:
        self._session = session
        self._cipher = cipher  # to read the first names a text may greet members by

    @property
    def _postgres(self) -> bool:
        return on_postgres(self._session)

    def _member_among(self, member_ids: Collection[int]) -> ColumnElement[bool]:
        """`member_id IN (...)`; on PostgreSQL `member_id = ANY(:array)`: one parameter whatever
        the count, so one prepared statement for every batch size (an IN list is a statement
        per size, crowding asyncpg's statement cache), and its plan matches each row against
        the array once instead of against 250 parameters in turn (48 -> 16 ms a claim of 250
        at 20,000 rows before the statistics were refreshed)."""
        if self._postgres:
            return CampaignRecipient.member_id == any_(bindparam(None, list(member_ids), type_=ARRAY(Integer)))
        return CampaignRecipient.member_id.in_(list(member_ids))

    # --- claiming -------------------------------------------------------------------------------

    async def sending_campaigns(self) -> list[int]:
        statement = select(Campaign.id).where(Campaign.status == "sending").order_by(Campaign.id)
        return list(await self._session.scalars(statement))

    async def claim(self, campaign_id: int, *, now: datetime, limit: int) -> list[Recipient]:
        """Up to `limit` due rows of a sending campaign, pending -> sending. On PostgreSQL the
        rows are picked FOR UPDATE SKIP LOCKED, so two senders claim disjoint rows without
        waiting for each other; SQLite's write lock (BEGIN IMMEDIATE) serialises claims. Rows of
        a paused or cancelled campaign are not claimed."""
        due = (
            select(CampaignRecipient.member_id)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.status == "pending",
                CampaignRecipient.deliver_after <= now,
                Campaign.status == "sending",
            )
            .order_by(CampaignRecipient.deliver_after)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True, of=CampaignRecipient)
        picked = list(await self._session.scalars(due))
        if not picked:
            return []
        # The picked ids go back as values, not as a subquery: PostgreSQL, misjudging a new
        # campaign's rows (see CampaignRepository.refresh_recipient_statistics), joined such a
        # subquery against every pending row, 0.8 s a claim of 250 at 20,000.
        claimed = await self._session.scalars(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                self._member_among(picked),
                CampaignRecipient.status == "pending",
            )
            .values(status="sending", claimed_at=now)
            .returning(CampaignRecipient.member_id)
            .execution_options(synchronize_session=False)
        )
        member_ids = list(claimed)
        if not member_ids:
            return []
        return await self._details(campaign_id, member_ids, now)

    async def _details(self, campaign_id: int, member_ids: Sequence[int], claimed_at: datetime) -> list[Recipient]:
        """The members of freshly claimed rows: chat, language, balance, tier and coupon names,
        first name."""
        statement = (
            select(
                CampaignRecipient.member_id,
                CampaignRecipient.attempts,
                CampaignRecipient.coupon_id,
                Member.telegram_id,
                Member.chat_blocked_at,
                Member.locale,
                Member.points_balance,
                Member.member_number,
                Tier.names,
                CouponTemplate.names,
                MemberMute.member_id,
                Member.first_name_encrypted,
            )
            .join(Member, Member.id == CampaignRecipient.member_id)
            .join(Tier, Tier.id == Member.tier_id)
            .outerjoin(Coupon, Coupon.id == CampaignRecipient.coupon_id)
            .outerjoin(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .outerjoin(MemberMute, and_(MemberMute.member_id == Member.id, MemberMute.topic == OFFERS_TOPIC))
            .where(CampaignRecipient.campaign_id == campaign_id, self._member_among(member_ids))
            .order_by(CampaignRecipient.deliver_after, CampaignRecipient.member_id)
        )
        return [
            Recipient(
                campaign_id=campaign_id,
                member_id=row[0],
                claimed_at=claimed_at,
                attempts=row[1],
                coupon_id=row[2],
                telegram_id=row[3],
                blocked=row[4] is not None,
                locale=row[5],
                points=row[6],
                member_number=row[7],
                tier_names=row[8] or {},
                coupon_names=row[9],
                opted_out=row[10] is not None,
                first_name=self._cipher.decrypt(row[11]) if row[11] is not None else None,
            )
            for row in await self._session.execute(statement)
        ]

    # --- outcomes, in bulk ----------------------------------------------------------------------

    async def mark_sent(
        self, campaign_id: int, member_ids: Collection[int], *, claimed_at: datetime, at: datetime
    ) -> int:
        return await self._end(campaign_id, member_ids, claimed_at, {"status": "sent", "sent_at": at})

    async def mark_done(
        self,
        campaign_id: int,
        member_ids: Collection[int],
        *,
        claimed_at: datetime,
        status: str,
        reason: str | None,
        attempted: bool = False,
    ) -> int:
        """skipped or failed, with the reason ("unreachable", "opted_out", the error)."""
        values: dict[str, object] = {"status": status, "reason": clip(reason)}
        if attempted:
            values["attempts"] = CampaignRecipient.attempts + 1
        return await self._end(campaign_id, member_ids, claimed_at, values)

    async def hand_back(
        self,
        campaign_id: int,
        member_ids: Collection[int],
        *,
        claimed_at: datetime,
        until: datetime,
        reason: str | None = None,
        attempted: bool = False,
    ) -> int:
        """Back to pending, not before `until`: after a 429 (no attempt counted: Telegram asked
        to wait, nothing failed) or an error worth another try (counted)."""
        values: dict[str, object] = {"status": "pending", "deliver_after": until, "claimed_at": None}
        if reason is not None:
            values["reason"] = clip(reason)
        if attempted:
            values["attempts"] = CampaignRecipient.attempts + 1
        return await self._end(campaign_id, member_ids, claimed_at, values)

    async def _end(
        self, campaign_id: int, member_ids: Collection[int], claimed_at: datetime, values: dict[str, object]
    ) -> int:
        if not member_ids:
            return 0
        result = await self._session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                self._member_among(sorted(member_ids)),
                CampaignRecipient.status == "sending",
                CampaignRecipient.claimed_at == claimed_at,
            )
            .values(values)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def cancel_leftovers(self, campaign_ids: Collection[int] | None = None) -> int:
        """Rows handed back to a campaign that was cancelled meanwhile (of these campaigns, None:
        of any) are cancelled too, not left pending for ever."""
        cancelled = select(Campaign.id).where(Campaign.status == "cancelled")
        if campaign_ids is not None:
            if not campaign_ids:
                return 0
            cancelled = cancelled.where(Campaign.id.in_(sorted(campaign_ids)))
        result = await self._session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id.in_(cancelled.scalar_subquery()), CampaignRecipient.status == "pending")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- crashed senders ------------------------------------------------------------------------

    async def recover(self, *, claimed_before: datetime, keep: Collection[datetime] = ()) -> int:
        """Rows left `sending` by a sender that died (claimed before `claimed_before`) go back to
        pending, due at once: whether Telegram got them is unknown, and a member missing the
        message costs more than the rare second copy. `keep`: claims the caller still holds."""
        conditions = [CampaignRecipient.status == "sending", CampaignRecipient.claimed_at < claimed_before]
        if keep:
            conditions.append(CampaignRecipient.claimed_at.not_in(sorted(keep)))
        result = await self._session.execute(
            update(CampaignRecipient)
            .where(*conditions)
            .values(status="pending", claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- what is left ---------------------------------------------------------------------------

    async def next_due(self, campaign_ids: Collection[int], *, lease_seconds: float) -> datetime | None:
        """The earliest moment a row of these (sending) campaigns can be claimed: the next
        pending row's `deliver_after`, or when a claim in flight would be taken back."""
        if not campaign_ids:
            return None
        ids = sorted(campaign_ids)
        sending = Campaign.status == "sending"
        pending = await self._session.scalar(
            select(func.min(CampaignRecipient.deliver_after))
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.campaign_id.in_(ids), CampaignRecipient.status == "pending", sending)
        )
        claimed = await self._session.scalar(
            select(func.min(CampaignRecipient.claimed_at)).where(
                CampaignRecipient.campaign_id.in_(ids), CampaignRecipient.status == "sending"
            )
        )
        moments = [moment for moment in (pending, claimed) if moment is not None]
        if claimed is not None:
            moments[-1] = claimed + timedelta(seconds=lease_seconds)
        return min(moments) if moments else None

    async def counts(self, campaign_id: int) -> dict[str, int]:
        """Rows per status."""
        statement = (
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        )
        return {status: int(count) for status, count in await self._session.execute(statement)}

    async def in_flight(self, campaign_id: int) -> int:
        statement = (
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "sending")
        )
        return int(await self._session.scalar(statement) or 0)

