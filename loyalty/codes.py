"""Codes a member shows at a till: reward redemptions (`RW-…`) and coupons (`CP-…`).

They are read aloud and typed by staff, so they use Crockford's base32, which has no I, L, O or
U: nothing looks like 1 or 0. Twelve symbols carry 60 bits from `secrets`: guessing one of a
million live codes takes about 2^40 tries, far beyond what an authenticated till can send. The
database's unique constraint decides the rare collision.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 3
GROUP_LENGTH = 4
SYMBOLS = GROUPS * GROUP_LENGTH
BITS = SYMBOLS * 5
# What a person may type for a look-alike: Crockford decoding reads O as 0 and I, L as 1.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s-]+")
MAX_TYPED_LENGTH = 64


def new_code(prefix: str) -> str:
    """`RW-7KQ4-M9XD-2HPA`: 60 random bits grouped in fours for reading at the till."""
    return _format("".join(secrets.choice(ALPHABET) for _ in range(SYMBOLS)), prefix)


def normalize_code(raw: str, prefix: str) -> str | None:
    """The stored form of a code as a person might type it (any case, with or without dashes or
    spaces, with or without the prefix, O for 0), or None when it cannot be such a code."""
    if len(raw) > MAX_TYPED_LENGTH:
        return None
    compact = _SEPARATORS.sub("", raw).upper()
    if len(compact) == SYMBOLS + len(prefix) and compact.startswith(prefix):
        compact = compact[len(prefix) :]
    compact = compact.translate(_LOOKALIKES)
    if len(compact) != SYMBOLS or any(symbol not in ALPHABET for symbol in compact):
        return None
    return _format(compact, prefix)


def _format(symbols: str, prefix: str) -> str:
    groups = [symbols[i : i + GROUP_LENGTH] for i in range(0, SYMBOLS, GROUP_LENGTH)]
    return "-".join([prefix, *groups])
