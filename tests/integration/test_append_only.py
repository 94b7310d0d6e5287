"""The ledger and the audit trail are append-only in the database itself (db/append_only.py):
through the program's own connection, UPDATE and DELETE on `ledger_entries`, `lot_debits` and
`audit_events` are refused with a message that says so, whether they come as SQL or through the
ORM, except an UPDATE that only sets `ledger_entries.reason` or `audit_events.detail` to NULL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import Executable, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from db import append_only
from db.engine import create_engine
from db.migrate import downgrade, upgrade
from db.models import AuditEvent, Base, LedgerEntry, LotDebit, Member
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.ledger import credit, debit
from tests.utils.members import till_member

GUARDED = {guarded.table: guarded for guarded in append_only.GUARDED}
MODELS = {"ledger_entries": LedgerEntry, "lot_debits": LotDebit, "audit_events": AuditEvent}


async def history(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> Member:
    """A member with an earn, a redemption (a lot debit) and audit events, committed."""
    member = await till_member(uow_factory, clock)  # audited: member.enrol
    now = clock.now()
    async with uow_factory() as uow:
        locked = await uow.lock_member(member.id)
        await credit(uow, locked, points=100, kind="earn", at=now, expires_at=now + timedelta(days=400),
                     actor="till", reason="order A-1")
        await debit(uow, locked, points=30, kind="redeem", at=now, actor="member")
        uow.audit.record(at=now, actor="apikey:1", action="points.adjust", member_id=member.id,
                         detail="goodwill for Ms Wang, +86 138 0013 8000")
        await uow.commit()
    return member


async def snapshot(uow_factory: UnitOfWorkFactory) -> dict[str, list[tuple[Any, ...]]]:
    async with uow_factory() as uow:
        return {
            name: [tuple(row) for row in await uow.session.execute(select(model.__table__).order_by(model.id))]
            for name, model in MODELS.items()
        }


async def refused(uow_factory: UnitOfWorkFactory, table: str, change: Callable[[UnitOfWork], Awaitable[Any]]) -> str:
    """Run `change` and commit; it must be refused by the table's guard. Returns the message."""
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError) as raised:
            await change(uow)
            await uow.commit()
    message = str(raised.value.orig)
    assert message.startswith(f"{table} is append-only"), message
    return message


def statement(sql: Executable) -> Callable[[UnitOfWork], Awaitable[Any]]:
    async def run(uow: UnitOfWork) -> None:
        await uow.session.execute(sql)

    return run


SQL_CHANGES = {
    "ledger points": ("ledger_entries", update(LedgerEntry).values(points=LedgerEntry.points + 1)),
    "ledger balance_after": ("ledger_entries", update(LedgerEntry).values(balance_after=0)),
    "ledger reason rewritten": ("ledger_entries", update(LedgerEntry).values(reason="nothing to see")),
    "ledger reason emptied with another column": (
        "ledger_entries", update(LedgerEntry).values(reason=None, actor="someone else")),
    "ledger delete": ("ledger_entries", delete(LedgerEntry)),
    "lot debit points": ("lot_debits", update(LotDebit).values(points=LotDebit.points + 1)),
    "lot debit delete": ("lot_debits", delete(LotDebit)),
    "audit actor": ("audit_events", update(AuditEvent).values(actor="nobody")),
    "audit detail rewritten": ("audit_events", update(AuditEvent).values(detail="")),
    "audit member unlinked": ("audit_events", update(AuditEvent).values(member_id=None)),
    "audit delete": ("audit_events", delete(AuditEvent)),
    "raw delete": ("audit_events", text("DELETE FROM audit_events WHERE id > 0")),
}


@pytest.mark.parametrize("name", SQL_CHANGES)
async def test_updates_and_deletes_are_refused(uow_factory: UnitOfWorkFactory, clock: FixedClock, name: str) -> None:
    await history(uow_factory, clock)
    before = await snapshot(uow_factory)
    table, sql = SQL_CHANGES[name]
    message = await refused(uow_factory, table, statement(sql))
    assert "never updated or deleted" in message
    assert await snapshot(uow_factory) == before


