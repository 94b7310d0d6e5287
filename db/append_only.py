"""The database's own guard on the append-only tables: triggers that refuse UPDATE and DELETE
on the ledger (`ledger_entries`, `lot_debits`) and the audit trail (`audit_events`), so that
neither a bug nor a hand edit through the program's own database role can rewrite history.

One UPDATE is let through, for a member's erasure: setting `ledger_entries.reason` or
`audit_events.detail` (the free text that may name the member) to NULL and changing nothing
else in the row. `lot_debits` takes no UPDATE at all. On PostgreSQL TRUNCATE is refused too,
and the triggers fire whatever `session_replication_role` says (ENABLE ALWAYS).

Both databases report a refusal as an integrity error (SQLite: a constraint failure raised by
the trigger; PostgreSQL: SQLSTATE 23001 restrict_violation) whose message starts with
"<table> is append-only".

Migration 0012 installs exactly this DDL. A later change to these statements, or a column
added to a guarded table (SQLite's trigger compares the columns one by one), needs a migration
of its own that drops and re-creates the triggers; `tests/integration/test_append_only.py`
checks that the column lists match the models. The test fixture that empties every table
drops the triggers and creates them again inside its own transaction, so no other connection
ever sees the tables unguarded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guarded:
    table: str
    columns: tuple[str, ...]  # every column of the table, as of migration 0012
    erasable: str | None  # the one column an UPDATE may set to NULL, and nothing else

    @property
    def message(self) -> str:
        allowed = f" (only setting {self.erasable} to NULL, for a member's erasure)" if self.erasable else ""
        return f"{self.table} is append-only: its rows are never updated or deleted{allowed}"


GUARDED = (
    Guarded(
        "ledger_entries",
        ("id", "member_id", "at", "kind", "points", "balance_after", "purchase_id", "refund_id", "redemption_id",
         "reason", "actor"),
        erasable="reason",
    ),
    Guarded("lot_debits", ("id", "entry_id", "lot_id", "points"), erasable=None),
    Guarded("audit_events", ("id", "at", "actor", "action", "member_id", "detail"), erasable="detail"),
)

# PostgreSQL: one trigger function for every guarded table; its argument, if any, names the
# erasable column. Rows are compared as JSON without that column, so the test is exact.
_PG_FUNCTION = "refuse_append_only_change"
_PG_CREATE_FUNCTION = f"""
CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_NARGS = 1
       AND to_jsonb(NEW) -> TG_ARGV[0] = 'null'::jsonb
       AND to_jsonb(NEW) - TG_ARGV[0] = to_jsonb(OLD) - TG_ARGV[0] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: its rows are never updated or deleted%', TG_TABLE_NAME,
        CASE WHEN TG_NARGS = 1 THEN ' (only setting ' || TG_ARGV[0] || ' to NULL, for a member''s erasure)' ELSE '' END
        USING ERRCODE = 'restrict_violation', DETAIL = TG_OP || ' refused';
END
$$
"""


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sqlite_unchanged_but_erased(guarded: Guarded) -> str:
    assert guarded.erasable is not None
    same = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in guarded.columns if column != guarded.erasable)
    return f"NEW.{guarded.erasable} IS NULL AND {same}"


def create_triggers(dialect: str) -> list[str]:
    """The statements that put the guard on every table (the function aside, on PostgreSQL)."""
    statements = []
    for guarded in GUARDED:
        name, table = f"{guarded.table}_append_only", guarded.table
        if dialect == "postgresql":
            argument = _sql_string(guarded.erasable) if guarded.erasable else ""
            statements += [
                f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}({argument})",
                f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()",
                f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}",
                f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}_truncate",
            ]
        elif dialect == "sqlite":
            refuse = f"BEGIN SELECT RAISE(ABORT, {_sql_string(guarded.message)}); END"
            allowed = f" WHEN NOT ({_sqlite_unchanged_but_erased(guarded)})" if guarded.erasable else ""
            statements += [
                f"CREATE TRIGGER {name}_update BEFORE UPDATE ON {table} FOR EACH ROW{allowed} {refuse}",
                f"CREATE TRIGGER {name}_delete BEFORE DELETE ON {table} FOR EACH ROW {refuse}",
            ]
        else:
            raise ValueError(f"no append-only triggers for {dialect}")
    return statements


def drop_triggers(dialect: str) -> list[str]:
    statements = []
    for guarded in GUARDED:
        name, table = f"{guarded.table}_append_only", guarded.table
        if dialect == "postgresql":
            statements += [f"DROP TRIGGER {name} ON {table}", f"DROP TRIGGER {name}_truncate ON {table}"]
        else:
            statements += [f"DROP TRIGGER {name}_update", f"DROP TRIGGER {name}_delete"]
    return statements


def install(dialect: str) -> list[str]:
    """Everything migration 0012 creates, in order."""
    return ([_PG_CREATE_FUNCTION] if dialect == "postgresql" else []) + create_triggers(dialect)


def uninstall(dialect: str) -> list[str]:
    """Everything migration 0012 drops on the way down, in order."""
    return drop_triggers(dialect) + ([f"DROP FUNCTION {_PG_FUNCTION}()"] if dialect == "postgresql" else [])
