"""The field cipher with several keys, the key fingerprint, and the registry of encrypted columns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import String, Text

from db.crypto import FieldCipher, key_fingerprint
from db.encrypted_columns import ENCRYPTED_COLUMNS
from db.models import Base

OLD, NEW, OTHER = "old-key-" + "o" * 40, "new-key-" + "n" * 40, "other-key-" + "x" * 40
texts = st.text(min_size=0, max_size=40)


@given(texts)
def test_a_rotating_cipher_reads_both_keys_and_writes_only_the_new(text: str) -> None:
    old, rotating, new = FieldCipher(OLD), FieldCipher(NEW, [OLD]), FieldCipher(NEW)
    written_before = old.encrypt(text)
    assert rotating.decrypt(written_before) == text
    assert rotating.written_with(written_before) == key_fingerprint(OLD) and not rotating.is_current(written_before)
    written_now = rotating.encrypt(text)
    assert new.decrypt(written_now) == text and rotating.is_current(written_now)
    assert rotating.blind_index(text) == new.blind_index(text)
    assert rotating.blind_indexes(text) == (new.blind_index(text), old.blind_index(text))
    assert FieldCipher(OTHER).written_with(written_before) is None


def test_fingerprints_tell_keys_apart_and_are_none_of_the_keys_in_use() -> None:
    rotating = FieldCipher(NEW, [OLD, NEW])  # the current key listed again among the old: ignored
    assert rotating.fingerprint == key_fingerprint(NEW)
    assert rotating.fingerprints == {key_fingerprint(NEW), key_fingerprint(OLD)}
    assert key_fingerprint(NEW) != key_fingerprint(OLD) and len(key_fingerprint(NEW)) == 64
    assert key_fingerprint(NEW) not in (FieldCipher(NEW).blind_index(""), FieldCipher(NEW).blind_index(NEW))


def test_every_encrypted_column_is_in_the_registry_and_every_entry_exists() -> None:
    listed = {(entry.table, entry.column) for entry in ENCRYPTED_COLUMNS}
    found = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    assert found == listed, "an encrypted column is missing from db/encrypted_columns.py"
    for entry in ENCRYPTED_COLUMNS:
        key, value, index = entry.sql_columns()
        assert key.primary_key and isinstance(value.type, (Text, String))
        assert index is None or (isinstance(index.type, String) and index.type.length == 64)
