"""members blocked by staff

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

`members.blocked_at`: when an owner blocked the member in the console (loyalty/member_care.py).
A blocked member earns and redeems nothing until unblocked; their points and history stay.

Downgrading drops the column: every blocked member is unblocked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('blocked_at')
