"""Protection of personal fields: encryption at rest plus a keyed index for exact lookups.

A phone number must be findable ("who is +86 138…?") without being stored readable, so each
protected value is kept twice: Fernet ciphertext (readable only with SECRET_KEY) and an
HMAC-SHA256 "blind index" that supports equality lookups but reveals nothing by itself.

Keys rotate: the cipher encrypts and indexes with the current key (SECRET_KEY) and reads with
any of the old ones (OLD_SECRET_KEYS) too, so a database half re-encrypted by
`loyalty secret rotate` is still read whole and every value is still found.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Each use of a key gets a key of its own, derived with its own HKDF purpose: knowing one
# derived key (or a value made with it) tells nothing about the others or about SECRET_KEY.
FIELDS_PURPOSE = b"loyalty/fields/v1"
INDEX_PURPOSE = b"loyalty/blind-index/v1"
FINGERPRINT_PURPOSE = b"loyalty/key-fingerprint/v1"
FINGERPRINT_LABEL = b"loyalty: the SECRET_KEY this database is written with"


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


def derive_key(secret: str, purpose: bytes) -> bytes:
    """A key of its own for one use of SECRET_KEY (loyalty/card_tokens.py signs with one)."""
    return _derive(secret, purpose)


def key_fingerprint(secret: str) -> str:
    """What the database remembers of a key: an HMAC of a fixed label under a key derived for
    this purpose alone. Two keys give two fingerprints; the fingerprint helps no one guess the
    key (that is as hard as inverting HMAC-SHA256) nor read anything it encrypted."""
    return hmac.new(_derive(secret, FINGERPRINT_PURPOSE), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Key:
    fernet: Fernet
    index_key: bytes
    fingerprint: str

    @classmethod
    def of(cls, secret: str) -> _Key:
        return cls(
            fernet=Fernet(base64.urlsafe_b64encode(_derive(secret, FIELDS_PURPOSE))),
            index_key=_derive(secret, INDEX_PURPOSE),
            fingerprint=key_fingerprint(secret),
        )

    def index(self, value: str) -> str:
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()


class FieldCipher:
    """Encrypts and indexes with `secret`; decrypts and finds with it and every `old_secrets`."""

    def __init__(self, secret: str, old_secrets: Sequence[str] = ()) -> None:
        if not secret or not all(old_secrets):
            raise ValueError("FieldCipher needs non-empty secrets")
        # The current key first: MultiFernet encrypts with the first and tries them in order.
        secrets = list(dict.fromkeys([secret, *old_secrets]))
        self._keys = tuple(_Key.of(each) for each in secrets)
        self._current = self._keys[0]
        self._fernet = MultiFernet([key.fernet for key in self._keys])

    @property
    def fingerprint(self) -> str:
        """The current key's fingerprint: what this cipher writes with."""
        return self._current.fingerprint

    @property
    def fingerprints(self) -> frozenset[str]:
        """Every key this cipher can read with."""
        return frozenset(key.fingerprint for key in self._keys)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored value cannot be decrypted with SECRET_KEY or OLD_SECRET_KEYS") from exc

    def written_with(self, token: str) -> str | None:
        """The fingerprint of the key that encrypted `token`, or None if no key of ours did."""
        for key in self._keys:
            try:
                key.fernet.decrypt(token.encode())
            except InvalidToken:
                continue
            return key.fingerprint
        return None

    def is_current(self, token: str) -> bool:
        """Whether `token` is encrypted with the current key (nothing to rotate)."""
        return self.written_with(token) == self.fingerprint

    def blind_index(self, value: str) -> str:
        """The index a value is written with: under the current key."""
        return self._current.index(value)

    def blind_indexes(self, value: str) -> tuple[str, ...]:
        """Every index the value may be stored under while keys rotate, the current one first."""
        return tuple(key.index(value) for key in self._keys)


def hash_api_key(raw_key: str) -> str:
    # API keys are 256-bit random tokens, so a fast unsalted hash is safe and allows an indexed
    # lookup; slow password hashes are for low-entropy secrets.
    return hashlib.sha256(raw_key.encode()).hexdigest()
