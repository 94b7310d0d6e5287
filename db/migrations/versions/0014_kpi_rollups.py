"""KPI roll-ups, tier moves and anonymous sales

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The dashboard's numbers (loyalty/kpis): `kpi_daily` (additive numbers per local day and store),
`kpi_snapshots` (numbers as they stood at a day's end), `kpi_bitmaps` (the members behind the
distinct counts of a day, as roaring bitmaps) and `kpi_days` (the days built). They are derived
data: dropping them loses nothing the roll-up job cannot build again.

`tier_changes` records every move between tiers, for the tier-moves chart. Moves made before it
existed are taken from the tier_upgraded / tier_downgraded notifications still kept (those of an
erased member were deleted with the rest of their messages, so their moves are not recovered).

Indexes on `ledger_entries.at`, `refunds.refunded_at`, `point_lots.earned_at` and (partial)
`members.erased_at`: a day's roll-up reads one day of each. Created without batch mode:
rebuilding the append-only ledger on SQLite would drop its triggers.

`anonymous_sales`: what each till sold to non-members per local day (POST /api/v1/sales), for
the members' share of sales.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tier_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('from_rank', sa.Integer(), nullable=False),
    sa.Column('to_rank', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('from_rank <> to_rank', name=op.f('ck_tier_changes_moves')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_tier_changes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_changes'))
    )
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.create_index('ix_tier_changes_at', ['at'], unique=False)
        batch_op.create_index('ix_tier_changes_member_at', ['member_id', 'at'], unique=False)

    op.create_table('anonymous_sales',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('sales', sa.Integer(), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_by', sa.String(length=80), nullable=False),
    sa.CheckConstraint('amount_minor >= 0 AND sales >= 0', name=op.f('ck_anonymous_sales_not_negative')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_anonymous_sales_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anonymous_sales'))
    )
    with op.batch_alter_table('anonymous_sales', schema=None) as batch_op:
        batch_op.create_index(
            'uq_anonymous_sales_store_day', ['store_id', 'day'], unique=True,
            postgresql_where=sa.text('store_id IS NOT NULL'), sqlite_where=sa.text('store_id IS NOT NULL'),
        )
        batch_op.create_index(
            'uq_anonymous_sales_online_day', ['day'], unique=True,
            postgresql_where=sa.text('store_id IS NULL'), sqlite_where=sa.text('store_id IS NULL'),
        )

    op.create_table('kpi_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_kpi_days'))
    )
    op.create_table('kpi_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scope', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'scope', 'metric', name=op.f('pk_kpi_daily'))
    )
    op.create_table('kpi_snapshots',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'metric', name=op.f('pk_kpi_snapshots'))
    )
    op.create_table('kpi_bitmaps',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scope', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('bitmap', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'scope', 'name', name=op.f('pk_kpi_bitmaps'))
    )
    op.create_index('ix_ledger_entries_at', 'ledger_entries', ['at'], unique=False)
    op.create_index('ix_refunds_refunded_at', 'refunds', ['refunded_at'], unique=False)
    op.create_index('ix_point_lots_earned_at', 'point_lots', ['earned_at'], unique=False)
    op.create_index(
        'ix_members_erased_at', 'members', ['erased_at'], unique=False,
        postgresql_where=sa.text('erased_at IS NOT NULL'), sqlite_where=sa.text('erased_at IS NOT NULL'),
    )
    _backfill_tier_changes()


def _backfill_tier_changes() -> None:
    bind = op.get_bind()
    ranks = {code: rank for code, rank in bind.execute(sa.text("SELECT code, rank FROM tiers"))}
    notifications = bind.execute(
        sa.text(
            "SELECT member_id, payload, created_at FROM notifications"
            " WHERE kind IN ('tier_upgraded', 'tier_downgraded') ORDER BY id"
        ).columns(sa.column('member_id', sa.Integer()), sa.column('payload', sa.JSON()), sa.column('created_at', sa.DateTime(timezone=True)))
    )
    rows: list[dict[str, Any]] = []
    for member_id, payload, created_at in notifications:
        old, new = ranks.get((payload or {}).get("old")), ranks.get((payload or {}).get("new"))
        # A tier renamed or removed since: its rank is unknown, and a guess would skew the chart.
        if old is None or new is None or old == new:
            continue
        rows.append({"member_id": member_id, "from_rank": old, "to_rank": new, "at": created_at})
    if rows:
        table = sa.table(
            'tier_changes', sa.column('member_id', sa.Integer()), sa.column('from_rank', sa.Integer()),
            sa.column('to_rank', sa.Integer()), sa.column('at', sa.DateTime(timezone=True)),
        )
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index('ix_members_erased_at', table_name='members', sqlite_where=sa.text('erased_at IS NOT NULL'))
    op.drop_index('ix_point_lots_earned_at', table_name='point_lots')
    op.drop_index('ix_refunds_refunded_at', table_name='refunds')
    op.drop_index('ix_ledger_entries_at', table_name='ledger_entries')
    op.drop_table('kpi_bitmaps')
    op.drop_table('kpi_snapshots')
    op.drop_table('kpi_daily')
    op.drop_table('kpi_days')
    with op.batch_alter_table('anonymous_sales', schema=None) as batch_op:
        batch_op.drop_index('uq_anonymous_sales_online_day', sqlite_where=sa.text('store_id IS NULL'))
        batch_op.drop_index('uq_anonymous_sales_store_day', sqlite_where=sa.text('store_id IS NOT NULL'))
    op.drop_table('anonymous_sales')
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_tier_changes_member_at')
        batch_op.drop_index('ix_tier_changes_at')
    op.drop_table('tier_changes')
