"""console sign-in links and sessions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

`console_links`: one-time links that sign a staff member in to the web console (the hash of the
token, never the token), and `console_sessions`: the browsers signed in with them (the hash of
the cookie, the session's CSRF secret and language). Both belong to a staff row and go with it.

Downgrading drops both: everyone signed in to the console is signed out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_links',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_console_links_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_links'))
    )
    op.create_index(op.f('ix_console_links_staff_id'), 'console_links', ['staff_id'], unique=False)
    op.create_table('console_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('csrf_secret', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_console_sessions_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions'))
    )
    op.create_index(op.f('ix_console_sessions_staff_id'), 'console_sessions', ['staff_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_console_sessions_staff_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_index(op.f('ix_console_links_staff_id'), table_name='console_links')
    op.drop_table('console_links')
