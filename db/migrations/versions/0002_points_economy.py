"""points economy

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Tiers, earning rules, stores, purchases and refunds, the append-only points ledger with its
lots, rewards and their redemptions, idempotency records and the notification outbox. Seeds
four default tiers and a base earning rule (1 point per 1.00 spent) that the merchant can
change through the API, and puts every existing member in the entry tier.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('earning_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('per_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('multiplier_pct', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('event', sa.String(length=32), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('base', 'promotion', 'bonus')", name=op.f('ck_earning_rules_known_kind')),
    sa.CheckConstraint('multiplier_pct IS NULL OR multiplier_pct >= 100', name=op.f('ck_earning_rules_multiplier_at_least_one')),
    sa.CheckConstraint('per_amount_minor IS NULL OR per_amount_minor > 0', name=op.f('ck_earning_rules_per_amount_positive')),
    sa.CheckConstraint('points IS NULL OR points > 0', name=op.f('ck_earning_rules_points_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_earning_rules'))
    )
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=80), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('scope', 'key', name='uq_idempotency_scope_key')
    )
    op.create_table('rewards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('descriptions', sa.JSON(), nullable=False),
    sa.Column('points_price', sa.Integer(), nullable=False),
    sa.Column('cash_value_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('min_tier_rank', sa.Integer(), nullable=False),
    sa.Column('active_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cash_value_minor >= 0', name=op.f('ck_rewards_value_not_negative')),
    sa.CheckConstraint('points_price > 0', name=op.f('ck_rewards_price_positive')),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_rewards_stock_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('code', name=op.f('uq_rewards_code'))
    )
    op.create_table('stores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores')),
    sa.UniqueConstraint('code', name=op.f('uq_stores_code'))
    )
    op.create_table('tiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('min_spend_minor', sa.BigInteger(), nullable=False),
    sa.Column('min_visits', sa.Integer(), nullable=False),
    sa.Column('earn_multiplier_pct', sa.Integer(), nullable=False),
    sa.Column('birthday_multiplier_pct', sa.Integer(), nullable=False),
    sa.Column('benefits', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('birthday_multiplier_pct >= 100', name=op.f('ck_tiers_birthday_multiplier_at_least_one')),
    sa.CheckConstraint('earn_multiplier_pct >= 100', name=op.f('ck_tiers_earn_multiplier_at_least_one')),
    sa.CheckConstraint('min_spend_minor >= 0 AND min_visits >= 0', name=op.f('ck_tiers_thresholds_not_negative')),
    sa.CheckConstraint('rank >= 0', name=op.f('ck_tiers_rank_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tiers')),
    sa.UniqueConstraint('code', name=op.f('uq_tiers_code')),
    sa.UniqueConstraint('rank', name=op.f('uq_tiers_rank'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name=op.f('ck_notifications_known_status')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_notifications_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_member_id'), ['member_id'], unique=False)
        batch_op.create_index('ix_notifications_pending', ['status', 'id'], unique=False)

    op.create_table('purchases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('purchased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('store', 'online')", name=op.f('ck_purchases_known_channel')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_purchases_amount_positive')),
    sa.CheckConstraint('refunded_minor >= 0 AND refunded_minor <= amount_minor', name=op.f('ck_purchases_refund_within_amount')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_purchases_member_id_members')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_purchases_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('channel', 'order_id', name='uq_purchases_channel_order')
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_member_at', ['member_id', 'purchased_at'], unique=False)

    op.create_table('reward_redemptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_store_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('issued', 'used', 'cancelled')", name=op.f('ck_reward_redemptions_known_status')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_reward_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_redemptions_reward_id_rewards')),
    sa.ForeignKeyConstraint(['used_store_id'], ['stores.id'], name=op.f('fk_reward_redemptions_used_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_redemptions')),
    sa.UniqueConstraint('code', name=op.f('uq_reward_redemptions_code'))
    )
    with op.batch_alter_table('reward_redemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_redemptions_member_id'), ['member_id'], unique=False)

    op.create_table('purchase_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purchase_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_minor >= 0 AND quantity > 0', name=op.f('ck_purchase_lines_line_sane')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_purchase_lines_purchase_id_purchases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_lines'))
    )
    with op.batch_alter_table('purchase_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_lines_purchase_id'), ['purchase_id'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purchase_id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('points_clawed_back', sa.Integer(), nullable=False),
    sa.Column('shortfall_points', sa.Integer(), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_refunds_amount_positive')),
    sa.CheckConstraint('points_clawed_back >= 0 AND shortfall_points >= 0', name=op.f('ck_refunds_points_sane')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_refunds_purchase_id_purchases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_refunds_refund_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_purchase_id'), ['purchase_id'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('purchase_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('redemption_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.CheckConstraint("kind IN ('earn', 'bonus', 'redeem', 'expire', 'adjust', 'clawback', 'reversal')", name=op.f('ck_ledger_entries_known_kind')),
    sa.CheckConstraint('balance_after >= 0', name=op.f('ck_ledger_entries_balance_not_negative')),
    sa.CheckConstraint('points <> 0', name=op.f('ck_ledger_entries_points_not_zero')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_ledger_entries_member_id_members')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_ledger_entries_purchase_id_purchases')),
    sa.ForeignKeyConstraint(['redemption_id'], ['reward_redemptions.id'], name=op.f('fk_ledger_entries_redemption_id_reward_redemptions')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_ledger_entries_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_member_id', ['member_id', 'id'], unique=False)

    op.create_table('point_lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('earned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_point_lots_points_positive')),
    sa.CheckConstraint('remaining >= 0 AND remaining <= points', name=op.f('ck_point_lots_remaining_within_points')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_point_lots_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_point_lots_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_lots')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_point_lots_entry_id'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_index(
            'ix_point_lots_open_expires_at', ['expires_at'], unique=False,
            postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'),
        )
        batch_op.create_index('ix_point_lots_member_open', ['member_id', 'expires_at', 'id'], unique=False)

    op.create_table('lot_debits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_lot_debits_points_positive')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_lot_debits_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['lot_id'], ['point_lots.id'], name=op.f('fk_lot_debits_lot_id_point_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_debits'))
    )
    with op.batch_alter_table('lot_debits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_debits_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_debits_lot_id'), ['lot_id'], unique=False)

    _seed_program()

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tier_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tier_at_risk_since', sa.DateTime(timezone=True), nullable=True))
    # Members who joined before tiers existed start in the entry tier, from the day they joined.
    op.execute(
        "UPDATE members SET tier_id = (SELECT id FROM tiers WHERE rank = 0), tier_since = created_at"
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.alter_column('tier_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('tier_since', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f('ix_members_tier_id'), ['tier_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_members_tier_id_tiers'), 'tiers', ['tier_id'], ['id'])


SEEDED_AT = datetime(2026, 11, 24, tzinfo=timezone.utc)

DEFAULT_TIERS = [
    # code, rank, names, min spend (minor units), min visits, earn %, birthday %, benefits
    ("member", 0, {"en": "Member", "zh_CN": "普通会员"}, 0, 0, 100, 100,
     {"en": ["1 point for every 1.00 spent"], "zh_CN": ["每消费1元积1分"]}),
    ("silver", 1, {"en": "Silver", "zh_CN": "银卡"}, 200_000, 10, 110, 200,
     {"en": ["10% more points", "Double points in your birthday month"],
      "zh_CN": ["积分加赠10%", "生日月双倍积分"]}),
    ("gold", 2, {"en": "Gold", "zh_CN": "金卡"}, 600_000, 25, 125, 200,
     {"en": ["25% more points", "Double points in your birthday month", "Free delivery"],
      "zh_CN": ["积分加赠25%", "生日月双倍积分", "免费配送"]}),
    ("black", 3, {"en": "Black", "zh_CN": "黑金卡"}, 1_200_000, 50, 150, 200,
     {"en": ["50% more points", "Double points in your birthday month", "Free delivery", "Priority service"],
      "zh_CN": ["积分加赠50%", "生日月双倍积分", "免费配送", "优先服务"]}),
]


def _seed_program() -> None:
    tiers = sa.table(
        "tiers",
        sa.column("code", sa.String), sa.column("rank", sa.Integer), sa.column("names", sa.JSON),
        sa.column("min_spend_minor", sa.BigInteger), sa.column("min_visits", sa.Integer),
        sa.column("earn_multiplier_pct", sa.Integer), sa.column("birthday_multiplier_pct", sa.Integer),
        sa.column("benefits", sa.JSON), sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(tiers, [
        {"code": code, "rank": rank, "names": names, "min_spend_minor": spend, "min_visits": visits,
         "earn_multiplier_pct": earn, "birthday_multiplier_pct": birthday, "benefits": benefits,
         "created_at": SEEDED_AT, "updated_at": SEEDED_AT}
        for code, rank, names, spend, visits, earn, birthday, benefits in DEFAULT_TIERS
    ])
    rules = sa.table(
        "earning_rules",
        sa.column("name", sa.String), sa.column("kind", sa.String), sa.column("points", sa.Integer),
        sa.column("per_amount_minor", sa.BigInteger), sa.column("active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(rules, [
        {"name": "Base rate", "kind": "base", "points": 1, "per_amount_minor": 100, "active": True,
         "created_at": SEEDED_AT},
    ])



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_members_tier_id_tiers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_members_tier_id'))
        batch_op.drop_column('tier_at_risk_since')
        batch_op.drop_column('tier_since')
        batch_op.drop_column('tier_id')

    with op.batch_alter_table('lot_debits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_debits_lot_id'))
        batch_op.drop_index(batch_op.f('ix_lot_debits_entry_id'))

    op.drop_table('lot_debits')
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_point_lots_member_open')
        batch_op.drop_index('ix_point_lots_open_expires_at')

    op.drop_table('point_lots')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_member_id')

    op.drop_table('ledger_entries')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_purchase_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('purchase_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_lines_purchase_id'))

    op.drop_table('purchase_lines')
    with op.batch_alter_table('reward_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reward_redemptions_member_id'))

    op.drop_table('reward_redemptions')
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_member_at')

    op.drop_table('purchases')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_pending')
        batch_op.drop_index(batch_op.f('ix_notifications_member_id'))

    op.drop_table('notifications')
    op.drop_table('tiers')
    op.drop_table('stores')
    op.drop_table('rewards')
    op.drop_table('idempotency_records')
    op.drop_table('earning_rules')
