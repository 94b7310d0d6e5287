"""members' first names, encrypted

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

`members.first_name_encrypted`: the Telegram first name the member had when they last wrote to
the bot, encrypted like the phone and the birthday, so a broadcast can greet them by name
(`{{ name }}`). Existing members have none until they next write. The check constraint that
keeps an erased member's row anonymous now names it too.

Downgrading drops the names: they are only a copy of what Telegram shows, taken again the next
time each member writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PERSONAL = (
    "telegram_id IS NULL AND phone_index IS NULL AND phone_encrypted IS NULL"
    " AND birthday_month IS NULL AND birthday_day IS NULL AND birthday_encrypted IS NULL"
    " AND city IS NULL AND start_payload IS NULL AND timezone IS NULL AND points_balance = 0"
)
ERASED_ROW_EMPTY_BEFORE = f"erased_at IS NULL OR ({PERSONAL})"
ERASED_ROW_EMPTY = f"erased_at IS NULL OR ({PERSONAL} AND first_name_encrypted IS NULL)"


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_name_encrypted', sa.Text(), nullable=True))
        batch_op.drop_constraint(op.f('ck_members_erased_row_empty'), type_='check')
        batch_op.create_check_constraint(op.f('ck_members_erased_row_empty'), ERASED_ROW_EMPTY)


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_members_erased_row_empty'), type_='check')
        batch_op.drop_column('first_name_encrypted')
        batch_op.create_check_constraint(op.f('ck_members_erased_row_empty'), ERASED_ROW_EMPTY_BEFORE)
