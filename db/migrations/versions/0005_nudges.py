"""nudges

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Scheduled nudges go through the notifications outbox, which a sender now claims row by row
(status `sending`, `claimed_at`) so several bot processes can drain it: `deliver_after` holds one back (quiet
hours, the frequency cap) and `stale_after` drops it once its moment has passed. Members mute
topics of nudges in `member_mutes`. The index of `notifications.member_id` alone gives way to
`(member_id, sent_at)`, which serves the same lookups and costs one index less per row written;
`members.created_at` is indexed for the anniversary sweep, and the members a nudge can reach
(`ix_members_reachable`, partial) for every sweep.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_mutes',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("topic IN ('points', 'coupons', 'tier', 'greetings', 'offers')", name=op.f('ck_member_mutes_known_topic')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_mutes_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'topic', name=op.f('pk_member_mutes'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deliver_after', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stale_after', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_notifications_known_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_notifications_known_status'), "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')"
        )
        batch_op.create_index('ix_notifications_member_sent', ['member_id', 'sent_at'], unique=False)
        # member_id leads ix_notifications_member_sent: its own index only slowed inserts.
        batch_op.drop_index('ix_notifications_member_id')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_created_at', ['created_at'], unique=False)
        batch_op.create_index(
            'ix_members_reachable', ['id'], unique=False,
            postgresql_where=sa.text('telegram_id IS NOT NULL AND chat_blocked_at IS NULL'),
            sqlite_where=sa.text('telegram_id IS NOT NULL AND chat_blocked_at IS NULL'),
        )



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_reachable')
        batch_op.drop_index('ix_members_created_at')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_member_id', ['member_id'], unique=False)
        batch_op.drop_index('ix_notifications_member_sent')
        batch_op.drop_constraint(op.f('ck_notifications_known_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_notifications_known_status'), "status IN ('pending', 'sent', 'failed', 'skipped')"
        )
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('stale_after')
        batch_op.drop_column('deliver_after')

    op.drop_table('member_mutes')
