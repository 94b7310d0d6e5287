"""Tables. Every schema change here comes with an Alembic revision in db/migrations/versions."""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# --- the values a status or kind column holds ---------------------------------------------------
# The rules, the bot, the API and the repositories compare against these; the columns stay
# strings (a StrEnum member is its value), so rows, payloads and the API read as before.


class RuleKind(enum.StrEnum):
    BASE = "base"
    PROMOTION = "promotion"
    BONUS = "bonus"


class RedemptionStatus(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    CANCELLED = "cancelled"


class LedgerKind(enum.StrEnum):
    EARN = "earn"
    BONUS = "bonus"
    REDEEM = "redeem"
    EXPIRE = "expire"
    ADJUST = "adjust"
    CLAWBACK = "clawback"
    REVERSAL = "reversal"
    FORFEIT = "forfeit"  # the points left when a member's data was erased (loyalty/erasure.py)


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by one sender
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class NotificationKind(enum.StrEnum):
    """What a notification says: templates/messages/<locale>/notifications/<kind>.j2. Receipts
    first, then the nudges (loyalty/nudges/kinds.py gives each its topic)."""

    POINTS_EARNED = "points_earned"
    POINTS_CLAWED_BACK = "points_clawed_back"
    TIER_UPGRADED = "tier_upgraded"
    TIER_DOWNGRADED = "tier_downgraded"
    POINTS_EXPIRING = "points_expiring"
    COUPON_EXPIRING = "coupon_expiring"
    COUPON_NEARBY = "coupon_nearby"
    COUPON_ISSUED = "coupon_issued"  # a coupon the merchant gave (loyalty.coupons.issue)
    POINTS_ADJUSTED = "points_adjusted"  # staff adjusted their points in the console
    CARD = "card"  # the member card again, sent as its picture (staff resent it)
    BIRTHDAY = "birthday"
    ANNIVERSARY = "anniversary"
    TIER_AT_RISK = "tier_at_risk"
    NEAR_UPGRADE = "near_upgrade"
    WIN_BACK = "win_back"
    REFERRAL_JOINED = "referral_joined"  # a friend joined by the member's invite link
    REFERRAL_REWARDED = "referral_rewarded"  # the friend's purchase earned the member their reward
    FEEDBACK_ASKED = "feedback_asked"  # the survey after a purchase at a store (loyalty/feedback.py)
    FEEDBACK_REPLY = "feedback_reply"  # staff answered what the member wrote with /feedback


class CouponKind(enum.StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    FREE_ITEM = "free_item"
    POINTS_MULTIPLIER = "points_multiplier"


class CouponStatus(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    VOID = "void"


class CampaignStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class RecipientStatus(enum.StrEnum):
    """A campaign recipient's row in the outbox."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    HELD_OUT = "held_out"
    CANCELLED = "cancelled"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    """`kind IN ('base', 'promotion', 'bonus')`: the CHECK that keeps a column to its enum."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


# Named constraints make migrations reproducible on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware.

    PostgreSQL does this itself; SQLite keeps no zone, so without this a value read back would
    be naive and could not be compared with the clock's aware "now"."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a timezone-aware column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


Timestamp = UtcDateTime()

# Points, and balances of them, are 64-bit: a 32-bit column overflows at 2,147,483,647, a few
# large purchases for one member. (loyalty.ledger.MAX_BALANCE keeps every balance far inside 64
# bits.) SQLite's INTEGER already stores up to 8 bytes whatever the declared type, so there the
# columns keep their INTEGER declaration: migration 0008 changes them on PostgreSQL only, since
# on SQLite a change of type rebuilds each table, and dropping a parent table under enforced
# foreign keys fires its ON DELETE actions (purchase lines, tags and mutes would be lost).
Points = BigInteger().with_variant(Integer(), "sqlite")


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("points_balance >= 0", name="points_not_negative"),
        # The anniversary sweep reads the members who joined on today's date in past years.
        Index("ix_members_created_at", "created_at"),
        # The members a nudge can reach (a chat, not blocked): every nudge sweep joins them, and
        # reads this small index instead of the whole table.
        Index(
            "ix_members_reachable",
            "id",
            postgresql_where=text("telegram_id IS NOT NULL AND chat_blocked_at IS NULL"),
            sqlite_where=text("telegram_id IS NOT NULL AND chat_blocked_at IS NULL"),
        ),
        # Members erased on a day, for the dashboard's daily member count (few rows: partial).
        Index(
            "ix_members_erased_at",
            "erased_at",
            postgresql_where=text("erased_at IS NOT NULL"),
            sqlite_where=text("erased_at IS NOT NULL"),
        ),
        # The birthday sweep reads the members born on a month and day.
        Index("ix_members_birthday", "birthday_month", "birthday_day"),
        CheckConstraint(
            "(birthday_month IS NULL AND birthday_day IS NULL) OR "
            "(birthday_month BETWEEN 1 AND 12 AND birthday_day BETWEEN 1 AND 31)",
            name="birthday_month_day",
        ),
        # An erased member's row keeps only what the merchant's accounts need (loyalty/erasure.py);
        # the database refuses anything personal on it.
        CheckConstraint(
            "erased_at IS NULL OR (telegram_id IS NULL AND phone_index IS NULL AND phone_encrypted IS NULL"
            " AND birthday_month IS NULL AND birthday_day IS NULL AND birthday_encrypted IS NULL"
            " AND city IS NULL AND start_payload IS NULL AND timezone IS NULL AND points_balance = 0"
            " AND first_name_encrypted IS NULL)",
            name="erased_row_empty",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_number: Mapped[str] = mapped_column(String(16), unique=True)
    # Private chat id == Telegram user id; empty for members enrolled at a till who never chatted.
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    phone_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_encrypted: Mapped[str | None] = mapped_column(Text)
    # The birthday: month and day in plain for the birthday sweep and audiences, the full date
    # only encrypted (db/repositories/members.py).
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_encrypted: Mapped[str | None] = mapped_column(Text)
    # The Telegram first name they had when they last wrote, encrypted, for a broadcast's {{ name }}.
    first_name_encrypted: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    enrolled_via: Mapped[str] = mapped_column(String(16))
    start_payload: Mapped[str | None] = mapped_column(String(64))
    consent_version: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[datetime] = mapped_column(Timestamp)
    points_balance: Mapped[int] = mapped_column(Points, default=0)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"), index=True)
    tier_since: Mapped[datetime] = mapped_column(Timestamp)
    # Set when a scheduled review finds the member below their tier; cleared when they qualify
    # again. The step down happens once the grace period since then has passed.
    tier_at_risk_since: Mapped[datetime | None] = mapped_column(Timestamp)
    chat_blocked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set by staff (loyalty/member_care.py): a blocked member earns and redeems nothing.
    blocked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # Where the member was last seen (the zone of the store nearest a shared location); None:
    # never shared one, the program's zone applies. Quiet hours are kept in this zone.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # When the member's personal data was erased (their own wish, or the merchant's on their
    # behalf); the row stays, anonymous, for the ledger and purchases that point to it.
    erased_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The code of the member's invite link (t.me/<bot>?start=ref_<code>), made on first need. A
    # unique index rather than a constraint: adding one on SQLite does not rebuild the table.
    referral_code: Mapped[str | None] = mapped_column(String(8), unique=True, index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so an operator can tell keys apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # What the key may call: scope names joined by commas ("till,marketing"); NULL for a key made
    # before scopes existed, which keeps every scope until narrowed (loyalty/apikeys.py).
    scopes: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Written at most once a minute per key (loyalty.apikeys.LAST_USED_RESOLUTION).
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AuditEvent(Base):
    """Who did what to which member, for staff and API actions (never for the member's own).
    Append-only: the database refuses UPDATE and DELETE (db/append_only.py)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    detail: Mapped[str | None] = mapped_column(Text)


# --- The points economy -----------------------------------------------------------------------
# Points are integers, money is integer minor units plus an ISO 4217 code. The ledger is
# append-only: `ledger_entries` and `lot_debits` rows are never updated or deleted, and the
# database refuses it (db/append_only.py, like `audit_events`). `point_lots` and
# `members.points_balance` are caches derived from them, kept in the same transaction.


class Tier(Base):
    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint("rank >= 0", name="rank_not_negative"),
        CheckConstraint("min_spend_minor >= 0 AND min_visits >= 0", name="thresholds_not_negative"),
        CheckConstraint("earn_multiplier_pct >= 100", name="earn_multiplier_at_least_one"),
        CheckConstraint("birthday_multiplier_pct >= 100", name="birthday_multiplier_at_least_one"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # 0 is the entry tier every member has; a member qualifies for a higher rank by spend OR visits.
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)  # {"en": "Gold", "zh_CN": "金卡"}
    min_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    min_visits: Mapped[int] = mapped_column(Integer, default=0)
    earn_multiplier_pct: Mapped[int] = mapped_column(Integer, default=100)
    birthday_multiplier_pct: Mapped[int] = mapped_column(Integer, default=100)
    benefits: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)  # per locale
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class EarningRule(Base):
    """What earns points, as data: a base rate, time-boxed promotions, and one-off bonuses."""

    __tablename__ = "earning_rules"
    __table_args__ = (
        CheckConstraint(_one_of("kind", RuleKind), name="known_kind"),
        CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
        CheckConstraint("per_amount_minor IS NULL OR per_amount_minor > 0", name="per_amount_positive"),
        CheckConstraint("multiplier_pct IS NULL OR multiplier_pct >= 100", name="multiplier_at_least_one"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int | None] = mapped_column(Points)  # base: per `per_amount_minor`; bonus: granted
    per_amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # base only
    multiplier_pct: Mapped[int | None] = mapped_column(Integer)  # promotion only
    category: Mapped[str | None] = mapped_column(String(64))  # promotion on one product category
    event: Mapped[str | None] = mapped_column(String(32))  # bonus: signup|first_purchase|profile_complete
    starts_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ends_at: Mapped[datetime | None] = mapped_column(Timestamp)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class Store(Base):
    __tablename__ = "stores"
    __table_args__ = (
        # A store is on the map with both coordinates and its grid cell, or not at all.
        CheckConstraint(
            "(latitude IS NULL AND longitude IS NULL AND geo_cell IS NULL) OR "
            "(latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180 AND geo_cell IS NOT NULL)",
            name="coordinates_complete",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    address: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # The spatial index: loyalty/geo.py's grid cell of (latitude, longitude).
    geo_cell: Mapped[int | None] = mapped_column(Integer, index=True)
    # {"mon": [["08:00", "22:00"]], ...} in the store's time zone; None: not published.
    opening_hours: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSON)


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("channel", "order_id", name="uq_purchases_channel_order"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_within_amount"),
        CheckConstraint("channel IN ('store', 'online')", name="known_channel"),
        Index("ix_purchases_member_at", "member_id", "purchased_at"),
        # The purchases of a stretch of days, whoever made them: who lapsed (win-back). The other
        # columns are what a day's roll-up reads (loyalty/kpis/days.py): today's, built on every
        # dashboard view, comes from the index alone instead of a heap page per purchase.
        Index("ix_purchases_purchased_at", "purchased_at", "currency", "store_id", "member_id", "amount_minor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    purchased_at: Mapped[datetime] = mapped_column(Timestamp)
    points_earned: Mapped[int] = mapped_column(Points, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Who rang it up, when a staff member's own till (the Mini App) recorded it; None for a
    # till or shop calling the API with a key.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class PurchaseLine(Base):
    __tablename__ = "purchase_lines"
    __table_args__ = (CheckConstraint("amount_minor >= 0 AND quantity > 0", name="line_sane"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # the line's total


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("points_clawed_back >= 0 AND shortfall_points >= 0", name="points_sane"),
        Index("ix_refunds_refunded_at", "refunded_at"),  # a day's refunds (loyalty/kpis/days.py)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    points_clawed_back: Mapped[int] = mapped_column(Points)
    # Points the refund should have taken back but the member had already spent: recorded, so
    # the merchant sees the loss, never silently dropped and never a negative balance.
    shortfall_points: Mapped[int] = mapped_column(Points, default=0)
    refunded_at: Mapped[datetime] = mapped_column(Timestamp)


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("points_price > 0", name="price_positive"),
        CheckConstraint("cash_value_minor >= 0", name="value_not_negative"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    image_url: Mapped[str | None] = mapped_column(String(500))  # https only (loyalty/images.py)
    points_price: Mapped[int] = mapped_column(Points)
    cash_value_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    min_tier_rank: Mapped[int] = mapped_column(Integer, default=0)
    active_from: Mapped[datetime | None] = mapped_column(Timestamp)
    active_until: Mapped[datetime | None] = mapped_column(Timestamp)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class RewardRedemption(Base):
    __tablename__ = "reward_redemptions"
    __table_args__ = (CheckConstraint(_one_of("status", RedemptionStatus), name="known_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    code: Mapped[str] = mapped_column(String(24), unique=True)  # shown at the till; unguessable
    points: Mapped[int] = mapped_column(Points)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    used_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_not_negative"),
        CheckConstraint(_one_of("kind", LedgerKind), name="known_kind"),
        Index("ix_ledger_entries_member_id", "member_id", "id"),
        # A day's movements, for the dashboard's daily roll-up (loyalty/kpis/days.py), read from
        # the index alone.
        Index("ix_ledger_entries_at", "at", "kind", "points"),
        # The daily adjustment cap sums one key's adjustments of the day; only those are indexed.
        Index(
            "ix_ledger_entries_adjustments",
            "actor",
            "at",
            postgresql_where=text("kind = 'adjust'"),
            sqlite_where=text("kind = 'adjust'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(Timestamp)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Points)  # signed
    balance_after: Mapped[int] = mapped_column(Points)
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("reward_redemptions.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))


class PointLot(Base):
    """Points earned together, expiring together. `remaining` is what debits left of it."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within_points"),
        Index("ix_point_lots_member_open", "member_id", "expires_at", "id"),
        # The lots of an issue month, for the dashboard's breakage chart (read from the index alone).
        Index("ix_point_lots_earned_at", "earned_at", "points"),
        # Only open lots: the expiry sweep stays proportional to what is due, not to all history.
        Index(
            "ix_point_lots_open_expires_at",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    earned_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    points: Mapped[int] = mapped_column(Points)
    remaining: Mapped[int] = mapped_column(Points)


class LotDebit(Base):
    """Which lot a debit (redeem, expire, claw-back, negative adjustment) took points from."""

    __tablename__ = "lot_debits"
    __table_args__ = (CheckConstraint("points > 0", name="points_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("point_lots.id"), index=True)
    points: Mapped[int] = mapped_column(Points)


class IdempotencyRecord(Base):
    """The answer given to a write the first time, replayed when the same key comes again."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))  # e.g. "apikey:7" or "chat:123"
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    # The member the request was about (a purchase, an adjustment...): erasing them deletes the
    # answer, and with it the request's fingerprint, a hash of a body that may hold their phone.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)


class Notification(Base):
    """A message owed to a member, written in the transaction that caused it and sent later by
    the bot process, so an API-only process or a crash never loses it."""

    __tablename__ = "notifications"
    __table_args__ = (
        # sending: claimed by one sender (a conditional UPDATE), so two bot processes draining the
        # outbox never both send a row.
        CheckConstraint(_one_of("status", NotificationStatus), name="known_status"),
        Index("ix_notifications_pending", "status", "id"),
        # The frequency cap counts a member's recent nudges. Also the index of member_id alone:
        # a second one would only slow down every insert (a nudge sweep writes many at once).
        Index("ix_notifications_member_sent", "member_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(32))
    # Natural key (member, kind, subject, period) for messages that must go at most once.
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Not before this moment (quiet hours, a frequency cap); None: as soon as possible.
    deliver_after: Mapped[datetime | None] = mapped_column(Timestamp)
    # Not after this moment: a nudge whose moment has passed is dropped, not sent late.
    stale_after: Mapped[datetime | None] = mapped_column(Timestamp)
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp)


# --- coupons ------------------------------------------------------------------------------------


class CouponTemplate(Base):
    """A campaign's offer, which coupons are issued from. Validity is in calendar days: fixed
    dates, or a number of days from issue, or both (the earlier end wins)."""

    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CouponKind), name="known_kind"),
        CheckConstraint(
            "(kind = 'percent_off' AND value BETWEEN 1 AND 100) OR "
            "(kind = 'points_multiplier' AND value > 100) OR "
            "(kind IN ('amount_off', 'free_item') AND value > 0)",
            name="value_fits_kind",
        ),
        CheckConstraint("min_spend_minor >= 0", name="min_spend_not_negative"),
        CheckConstraint("valid_until IS NOT NULL OR valid_days IS NOT NULL", name="validity_bounded"),
        CheckConstraint("valid_days IS NULL OR valid_days >= 0", name="valid_days_not_negative"),
        CheckConstraint("per_member_limit >= 1", name="per_member_limit_positive"),
        CheckConstraint(
            "issued_count >= 0 AND (total_quantity IS NULL OR issued_count <= total_quantity)",
            name="issued_within_quantity",
        ),
        CheckConstraint(
            "auto_issue IS NULL OR auto_issue IN ('signup', 'tier', 'birthday', 'anniversary', 'win_back')",
            name="known_auto_issue",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    image_url: Mapped[str | None] = mapped_column(String(500))  # https only (loyalty/images.py)
    kind: Mapped[str] = mapped_column(String(24))
    # percent_off: the percentage; amount_off: minor units off; free_item: the item's value in
    # minor units (what the coupon costs the merchant); points_multiplier: percent, 200 = double.
    value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    min_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # the last valid day, included
    valid_days: Mapped[int | None] = mapped_column(Integer)  # days after the day of issue
    # Where it is valid: these stores (ids) or stores in these cities; both empty: everywhere.
    store_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    cities: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_tier_rank: Mapped[int] = mapped_column(Integer, default=0)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)
    total_quantity: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    # Issued by itself: "signup" to every new member, "tier" to members reaching min_tier_rank,
    # "birthday", "anniversary" and "win_back" with those nudges (to members of min_tier_rank up).
    auto_issue: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class Coupon(Base):
    """One member's coupon: an unguessable code the till redeems once, inside its days, at its
    stores. Days are read in the time zone of the store redeeming it."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(_one_of("status", CouponStatus), name="known_status"),
        CheckConstraint("valid_until >= valid_from", name="window_ordered"),
        CheckConstraint(
            "source IN ('signup', 'tier', 'api', 'reward', 'campaign', 'birthday', 'anniversary', 'win_back',"
            " 'referral')",
            name="known_source",
        ),
        Index("ix_coupons_member_usable", "member_id", "status", "valid_until"),
        Index("ix_coupons_template_member", "template_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(24), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="issued")
    source: Mapped[str] = mapped_column(String(16))
    # Makes issuing idempotent: e.g. "signup:<member>:<template>" or an API Idempotency-Key.
    issue_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)  # included
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    used_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    used_order_id: Mapped[str | None] = mapped_column(String(64))
    # Fingerprint of the redeeming request (loyalty.idempotency.fingerprint): the same order sent
    # again with another body (amount, store, member) is a conflict, not a replay. None on
    # coupons used before it was recorded.
    used_request_hash: Mapped[str | None] = mapped_column(String(64))
    # What using it was worth: money off the order, or the points it added.
    discount_minor: Mapped[int | None] = mapped_column(BigInteger)
    bonus_points: Mapped[int | None] = mapped_column(Points)


class MemberMute(Base):
    """A topic of messages a member does not want (/settings). Messages they asked for, and
    receipts of what they did (points earned, a tier reached), are never muted."""

    __tablename__ = "member_mutes"
    __table_args__ = (
        CheckConstraint(
            "topic IN ('points', 'coupons', 'tier', 'greetings', 'offers', 'referrals', 'feedback')", name="known_topic"
        ),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class MemberTag(Base):
    """A label the merchant put on a member (API), e.g. "vip" or "office-lunch": campaigns
    choose audiences by it."""

    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_tag", "tag", "member_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class Staff(Base):
    """A Telegram user who runs the program. Owners and marketers broadcast and manage campaigns
    (only an owner acts on a campaign someone else started) and use the console; cashiers ring up
    sales in the Mini App's till, as owners may (loyalty/staff.py). There is always an owner once
    there has been one."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('owner', 'marketer', 'cashier')", name="known_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    # The store they serve at: the pocket till records their sales there, and a detractor's
    # answer about that store reaches them. None: not tied to one store.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class ConsoleLink(Base):
    """A one-time sign-in link to the web console, for one staff member. Only the hash of its
    token is kept: the token itself is in the link and nowhere else."""

    __tablename__ = "console_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    locale: Mapped[str | None] = mapped_column(String(16))  # the language it was asked for in
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ConsoleSession(Base):
    """A signed-in browser of a staff member. `id_hash` is the hash of the cookie's value; the
    CSRF secret is what every form of the session must send back."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)


class Campaign(Base):
    """A message to a segment of members at a moment: one occurrence of a (possibly recurring)
    broadcast. Its recipients are chosen when it starts (campaign_recipients)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_one_of("status", CampaignStatus), name="known_status"),
        CheckConstraint("holdout_pct >= 0 AND holdout_pct <= 50", name="holdout_within_half"),
        CheckConstraint("recurrence IS NULL OR recurrence IN ('monthly', 'quarterly')", name="known_recurrence"),
        # Either one instant for everyone, or a local date and time read in each member's zone.
        CheckConstraint(
            "(send_at IS NOT NULL AND local_date IS NULL AND local_time IS NULL) OR "
            "(send_at IS NULL AND local_date IS NOT NULL AND local_time IS NOT NULL)",
            name="one_kind_of_send_time",
        ),
        Index("ix_campaigns_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    # {locale: text}: Jinja in a sandbox, with the member's own values (loyalty/campaigns/messages.py).
    texts: Mapped[dict[str, str]] = mapped_column(JSON)
    image_url: Mapped[str | None] = mapped_column(String(500))
    coupon_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    # [{"texts": {locale: label}, "url": "https://..."}]: link buttons under the message.
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # loyalty.campaigns.audience.Audience as JSON: who it is for.
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    send_at: Mapped[datetime | None] = mapped_column(Timestamp)
    local_date: Mapped[date | None] = mapped_column(Date)
    local_time: Mapped[str | None] = mapped_column(String(5))  # "10:00", in each member's zone
    # The next occurrence is created when this one starts: same day of the month, a month or a
    # quarter later.
    recurrence: Mapped[str | None] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    holdout_pct: Mapped[int] = mapped_column(Integer, default=10)
    # Chooses the hold-out group: the same seed always holds out the same members.
    seed: Mapped[str] = mapped_column(String(32))
    attribution_days: Mapped[int] = mapped_column(Integer, default=7)
    created_by: Mapped[str] = mapped_column(String(80))  # "staff:<telegram id>" or "apikey:<id>"
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    audience_size: Mapped[int | None] = mapped_column(Integer)  # recipients chosen at the start
    # The staff chat message that shows the progress while it sends, edited in place.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(Integer)


class CampaignRecipient(Base):
    """One member of a campaign's audience: the outbox row the sender drains, and what became
    of it (the report counts these)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        CheckConstraint(_one_of("status", RecipientStatus), name="known_status"),
        # The sender's query: a campaign's pending rows that are due.
        Index("ix_campaign_recipients_due", "campaign_id", "status", "deliver_after"),
        Index("ix_campaign_recipients_member", "member_id"),
    )

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Why it was skipped ("opted_out", "unreachable") or failed (the error).
    reason: Mapped[str | None] = mapped_column(String(300))
    # Not before this moment: the member's local send time, or the end of their quiet hours.
    deliver_after: Mapped[datetime] = mapped_column(Timestamp)
    # Held back by quiet hours at the send time (sent later, at their end).
    deferred: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))


# --- key performance indicators (loyalty/kpis) ---------------------------------------------------


class TierChange(Base):
    """A member moving from one tier to another: what the tier-moves chart counts. Ranks, not tier
    ids, so a move reads up or down even after the ladder changed. Like the ledger, the rows stay
    when a member is erased: they point to the anonymous row and hold nothing personal."""

    __tablename__ = "tier_changes"
    __table_args__ = (
        CheckConstraint("from_rank <> to_rank", name="moves"),
        Index("ix_tier_changes_at", "at"),
        Index("ix_tier_changes_member_at", "member_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    from_rank: Mapped[int] = mapped_column(Integer)
    to_rank: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Timestamp)


class AnonymousSale(Base):
    """What a till (or the online shop, without a store) sold to non-members on one local day:
    one row per store and day, replaced when the till reports the day again."""

    __tablename__ = "anonymous_sales"
    __table_args__ = (
        CheckConstraint("amount_minor >= 0 AND sales >= 0", name="not_negative"),
        # One row per (store, day); NULL (online) is a value of its own here, which a plain
        # unique constraint would not see.
        Index(
            "uq_anonymous_sales_store_day", "store_id", "day", unique=True,
            postgresql_where=text("store_id IS NOT NULL"), sqlite_where=text("store_id IS NOT NULL"),
        ),
        Index(
            "uq_anonymous_sales_online_day", "day", unique=True,
            postgresql_where=text("store_id IS NULL"), sqlite_where=text("store_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    day: Mapped[date] = mapped_column(Date)  # local day in the program's TIMEZONE
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    sales: Mapped[int] = mapped_column(Integer)  # how many sales made up the amount
    reported_at: Mapped[datetime] = mapped_column(Timestamp)  # the latest report of the day
    reported_by: Mapped[str] = mapped_column(String(80))


class KpiDay(Base):
    """A local day whose roll-ups are stored (loyalty/kpis/rollup.py), and when they were built."""

    __tablename__ = "kpi_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(Timestamp)


class KpiDaily(Base):
    """Additive numbers of one local day: summed over the days of any period. `scope` is a store
    id, 0 for every store and the online shop together, -1 for the online shop."""

    __tablename__ = "kpi_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class KpiSnapshot(Base):
    """Numbers as they stood at the end of one local day (outstanding points, members per tier,
    RFM segment sizes): read at a period's ends, never summed."""

    __tablename__ = "kpi_snapshots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class KpiBitmap(Base):
    """The members behind a distinct count on one local day, as a serialized roaring bitmap of
    member ids: the union over a period's days is the exact number of distinct members."""

    __tablename__ = "kpi_bitmaps"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # buyers, twice, joined
    bitmap: Mapped[bytes] = mapped_column(LargeBinary)


class SecretKeyFingerprint(Base):
    """A key the database's encrypted columns (db/encrypted_columns.py) are written with, as its
    fingerprint (db.crypto.key_fingerprint), never the key. One row normally; two or more while
    `loyalty secret rotate` moves values from old keys to the new one. A process whose keys do
    not cover every row here cannot read everything and refuses to start."""

    __tablename__ = "secret_key_fingerprints"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)


# --- referrals ----------------------------------------------------------------------------------


class ReferralStatus(enum.StrEnum):
    JOINED = "joined"  # the friend joined by the link
    QUALIFIED = "qualified"  # the friend's first qualifying purchase; the hold runs until hold_until
    REWARDED = "rewarded"
    VOIDED = "voided"  # that purchase was refunded within the hold
    HELD = "held"  # suspicious (one of a burst of joins): waits for a person to approve or reject
    REJECTED = "rejected"  # a held referral a person turned down
    CAPPED = "capped"  # over a velocity limit or a cap: recorded, never paid


class ReferralProgram(Base):
    """The referral program's terms, one row (id 1) the merchant sets; no row: no program."""

    __tablename__ = "referral_programs"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("reward_points >= 0", name="reward_points_not_negative"),
        CheckConstraint("min_purchase_minor >= 0", name="min_purchase_not_negative"),
        CheckConstraint("hold_days >= 0", name="hold_days_not_negative"),
        CheckConstraint("burst_size >= 2 AND burst_minutes >= 1 AND daily_join_limit >= 1", name="guards_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    friend_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    reward_points: Mapped[int] = mapped_column(Points, default=0)
    reward_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    min_purchase_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_days: Mapped[int] = mapped_column(Integer, default=14)
    monthly_cap: Mapped[int | None] = mapped_column(Integer)  # rewards per referrer per month; None: no cap
    total_cap: Mapped[int | None] = mapped_column(Integer)  # rewards per referrer in all
    burst_size: Mapped[int] = mapped_column(Integer, default=3)
    burst_minutes: Mapped[int] = mapped_column(Integer, default=10)
    daily_join_limit: Mapped[int] = mapped_column(Integer, default=10)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Referral(Base):
    """A friend who joined by a member's link. Every row is kept, whatever became of it: the
    report counts them. A friend is referred at most once (the unique friend)."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(_one_of("status", ReferralStatus), name="known_status"),
        CheckConstraint("referrer_id <> friend_id", name="not_self"),
        Index("ix_referrals_referrer_joined", "referrer_id", "joined_at"),
        Index("ix_referrals_status_hold", "status", "hold_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # One of a burst of joins from the same referrer: held for review when it qualifies.
    suspicious: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(Timestamp)
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    qualified_at: Mapped[datetime | None] = mapped_column(Timestamp)
    hold_until: Mapped[datetime | None] = mapped_column(Timestamp)
    settled_at: Mapped[datetime | None] = mapped_column(Timestamp)  # rewarded, voided, rejected or capped
    reward_points: Mapped[int] = mapped_column(Points, default=0)
    reward_coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    friend_coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))


class ReferralOpen(Base):
    """Someone not yet a member opened a member's invite link: the funnel's "invited". Nothing
    about who opened it is kept (they have not consented to anything yet)."""

    __tablename__ = "referral_opens"
    __table_args__ = (Index("ix_referral_opens_referrer_at", "referrer_id", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    opened_at: Mapped[datetime] = mapped_column(Timestamp)


# --- feedback -----------------------------------------------------------------------------------


class FeedbackSurvey(Base):
    """The survey "how likely are you to recommend us?", owed by a purchase at a store (loyalty/feedback.py)
    and asked through the outbox (`notification_id`). The score is set once; the comment and
    the consent to be contacted follow it."""

    __tablename__ = "feedback_surveys"
    __table_args__ = (
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 10", name="score_in_range"),
        # The member's last survey (at most one per FEEDBACK_MIN_DAYS).
        Index("ix_feedback_surveys_member_created", "member_id", "created_at"),
        # The report reads a period's surveys, by store.
        Index("ix_feedback_surveys_created_store", "created_at", "store_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"), unique=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    # Who rang the purchase up, when the till said so: the score is theirs too.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    score: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    comment: Mapped[str | None] = mapped_column(Text)
    # None: not asked (only detractors are); True/False: their answer.
    contact_ok: Mapped[bool | None] = mapped_column(Boolean)
    # When the follow-up ended (a comment, Skip, or the consent answer): nothing more is taken.
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    points_awarded: Mapped[int] = mapped_column(Integer, default=0)


class FeedbackMessage(Base):
    """A thread between a member and the merchant: what the member wrote with /feedback
    (`staff_id` None) and each staff reply to it (`reply_to_id` the member's message)."""

    __tablename__ = "feedback_messages"
    __table_args__ = (Index("ix_feedback_messages_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_messages.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
