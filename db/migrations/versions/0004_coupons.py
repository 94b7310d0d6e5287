"""coupons

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Coupon templates (a campaign's offer: kind, value, minimum spend, validity in days, where it is
valid, tier, limits) and coupons (one member's instance with an unguessable code, redeemed once).
Members get a nullable `timezone`, learnt from where they share their location, for quiet hours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('descriptions', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('min_spend_minor', sa.BigInteger(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('store_ids', sa.JSON(), nullable=False),
    sa.Column('cities', sa.JSON(), nullable=False),
    sa.Column('min_tier_rank', sa.Integer(), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=False),
    sa.Column('total_quantity', sa.Integer(), nullable=True),
    sa.Column('issued_count', sa.Integer(), nullable=False),
    sa.Column('auto_issue', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'percent_off' AND value BETWEEN 1 AND 100) OR (kind = 'points_multiplier' AND value > 100) OR (kind IN ('amount_off', 'free_item') AND value > 0)", name=op.f('ck_coupon_templates_value_fits_kind')),
    sa.CheckConstraint("auto_issue IS NULL OR auto_issue IN ('signup', 'tier', 'birthday', 'anniversary', 'win_back')", name=op.f('ck_coupon_templates_known_auto_issue')),
    sa.CheckConstraint("kind IN ('percent_off', 'amount_off', 'free_item', 'points_multiplier')", name=op.f('ck_coupon_templates_known_kind')),
    sa.CheckConstraint('issued_count >= 0 AND (total_quantity IS NULL OR issued_count <= total_quantity)', name=op.f('ck_coupon_templates_issued_within_quantity')),
    sa.CheckConstraint('min_spend_minor >= 0', name=op.f('ck_coupon_templates_min_spend_not_negative')),
    sa.CheckConstraint('per_member_limit >= 1', name=op.f('ck_coupon_templates_per_member_limit_positive')),
    sa.CheckConstraint('valid_days IS NULL OR valid_days >= 0', name=op.f('ck_coupon_templates_valid_days_not_negative')),
    sa.CheckConstraint('valid_until IS NOT NULL OR valid_days IS NOT NULL', name=op.f('ck_coupon_templates_validity_bounded')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_templates')),
    sa.UniqueConstraint('code', name=op.f('uq_coupon_templates_code'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('issue_key', sa.String(length=160), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_store_id', sa.Integer(), nullable=True),
    sa.Column('used_order_id', sa.String(length=64), nullable=True),
    sa.Column('discount_minor', sa.BigInteger(), nullable=True),
    sa.Column('bonus_points', sa.Integer(), nullable=True),
    sa.CheckConstraint("source IN ('signup', 'tier', 'api', 'reward', 'campaign', 'birthday', 'anniversary', 'win_back')", name=op.f('ck_coupons_known_source')),
    sa.CheckConstraint("status IN ('issued', 'used', 'void')", name=op.f('ck_coupons_known_status')),
    sa.CheckConstraint('valid_until >= valid_from', name=op.f('ck_coupons_window_ordered')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupons_member_id_members')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupons_template_id_coupon_templates')),
    sa.ForeignKeyConstraint(['used_store_id'], ['stores.id'], name=op.f('fk_coupons_used_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code')),
    sa.UniqueConstraint('issue_key', name=op.f('uq_coupons_issue_key'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_member_usable', ['member_id', 'status', 'valid_until'], unique=False)
        batch_op.create_index('ix_coupons_template_member', ['template_id', 'member_id'], unique=False)

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('timezone')

    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_template_member')
        batch_op.drop_index('ix_coupons_member_usable')

    op.drop_table('coupons')
    op.drop_table('coupon_templates')
