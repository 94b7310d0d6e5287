"""an optional picture of each reward and coupon

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

`rewards.image_url` and `coupon_templates.image_url`: an https address of a picture the
merchant hosts, shown in the console's lists and sent with the reward or coupon in the chat.
Existing rows have none.

Downgrading drops the addresses; the pictures themselves were never stored here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

TABLES = ('rewards', 'coupon_templates')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('image_url', sa.String(length=500), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('image_url')
