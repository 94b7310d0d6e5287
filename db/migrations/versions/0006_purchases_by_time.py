"""purchases by time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

The win-back sweep reads only the purchases of the stretch of days in which members lapse, not
every purchase ever made: `purchases.purchased_at` gets an index of its own.
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_purchased_at', ['purchased_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_purchased_at')
