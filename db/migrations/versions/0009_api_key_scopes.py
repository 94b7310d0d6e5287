"""api key scopes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

API keys get scopes (what they may call), an optional expiry and the time they were last used.
Keys made before this revision keep `scopes` NULL, which means every scope: they go on working
exactly as before, and `loyalty apikey list` flags them so the merchant narrows them. Hand
adjustments of points get a partial index, for the per-key daily cap that sums a key's
adjustments of the day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_ledger_entries_adjustments',
        'ledger_entries',
        ['actor', 'at'],
        unique=False,
        postgresql_where=sa.text("kind = 'adjust'"),
        sqlite_where=sa.text("kind = 'adjust'"),
    )


def downgrade() -> None:
    op.drop_index('ix_ledger_entries_adjustments', table_name='ledger_entries')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')
