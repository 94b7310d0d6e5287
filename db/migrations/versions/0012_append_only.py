"""append-only ledger and audit trail

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

Triggers that make the database refuse UPDATE and DELETE on `ledger_entries`, `lot_debits` and
`audit_events` (and TRUNCATE on PostgreSQL), except an UPDATE that only sets
`ledger_entries.reason` or `audit_events.detail` to NULL, for a member's erasure. The DDL lives
in db/append_only.py, which the test fixture uses too; see its docstring. On SQLite these
triggers are dropped with their table: a later migration that rebuilds one of these tables in
batch mode must create them again.
"""

from __future__ import annotations

from alembic import op

from db import append_only

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in append_only.install(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in append_only.uninstall(op.get_bind().dialect.name):
        op.execute(statement)
