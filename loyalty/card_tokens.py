"""The card's rotating QR: a short-lived signed token that stands for the member at the till.

The chat's card shows the member number, which works for ever; the Mini App's card shows a token
instead, which the till API and the pocket till accept in its place until it expires
(CARD_TOKEN_SECONDS; the page draws a new one every minute), so a screenshot passed around is
soon worth nothing. A token is the member id and the expiry, signed with HMAC-SHA256 under a key
derived from SECRET_KEY for this use only, in upper-case base32 without padding: 29 characters
of the QR's compact alphanumeric mode, never mistaken for a 10-digit member number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.crypto import derive_key
from db.uow import UnitOfWork
from loyalty.config import Settings
from loyalty.errors import CardTokenExpired, CardTokenInvalid

PURPOSE = b"loyalty/card-token/v1"
_PAYLOAD = struct.Struct(">II")  # member id, expiry in Unix seconds
MAC_BYTES = 10  # 80 bits: a forger gets one guess per till request
TOKEN_LENGTH = 29  # base32 of 18 bytes, unpadded
TOKEN_SHAPE = re.compile(rf"^[A-Z2-7]{{{TOKEN_LENGTH}}}$")


@dataclass(frozen=True)
class CardToken:
    token: str
    expires_at: datetime


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(derive_key(secret, PURPOSE), payload, hashlib.sha256).digest()[:MAC_BYTES]


def issue(secret: str, member_id: int, now: datetime, lifetime_seconds: int) -> CardToken:
    expires_at = (now + timedelta(seconds=lifetime_seconds)).replace(microsecond=0)
    payload = _PAYLOAD.pack(member_id, int(expires_at.timestamp()))
    raw = payload + _mac(secret, payload)
    return CardToken(token=base64.b32encode(raw).decode("ascii").rstrip("="), expires_at=expires_at)


def looks_like_token(text: str) -> bool:
    """Whether `text` is shaped like a card token (and not a member number)."""
    return bool(TOKEN_SHAPE.match(text.strip().upper()))


def member_id_of(secrets: Sequence[str], token: str, now: datetime, *, field: str = "qr") -> int:
    """The member a token stands for. A token no key in `secrets` signed is CardTokenInvalid
    (the keys of a rotation in progress are all tried), an expired one CardTokenExpired."""
    text = token.strip().upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise CardTokenInvalid("not a card QR code of this program", field=field) from exc
    # The last character carries a spare bit base32 decoding ignores: only the one spelling the
    # program writes is accepted, so a token has one form.
    if len(raw) != _PAYLOAD.size + MAC_BYTES or base64.b32encode(raw).decode("ascii").rstrip("=") != text:
        raise CardTokenInvalid("not a card QR code of this program", field=field)
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not any(hmac.compare_digest(_mac(secret, payload), mac) for secret in secrets):
        raise CardTokenInvalid("not a card QR code of this program", field=field)
    member_id, expires = _PAYLOAD.unpack(payload)
    if now >= datetime.fromtimestamp(expires, UTC):
        raise CardTokenExpired("this card QR code has expired: ask the member to show the card again", field=field)
    return int(member_id)


def signing_keys(settings: Settings) -> list[str]:
    """SECRET_KEY signs; it and OLD_SECRET_KEYS verify, so a rotation breaks no card on show."""
    return [settings.require_secret_key(), *settings.old_keys()]


def issue_for(settings: Settings, member_id: int, now: datetime) -> CardToken:
    return issue(settings.require_secret_key(), member_id, now, settings.card_token_seconds)


async def member_number_for_qr(
    uow: UnitOfWork, settings: Settings, now: datetime, qr: str, *, field: str = "qr"
) -> str:
    """What a till scanned off a card, as a member number: the chat card's static QR is the
    number itself; the Mini App's is a token, checked and turned into the number here."""
    if not looks_like_token(qr):
        return qr.strip()
    member = await uow.members.by_id(member_id_of(signing_keys(settings), qr, now, field=field))
    if member is None:  # signed by us for a row that no longer exists
        raise CardTokenInvalid("not a card QR code of this program", field=field)
    return member.member_number
