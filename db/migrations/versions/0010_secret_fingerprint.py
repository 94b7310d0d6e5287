"""secret key fingerprints

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

`secret_key_fingerprints`: the fingerprints of the SECRET_KEY(s) the encrypted columns are
written with, so a process started with another key refuses to start instead of splitting
members. A database upgraded from an earlier revision starts with none: the first process to
open it checks that its key reads the data already there, then records it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('secret_key_fingerprints',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_secret_key_fingerprints'))
    )


def downgrade() -> None:
    op.drop_table('secret_key_fingerprints')
