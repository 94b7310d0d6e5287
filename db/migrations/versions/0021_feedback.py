"""feedback surveys (NPS) and the members' feedback threads

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

`feedback_surveys`: one per purchase at a store that owed a survey (at most one per member per
FEEDBACK_MIN_DAYS), with the score, the comment and the detractor's consent to be contacted.
`feedback_messages`: what members wrote with /feedback and the staff's replies. Members may
mute the new topic `feedback`.

Downgrading drops both tables and every mute of that topic.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

TOPICS = "'points', 'coupons', 'tier', 'greetings', 'offers', 'referrals'"


def upgrade() -> None:
    op.create_table(
        'feedback_surveys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('purchase_id', sa.Integer(), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('notification_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('score', sa.SmallInteger(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('contact_ok', sa.Boolean(), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('points_awarded', sa.Integer(), nullable=False),
        sa.CheckConstraint('score IS NULL OR score BETWEEN 0 AND 10', name=op.f('ck_feedback_surveys_score_in_range')),
        sa.ForeignKeyConstraint(
            ['member_id'], ['members.id'], name=op.f('fk_feedback_surveys_member_id_members'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['notification_id'], ['notifications.id'],
            name=op.f('fk_feedback_surveys_notification_id_notifications'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['purchase_id'], ['purchases.id'], name=op.f('fk_feedback_surveys_purchase_id_purchases'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['staff_id'], ['staff.id'], name=op.f('fk_feedback_surveys_staff_id_staff'), ondelete='SET NULL'
        ),
        sa.ForeignKeyConstraint(
            ['store_id'], ['stores.id'], name=op.f('fk_feedback_surveys_store_id_stores'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_surveys')),
        sa.UniqueConstraint('purchase_id', name=op.f('uq_feedback_surveys_purchase_id')),
    )
    op.create_index('ix_feedback_surveys_created_store', 'feedback_surveys', ['created_at', 'store_id'])
    op.create_index('ix_feedback_surveys_member_created', 'feedback_surveys', ['member_id', 'created_at'])
    op.create_table(
        'feedback_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('reply_to_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['member_id'], ['members.id'], name=op.f('fk_feedback_messages_member_id_members'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['reply_to_id'], ['feedback_messages.id'],
            name=op.f('fk_feedback_messages_reply_to_id_feedback_messages'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['staff_id'], ['staff.id'], name=op.f('fk_feedback_messages_staff_id_staff'), ondelete='SET NULL'
        ),
        sa.ForeignKeyConstraint(
            ['store_id'], ['stores.id'], name=op.f('fk_feedback_messages_store_id_stores'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_messages')),
    )
    op.create_index('ix_feedback_messages_member', 'feedback_messages', ['member_id', 'id'])
    with op.batch_alter_table('member_mutes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_member_mutes_known_topic'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_mutes_known_topic'), f"topic IN ({TOPICS}, 'feedback')")


def downgrade() -> None:
    op.execute("DELETE FROM member_mutes WHERE topic = 'feedback'")
    with op.batch_alter_table('member_mutes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_member_mutes_known_topic'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_mutes_known_topic'), f"topic IN ({TOPICS})")
    op.drop_index('ix_feedback_messages_member', table_name='feedback_messages')
    op.drop_table('feedback_messages')
    op.drop_index('ix_feedback_surveys_member_created', table_name='feedback_surveys')
    op.drop_index('ix_feedback_surveys_created_store', table_name='feedback_surveys')
    op.drop_table('feedback_surveys')
