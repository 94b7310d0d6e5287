"""staff tied to a store, the cashier role, and who rang a purchase up

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

`staff.store_id`: the store a staff member serves at (the pocket till in the Mini App records
their sales there; feedback about that store reaches them). `staff.role` may now be `cashier`:
someone who works the till and nothing else. `purchases.staff_id`: the staff member whose till
recorded the purchase, when it was the Mini App's; a till calling the API leaves it empty.

Downgrading drops both columns and turns cashiers into nothing: they are removed, since the old
roles would give them more than the till.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_store_id'), ['store_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_staff_store_id_stores'), 'stores', ['store_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.drop_constraint(op.f('ck_staff_known_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_staff_known_role'), "role IN ('owner', 'marketer', 'cashier')")
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_purchases_staff_id_staff'), 'staff', ['staff_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_purchases_staff_id_staff'), type_='foreignkey')
        batch_op.drop_column('staff_id')
    op.execute("DELETE FROM staff WHERE role = 'cashier'")
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_staff_known_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_staff_known_role'), "role IN ('owner', 'marketer')")
        batch_op.drop_constraint(batch_op.f('fk_staff_store_id_stores'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_staff_store_id'))
        batch_op.drop_column('store_id')
