"""referrals: the program's terms, each referred friend, invite links opened

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

`members.referral_code`: the code of a member's invite link, made on first need.
`referral_programs`: the merchant's terms (one row). `referrals`: each friend who joined by a
member's link and what became of it. `referral_opens`: invite links opened by people not yet
members (nothing about them). Coupons may come from a referral, and members may mute news
about the friends they invited (`referrals` topic).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_SOURCES = "'signup', 'tier', 'api', 'reward', 'campaign', 'birthday', 'anniversary', 'win_back'"
_TOPICS = "'points', 'coupons', 'tier', 'greetings', 'offers'"
_STATUSES = "'joined', 'qualified', 'rewarded', 'voided', 'held', 'rejected', 'capped'"


def _points() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # A column and a unique index: on SQLite neither rebuilds the members table.
    op.add_column('members', sa.Column('referral_code', sa.String(length=8), nullable=True))
    op.create_index(op.f('ix_members_referral_code'), 'members', ['referral_code'], unique=True)
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coupons_known_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_coupons_known_source'), f"source IN ({_SOURCES}, 'referral')")
    with op.batch_alter_table('member_mutes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_member_mutes_known_topic'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_mutes_known_topic'), f"topic IN ({_TOPICS}, 'referrals')")
    op.create_table(
        'referral_programs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('friend_template_id', sa.Integer(), nullable=True),
        sa.Column('reward_points', _points(), nullable=False),
        sa.Column('reward_template_id', sa.Integer(), nullable=True),
        sa.Column('min_purchase_minor', sa.BigInteger(), nullable=False),
        sa.Column('hold_days', sa.Integer(), nullable=False),
        sa.Column('monthly_cap', sa.Integer(), nullable=True),
        sa.Column('total_cap', sa.Integer(), nullable=True),
        sa.Column('burst_size', sa.Integer(), nullable=False),
        sa.Column('burst_minutes', sa.Integer(), nullable=False),
        sa.Column('daily_join_limit', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_referral_programs_single_row')),
        sa.CheckConstraint('reward_points >= 0', name=op.f('ck_referral_programs_reward_points_not_negative')),
        sa.CheckConstraint('min_purchase_minor >= 0', name=op.f('ck_referral_programs_min_purchase_not_negative')),
        sa.CheckConstraint('hold_days >= 0', name=op.f('ck_referral_programs_hold_days_not_negative')),
        sa.CheckConstraint(
            'burst_size >= 2 AND burst_minutes >= 1 AND daily_join_limit >= 1',
            name=op.f('ck_referral_programs_guards_positive'),
        ),
        sa.ForeignKeyConstraint(
            ['friend_template_id'], ['coupon_templates.id'],
            name=op.f('fk_referral_programs_friend_template_id_coupon_templates'),
        ),
        sa.ForeignKeyConstraint(
            ['reward_template_id'], ['coupon_templates.id'],
            name=op.f('fk_referral_programs_reward_template_id_coupon_templates'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_programs')),
    )
    op.create_table(
        'referrals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('referrer_id', sa.Integer(), nullable=False),
        sa.Column('friend_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('suspicious', sa.Boolean(), nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('purchase_id', sa.Integer(), nullable=True),
        sa.Column('qualified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reward_points', _points(), nullable=False),
        sa.Column('reward_coupon_id', sa.Integer(), nullable=True),
        sa.Column('friend_coupon_id', sa.Integer(), nullable=True),
        sa.CheckConstraint(f'status IN ({_STATUSES})', name=op.f('ck_referrals_known_status')),
        sa.CheckConstraint('referrer_id <> friend_id', name=op.f('ck_referrals_not_self')),
        sa.ForeignKeyConstraint(['referrer_id'], ['members.id'], name=op.f('fk_referrals_referrer_id_members')),
        sa.ForeignKeyConstraint(['friend_id'], ['members.id'], name=op.f('fk_referrals_friend_id_members')),
        sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_referrals_purchase_id_purchases')),
        sa.ForeignKeyConstraint(
            ['reward_coupon_id'], ['coupons.id'], name=op.f('fk_referrals_reward_coupon_id_coupons')
        ),
        sa.ForeignKeyConstraint(
            ['friend_coupon_id'], ['coupons.id'], name=op.f('fk_referrals_friend_coupon_id_coupons')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
        sa.UniqueConstraint('friend_id', name=op.f('uq_referrals_friend_id')),
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_referrer_joined', ['referrer_id', 'joined_at'], unique=False)
        batch_op.create_index('ix_referrals_status_hold', ['status', 'hold_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_purchase_id'), ['purchase_id'], unique=False)
    op.create_table(
        'referral_opens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('referrer_id', sa.Integer(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['referrer_id'], ['members.id'], name=op.f('fk_referral_opens_referrer_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_opens')),
    )
    with op.batch_alter_table('referral_opens', schema=None) as batch_op:
        batch_op.create_index('ix_referral_opens_referrer_at', ['referrer_id', 'opened_at'], unique=False)


def downgrade() -> None:
    op.drop_table('referral_opens')
    op.drop_table('referrals')
    op.drop_table('referral_programs')
    op.execute("DELETE FROM member_mutes WHERE topic = 'referrals'")
    with op.batch_alter_table('member_mutes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_member_mutes_known_topic'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_mutes_known_topic'), f"topic IN ({_TOPICS})")
    op.execute("UPDATE coupons SET source = 'api' WHERE source = 'referral'")
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coupons_known_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_coupons_known_source'), f"source IN ({_SOURCES})")
    op.drop_index(op.f('ix_members_referral_code'), table_name='members')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('referral_code')
