"""member erasure and birthdays at rest

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

Members' data rights (loyalty/erasure.py): `members.erased_at` marks a member whose personal data
was erased; the row stays, anonymous, for the ledger and purchases that point to it, and a check
constraint keeps anything personal off it. What was left of their points is forfeited with a
ledger entry of the new kind `forfeit`.

Birthdays are no longer stored in plain: `birthday_month` and `birthday_day` (indexed, for the
birthday sweep and audiences) and the full date encrypted in `birthday_encrypted`, like the
phone. Existing birthdays are encrypted here, with the key `db.migrate.upgrade` hands in
(`loyalty migrate` and `loyalty run` pass the program's); a database with birthdays and no key
refuses to migrate rather than lose them.

Rewards redeemed in the chat were recorded with the actor `chat:<Telegram id>`, which erasure
could not remove from the append-only ledger later; they become `chat`, like every other action
a member takes in the chat.

`idempotency_records.member_id` links a kept answer to the member the request was about, so
erasing them deletes it (its fingerprint hashes a body that may hold their phone); the answers
kept so far are linked here from the member number they name or the scope they were kept under.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BATCH = 1000
KINDS = "'earn', 'bonus', 'redeem', 'expire', 'adjust', 'clawback', 'reversal'"
BIRTHDAY_MONTH_DAY = (
    "(birthday_month IS NULL AND birthday_day IS NULL) OR "
    "(birthday_month BETWEEN 1 AND 12 AND birthday_day BETWEEN 1 AND 31)"
)
ERASED_ROW_EMPTY = (
    "erased_at IS NULL OR (telegram_id IS NULL AND phone_index IS NULL AND phone_encrypted IS NULL"
    " AND birthday_month IS NULL AND birthday_day IS NULL AND birthday_encrypted IS NULL"
    " AND city IS NULL AND start_payload IS NULL AND timezone IS NULL AND points_balance = 0)"
)

members = sa.table(
    'members',
    sa.column('id', sa.Integer),
    sa.column('birthday', sa.Date),
    sa.column('birthday_month', sa.SmallInteger),
    sa.column('birthday_day', sa.SmallInteger),
    sa.column('birthday_encrypted', sa.Text),
)


def _cipher(purpose: str, rows: int) -> Any:
    cipher = context.config.attributes.get('cipher')
    if cipher is None:
        raise RuntimeError(
            f"revision 0011 must {purpose} {rows} birthdays and has no SECRET_KEY: "
            "run `loyalty migrate` with the program's SECRET_KEY set"
        )
    _check_key(cipher)
    return cipher


def _check_key(cipher: Any) -> None:
    """Encrypt nothing with a key the database was not written with: the fingerprints it
    recorded, or else a stored phone number, must match one of the cipher's keys."""
    bind = op.get_bind()
    recorded = {row[0] for row in bind.execute(sa.text('SELECT fingerprint FROM secret_key_fingerprints'))}
    if recorded:
        readable = recorded <= cipher.fingerprints
    else:
        token = bind.execute(
            sa.text('SELECT phone_encrypted FROM members WHERE phone_encrypted IS NOT NULL LIMIT 1')
        ).scalar()
        try:
            readable = token is None or bool(cipher.decrypt(token))
        except ValueError:
            readable = False
    if not readable:
        raise RuntimeError(
            "revision 0011 encrypts birthdays, and SECRET_KEY is not the key this database was "
            "written with: run `loyalty migrate` with the SECRET_KEY it was written with"
        )


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birthday_month', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('birthday_day', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('birthday_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    _encrypt_birthdays()
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('birthday')
        batch_op.create_index('ix_members_birthday', ['birthday_month', 'birthday_day'], unique=False)
        batch_op.create_check_constraint(op.f('ck_members_birthday_month_day'), BIRTHDAY_MONTH_DAY)
        batch_op.create_check_constraint(op.f('ck_members_erased_row_empty'), ERASED_ROW_EMPTY)

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_entries_known_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entries_known_kind'), f"kind IN ({KINDS}, 'forfeit')")
    op.execute("UPDATE ledger_entries SET actor = 'chat' WHERE actor LIKE 'chat:%'")

    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_idempotency_records_member_id'), ['member_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_idempotency_records_member_id_members'), 'members', ['member_id'], ['id']
        )
    _link_answers_to_members()


