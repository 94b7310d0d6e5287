"""Every encrypted column in the database, in one list: what `loyalty secret rotate`
re-encrypts and re-indexes, and what the key check samples at start-up.

The contract of an entry (add one line here for each new encrypted column, in the same
change as its migration):
- `table` has an integer primary key named `id`;
- `column` holds `FieldCipher.encrypt(text)` of a string, or NULL;
- `index`, when the column is looked up by value, names the column that holds
  `FieldCipher.blind_index(text)` of the same text, always written together with it (e.g. by
  one repository method); lookups must use `FieldCipher.blind_indexes(text)`, which covers every
  key while they rotate. Without an index, the column is only ever read by its row.
Rotation rewrites a row's `column` (and `index`) in one UPDATE that applies only if `column` still
holds the value it read, so a value written meanwhile by the program is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Table

from db.models import Base


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    index: str | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def sql_table(self) -> Table:
        return Base.metadata.tables[self.table]

    def sql_columns(self) -> tuple[Column[int], Column[str], Column[str] | None]:
        """The primary key, the ciphertext and the blind index (if any) as SQL columns."""
        table = self.sql_table()
        return table.c.id, table.c[self.column], table.c[self.index] if self.index else None


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("members", "phone_encrypted", index="phone_index"),
    EncryptedColumn("members", "birthday_encrypted"),
    EncryptedColumn("members", "first_name_encrypted"),
)
