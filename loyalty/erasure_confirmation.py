"""The second "yes" before a member erases their own membership, for a front end that keeps no
conversation state (the Mini App): the chat keeps a nonce in its FSM data, this hands out a
signed token instead.

The member asks first; the answer says what would be lost and carries a token naming the
membership and when it was asked, signed with SECRET_KEY. Only that token, sent back within
CONFIRM_FOR by the same membership, erases. A token for another membership (or a previous one
of the same Telegram account: a new member number), a forged or an old one erases nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from loyalty.errors import ConfirmationMismatch

CONFIRM_FOR = timedelta(minutes=10)  # as long as the chat's last "delete" button works
_PURPOSE = b"erase-membership"


def _signature(secret_key: str, member_number: str, asked: int) -> str:
    message = b"\x00".join((_PURPOSE, member_number.encode(), str(asked).encode()))
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def new_token(secret_key: str, member_number: str, now: datetime) -> str:
    asked = int(now.timestamp())
    return f"{asked}.{_signature(secret_key, member_number, asked)}"


def check_token(secret_key: str, member_number: str, token: str, now: datetime) -> None:
    """Refuses (ConfirmationMismatch) anything but a token given to this membership within
    CONFIRM_FOR."""
    asked_text, _, signature = token.partition(".")
    if not asked_text.isdigit() or len(asked_text) > 12:
        raise ConfirmationMismatch("ask to delete the membership first", field="confirmation")
    asked = int(asked_text)
    if not hmac.compare_digest(signature, _signature(secret_key, member_number, asked)):
        raise ConfirmationMismatch("ask to delete the membership first", field="confirmation")
    asked_at = datetime.fromtimestamp(asked, tz=timezone.utc)
    if not asked_at <= now <= asked_at + CONFIRM_FOR:
        raise ConfirmationMismatch("this confirmation has expired: ask again", field="confirmation")
