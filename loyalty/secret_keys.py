"""Which SECRET_KEY the database is written with, and moving it to a new one.

Phone numbers (and every column in db/encrypted_columns.py) are encrypted and indexed with
SECRET_KEY. A process started with another key would find no one by phone, enrol members a
second time and fail to read the rest, so the database keeps the fingerprints of the keys its
values are written with (db.crypto.key_fingerprint, never the key) and every process checks
them before it starts (`check_secret_key`):

- none recorded (a new database, or one from before fingerprints were kept): the values already
  stored must decrypt with the process's keys; then the keys they and new values are written
  with are recorded;
- a recorded key the process does not have: it cannot read everything, so it refuses to start;
- the process's SECRET_KEY not yet recorded, its OLD_SECRET_KEYS covering the rest: a rotation
  begins, and the new key is recorded before anything is written with it.

`rotate_secret_key` then re-encrypts every value still under an old key, in batches of their
own transactions, so it can be stopped at any moment and run again; only when every value is
under the new key does it record the new key as the only one, after which the old keys can
leave the environment. At every moment each member is findable: a value and its blind index
change together, and lookups try every key's index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from db.crypto import FieldCipher
from db.encrypted_columns import ENCRYPTED_COLUMNS, EncryptedColumn
from db.repositories.secret_keys import Rewrite
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.clock import Clock

log = logging.getLogger(__name__)

ROTATION_BATCH = 500

MISMATCH = (
    "SECRET_KEY is not the key this database was written with: start with the SECRET_KEY it was "
    "written with (to change keys, set the new one as SECRET_KEY, put the old one in OLD_SECRET_KEYS "
    "and run `loyalty secret rotate`)."
)


class SecretKeyMismatch(Exception):
    """The process's keys cannot read what the database holds: a configuration error."""

    def __init__(self, message: str = MISMATCH) -> None:
        super().__init__(message)


class UnreadableValue(Exception):
    """A stored value no configured key decrypts: rotation stops before losing it."""


async def check_secret_key(uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
    """Refuse (SecretKeyMismatch) unless this process's keys read everything the database holds;
    record the keys it is written with when it did not know them yet."""
    async with uow_factory() as uow:
        cipher = uow.cipher
        await uow.secret_keys.lock()
        recorded = await uow.secret_keys.fingerprints()
        if recorded and not recorded <= cipher.fingerprints:
            raise SecretKeyMismatch()
        wanted = {cipher.fingerprint} if recorded else {cipher.fingerprint} | await _keys_of_stored_values(uow)
        if wanted <= recorded:
            return
        await uow.secret_keys.record(wanted, at=clock.now())
        await uow.commit()
    if recorded:
        log.warning("SECRET_KEY is new to this database: recorded it beside the old; "
                    "run `loyalty secret rotate` to move every value to it")
    else:
        log.info("recorded the SECRET_KEY this database is written with (its fingerprint, not the key)")


async def _keys_of_stored_values(uow: UnitOfWork) -> set[str]:
    """The fingerprints of the keys that wrote a sample of what is stored (the first value of each
    encrypted column); SecretKeyMismatch if a sample is written with none of ours."""
    keys: set[str] = set()
    for column in ENCRYPTED_COLUMNS:
        token = await uow.secret_keys.sample(column)
        if token is None:
            continue
        fingerprint = uow.cipher.written_with(token)
        if fingerprint is None:
            raise SecretKeyMismatch()
        keys.add(fingerprint)
    return keys


async def secret_key_status(uow: UnitOfWork) -> Literal["ok", "mismatch"]:
    """While running: 'mismatch' when the database is now written with a key this process does
    not have, or no longer lists the key it writes with (another process began or finished a
    rotation this one was not restarted for)."""
    recorded = await uow.secret_keys.fingerprints()
    if not recorded:
        return "ok"  # nothing recorded yet: the first process to check will
    cipher = uow.cipher
    return "ok" if recorded <= cipher.fingerprints and cipher.fingerprint in recorded else "mismatch"


@dataclass(frozen=True)
class RotationProgress:
    column: EncryptedColumn
    seen: int  # values read in this batch
    rewritten: int  # of which were under an old key and are now under the new one


@dataclass(frozen=True)
class RotationReport:
    seen: int
    rewritten: int


async def encrypted_value_count(uow_factory: UnitOfWorkFactory) -> int:
    """How many values a rotation reads (for a progress bar)."""
    async with uow_factory() as uow:
        return sum([await uow.secret_keys.count(column) for column in ENCRYPTED_COLUMNS])


async def rotate_secret_key(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    batch_size: int = ROTATION_BATCH,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationReport:
    """Re-encrypt and re-index every value still under an old key, then record the current key
    as the only one. Interrupted, it loses nothing: each batch is a transaction of its own, and
    running it again skips what is already under the new key."""
    await check_secret_key(uow_factory, clock)
    seen = rewritten = 0
    for column in ENCRYPTED_COLUMNS:
        after_id = 0
        while True:
            async with uow_factory() as uow:
                values = await uow.secret_keys.batch(column, after_id=after_id, limit=batch_size)
                if not values:
                    break
                rewrites = [_rewrite(uow.cipher, column, value.id, value.token) for value in values]
                changed = [each for each in rewrites if each is not None]
                await uow.secret_keys.rewrite(column, changed)
                await uow.commit()
            after_id = values[-1].id
            seen += len(values)
            rewritten += len(changed)
            if progress is not None:
                progress(RotationProgress(column, len(values), len(changed)))
    async with uow_factory() as uow:
        await uow.secret_keys.lock()
        await uow.secret_keys.keep_only(uow.cipher.fingerprint, at=clock.now())
        await uow.commit()
    log.info("secret key rotated: %d values read, %d re-encrypted; the old keys are no longer needed", seen, rewritten)
    return RotationReport(seen=seen, rewritten=rewritten)


def _rewrite(cipher: FieldCipher, column: EncryptedColumn, row_id: int, token: str) -> Rewrite | None:
    if cipher.is_current(token):
        return None
    try:
        text = cipher.decrypt(token)
    except ValueError as exc:
        raise UnreadableValue(
            f"{column.name} of row {row_id} cannot be decrypted with SECRET_KEY or OLD_SECRET_KEYS; "
            "nothing after it was rotated"
        ) from exc
    index = cipher.blind_index(text) if column.index else None
    return Rewrite(id=row_id, old_token=token, new_token=cipher.encrypt(text), new_index=index)
