"""covering indexes for a day's roll-up

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

The dashboard builds today's numbers live on every view: a day's purchases, ledger movements
and lots earned. The indexes on their times now also hold the columns those sums read, so a
busy day is read from the index instead of one heap page per row.
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_COVERING = [
    ('ix_purchases_purchased_at', 'purchases', ['purchased_at'], ['currency', 'store_id', 'member_id', 'amount_minor']),
    ('ix_ledger_entries_at', 'ledger_entries', ['at'], ['kind', 'points']),
    ('ix_point_lots_earned_at', 'point_lots', ['earned_at'], ['points']),
]


def upgrade() -> None:
    for name, table, key, covered in _COVERING:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, key + covered, unique=False)


def downgrade() -> None:
    for name, table, key, _ in _COVERING:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, key, unique=False)
