"""Protection of personal fields: encryption at rest plus a keyed index for exact lookups.

A phone number must be findable ("who is +86 138…?") without being stored readable, so each
protected value is kept twice: Fernet ciphertext (readable only with SECRET_KEY) and an
HMAC-SHA256 "blind index" that supports equality lookups but reveals nothing by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


class FieldCipher:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("FieldCipher needs a non-empty secret")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"loyalty/fields/v1")))
        self._index_key = _derive(secret, b"loyalty/blind-index/v1")

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored value cannot be decrypted with this SECRET_KEY") from exc

    def blind_index(self, value: str) -> str:
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def hash_api_key(raw_key: str) -> str:
    # API keys are 256-bit random tokens, so a fast unsalted hash is safe and allows an indexed
    # lookup; slow password hashes are for low-entropy secrets.
    return hashlib.sha256(raw_key.encode()).hexdigest()