def _encrypt_birthdays() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(members.c.id, members.c.birthday).where(members.c.birthday.is_not(None))).all()
    if not rows:
        return
    cipher = _cipher('encrypt', len(rows))
    update = (
        members.update()
        .where(members.c.id == sa.bindparam('row_id'))
        .values(
            birthday_month=sa.bindparam('month'),
            birthday_day=sa.bindparam('day'),
            birthday_encrypted=sa.bindparam('token'),
        )
    )
    for start in range(0, len(rows), BATCH):
        bind.execute(
            update,
            [
                {'row_id': row_id, 'month': born.month, 'day': born.day, 'token': cipher.encrypt(born.isoformat())}
                for row_id, born in rows[start : start + BATCH]
            ],
        )


def _link_answers_to_members() -> None:
    """The answers kept so far, linked to the member they are about: purchases, refunds and
    adjustments name the member number in the answer, bonuses and chat redemptions in the scope."""
    if op.get_bind().dialect.name == 'postgresql':
        number = "response->>'member_number'"
        after_colon = "split_part(scope, ':', 2)"
    else:
        number = "json_extract(response, '$.member_number')"
        after_colon = "substr(scope, instr(scope, ':') + 1)"
    op.execute(
        "UPDATE idempotency_records SET member_id = "
        f"(SELECT members.id FROM members WHERE members.member_number = {number}) WHERE {number} IS NOT NULL"
    )
    op.execute(
        "UPDATE idempotency_records SET member_id = "
        f"(SELECT members.id FROM members WHERE CAST(members.id AS TEXT) = {after_colon}) "
        "WHERE scope LIKE 'bonus:%' OR scope LIKE 'member:%'"
    )
    op.execute(
        "UPDATE idempotency_records SET member_id = "
        f"(SELECT members.id FROM members WHERE CAST(members.telegram_id AS TEXT) = {after_colon}) "
        "WHERE scope LIKE 'chat:%'"
    )


def downgrade() -> None:
    bind = op.get_bind()
    forfeits = bind.scalar(sa.text("SELECT count(*) FROM ledger_entries WHERE kind = 'forfeit'"))
    if forfeits:
        raise RuntimeError(
            f"cannot downgrade below 0011: {forfeits} ledger entries record points forfeited at an "
            "erasure, which the older schema has no kind for"
        )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_idempotency_records_member_id_members'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_idempotency_records_member_id'))
        batch_op.drop_column('member_id')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_entries_known_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entries_known_kind'), f"kind IN ({KINDS})")

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_members_erased_row_empty'), type_='check')
        batch_op.drop_constraint(op.f('ck_members_birthday_month_day'), type_='check')
        batch_op.drop_index('ix_members_birthday')
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
    _decrypt_birthdays()
    # Erased members stay anonymous rows; only the mark goes.
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('birthday_encrypted')
        batch_op.drop_column('birthday_day')
        batch_op.drop_column('birthday_month')


def _decrypt_birthdays() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(members.c.id, members.c.birthday_encrypted).where(members.c.birthday_encrypted.is_not(None))
    ).all()
    if not rows:
        return
    cipher = _cipher('decrypt', len(rows))
    update = members.update().where(members.c.id == sa.bindparam('row_id')).values(birthday=sa.bindparam('born'))
    for start in range(0, len(rows), BATCH):
        bind.execute(
            update,
            [
                {'row_id': row_id, 'born': date.fromisoformat(cipher.decrypt(token))}
                for row_id, token in rows[start : start + BATCH]
            ],
        )