async def test_changes_through_the_orm_are_refused(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    member = await history(uow_factory, clock)
    before = await snapshot(uow_factory)

    async def edit_entry(uow: UnitOfWork) -> None:
        entry = await uow.session.scalar(select(LedgerEntry).where(LedgerEntry.member_id == member.id).limit(1))
        assert entry is not None
        entry.points = 1_000_000

    async def drop_debit(uow: UnitOfWork) -> None:
        await uow.session.delete(await uow.session.scalar(select(LotDebit).limit(1)))

    async def drop_audit(uow: UnitOfWork) -> None:
        await uow.session.delete(await uow.session.scalar(select(AuditEvent).limit(1)))

    await refused(uow_factory, "ledger_entries", edit_entry)
    await refused(uow_factory, "lot_debits", drop_debit)
    await refused(uow_factory, "audit_events", drop_audit)
    assert await snapshot(uow_factory) == before


async def test_truncate_is_refused_on_postgresql(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE")
    await history(uow_factory, clock)
    for table in GUARDED:
        await refused(uow_factory, table, statement(text(f"TRUNCATE {table} CASCADE")))


async def test_erasure_may_empty_the_free_text_and_nothing_else(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    await history(uow_factory, clock)
    before = await snapshot(uow_factory)
    async with uow_factory() as uow:
        await uow.session.execute(update(LedgerEntry).values(reason=None))
        await uow.session.execute(update(AuditEvent).values(detail=None))
        await uow.commit()
    after = await snapshot(uow_factory)
    reason, detail = LedgerEntry.__table__.c.keys().index("reason"), AuditEvent.__table__.c.keys().index("detail")
    assert all(row[reason] is None for row in after["ledger_entries"])
    assert all(row[detail] is None for row in after["audit_events"])
    # Everything else as it was.
    assert [row[:reason] + row[reason + 1 :] for row in after["ledger_entries"]] == [
        row[:reason] + row[reason + 1 :] for row in before["ledger_entries"]
    ]
    assert [row[:detail] + row[detail + 1 :] for row in after["audit_events"]] == [
        row[:detail] + row[detail + 1 :] for row in before["audit_events"]
    ]
    assert after["lot_debits"] == before["lot_debits"]


def test_the_guard_compares_every_column_of_the_models() -> None:
    # SQLite's trigger lists the columns that must stay unchanged: a column added to a guarded
    # table needs a migration that re-creates the triggers (and this list updated).
    for table, guarded in GUARDED.items():
        assert guarded.columns == tuple(Base.metadata.tables[table].c.keys()), table


# --- the property: refused unless the only change is the free text set to NULL ----------------

LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)
CHANGES: dict[str, dict[str, Any]] = {
    # A different value for each column that may be changed without breaking a constraint.
    "ledger_entries": {"at": LATER, "kind": "adjust", "points": 7, "balance_after": 7, "actor": "someone",
                       "reason": "rewritten"},
    "audit_events": {"at": LATER, "actor": "someone", "action": "other", "member_id": None, "detail": "rewritten"},
    "lot_debits": {"points": 99},
}


@hypothesis.settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_an_update_is_allowed_only_when_it_empties_the_free_text_alone(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, data: st.DataObject
) -> None:
    table = data.draw(st.sampled_from(sorted(CHANGES)), label="table")
    guarded, model = GUARDED[table], MODELS[table]
    changed = data.draw(st.sets(st.sampled_from(sorted(CHANGES[table]))), label="other columns changed")
    values = {column: CHANGES[table][column] for column in changed}
    emptied = guarded.erasable is not None and data.draw(st.booleans(), label="free text set to NULL")
    if emptied:
        values[guarded.erasable] = None
    hypothesis.assume(values)
    allowed = set(values) == {guarded.erasable} and emptied
    async with uow_factory() as uow:
        empty = await uow.session.scalar(select(LotDebit.id).limit(1)) is None
    if empty:  # the first example writes the rows every example then tries to change
        await history(uow_factory, clock)
    async with uow_factory() as uow:
        row_id = await uow.session.scalar(select(model.id).order_by(model.id.desc()).limit(1))
        try:
            async with uow.session.begin_nested():
                result = await uow.session.execute(update(model).where(model.id == row_id).values(values))
        except IntegrityError as error:
            assert not allowed, f"{values} was refused: {error.orig}"
            assert str(error.orig).startswith(f"{table} is append-only")
        else:
            assert allowed, f"{values} went through"
            assert result.rowcount == 1  # type: ignore[attr-defined]
        # Never committed: the next example finds the rows as they were.


# --- the migration --------------------------------------------------------------------------------


async def test_the_migration_installs_and_removes_the_guard(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'guard.sqlite3'}")
    delete_audit = text("DELETE FROM audit_events")
    add_audit = text("INSERT INTO audit_events (at, actor, action) VALUES ('2026-11-24 12:00:00', 'x', 'y')")
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(add_audit)
        with pytest.raises(IntegrityError, match="audit_events is append-only"):
            async with engine.begin() as connection:
                await connection.execute(delete_audit)
        await downgrade(engine, "0012-1")
        async with engine.begin() as connection:  # unguarded below 0012
            await connection.execute(delete_audit)
            await connection.execute(add_audit)
        await upgrade(engine)
        with pytest.raises(IntegrityError, match="audit_events is append-only"):
            async with engine.begin() as connection:
                await connection.execute(delete_audit)
    finally:
        await engine.dispose()
