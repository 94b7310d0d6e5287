"""points bigint

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Points and balances become 64-bit: a 32-bit `points_balance` or `balance_after` overflowed on
PostgreSQL at 2,147,483,647 (two large purchases for one member). SQLite's INTEGER already holds
64 bits whatever the declared type, and changing a declared type there rebuilds the table:
dropping the old table under enforced foreign keys would fire its ON DELETE actions (a rebuilt
`purchases` would lose every purchase line). So the columns change on PostgreSQL only, and the
models declare them INTEGER on SQLite (db.models.Points).

On PostgreSQL, ALTER COLUMN TYPE rewrites each table under an exclusive lock: on a large
ledger, run it in a quiet hour. Downgrading refuses while a value does not fit in 32 bits.

`coupons.used_request_hash` remembers what redeemed a coupon, so the same order sent again
with another amount, store or member is refused instead of answered as a replay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# (table, column, nullable)
POINTS_COLUMNS = (
    ('members', 'points_balance', False),
    ('earning_rules', 'points', True),
    ('purchases', 'points_earned', False),
    ('refunds', 'points_clawed_back', False),
    ('refunds', 'shortfall_points', False),
    ('rewards', 'points_price', False),
    ('reward_redemptions', 'points', False),
    ('ledger_entries', 'points', False),
    ('ledger_entries', 'balance_after', False),
    ('point_lots', 'points', False),
    ('point_lots', 'remaining', False),
    ('lot_debits', 'points', False),
    ('coupons', 'bonus_points', True),
)


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column, nullable in POINTS_COLUMNS:
        op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=nullable)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_request_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35+) drops a column in place, where a batch would rebuild the
    # table (see above).
    op.drop_column('coupons', 'used_request_hash')
    _retype(sa.BigInteger(), sa.Integer())
