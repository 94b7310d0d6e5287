"""store geography

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Stores get an address, coordinates, opening hours (JSON, per weekday in the store's time zone)
and `geo_cell`, the indexed grid cell of loyalty/geo.py that nearest-store searches read. Every
new column is nullable: existing stores stay valid and simply never appear in a nearest search
until they get coordinates. The check keeps coordinates and cell together.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('geo_cell', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('opening_hours', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_stores_coordinates_complete'),
            "(latitude IS NULL AND longitude IS NULL AND geo_cell IS NULL) OR "
            "(latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180 AND geo_cell IS NOT NULL)",
        )
        batch_op.create_index(batch_op.f('ix_stores_geo_cell'), ['geo_cell'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stores_geo_cell'))
        batch_op.drop_constraint(op.f('ck_stores_coordinates_complete'), type_='check')
        batch_op.drop_column('opening_hours')
        batch_op.drop_column('geo_cell')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
        batch_op.drop_column('address')
