"""API keys for tills, shops and back offices. Only a hash is stored; the key is shown once.

A key carries scopes (what it may call), an optional expiry and the time it was last used.
Which routes each scope opens is the API's business (`api/access.py`); here are the keys.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from db.crypto import hash_api_key
from db.models import ApiKey
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import ApiKeyExists, InvalidInput, NotFound

KEY_PREFIX = "lk_"
# What `api_keys.prefix` keeps and what logs and the audit trail may name: "lk_" and 7 of the
# 43 random characters, enough to tell keys apart, far too few to guess the rest.
PREFIX_LENGTH = 10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PRESENTED_PREFIX = re.compile(r"^lk_[A-Za-z0-9_-]{7}")
# `last_used_at` is written at most once per this long per key: a busy till would otherwise
# turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650
EXPIRES_IN_DAYS = re.compile(r"^([1-9][0-9]{0,3})d$")


class Scope(enum.StrEnum):
    """What a key may do. `admin` may do everything; see api/access.py for each route."""

    TILL = "till"
    MARKETING = "marketing"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
DEFAULT_SCOPES = frozenset({Scope.TILL})  # the least privilege: what a till needs


@dataclass(frozen=True)
class AuthenticatedKey:
    """The key a request was authenticated with, as plain values (never a session-bound row)."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[Scope]
    # Made before keys had scopes: it keeps every scope until narrowed (`loyalty apikey scope`).
    unscoped: bool = False

    @property
    def actor(self) -> str:
        return f"apikey:{self.name}"

    def allows(self, allowed: Iterable[Scope]) -> bool:
        return not self.scopes.isdisjoint(allowed)


FailureReason = Literal["unknown", "revoked", "expired"]


@dataclass(frozen=True)
class AuthOutcome:
    key: AuthenticatedKey | None
    failure: FailureReason | None = None


def scopes_of(key: ApiKey) -> frozenset[Scope]:
    """A key's scopes; a key from before scopes existed (NULL) keeps all of them."""
    if key.scopes is None:
        return ALL_SCOPES
    return frozenset(Scope(name) for name in key.scopes.split(",") if name)


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """`--scope till --scope marketing` or `--scope till,marketing`; empty means the default."""
    names = [name.strip().lower() for value in values for name in value.split(",") if name.strip()]
    known = {scope.value for scope in Scope}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidInput(
            f"unknown scope {unknown[0]!r}: choose from {', '.join(scope.value for scope in Scope)}",
            field="scope",
        )
    return frozenset(Scope(name) for name in names) or DEFAULT_SCOPES


def _stored(scopes: frozenset[Scope]) -> str:
    return ",".join(scope.value for scope in Scope if scope in scopes)  # in a fixed order


def parse_expiry(value: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """`90d` (that many days from now) or a date `2027-03-01`: the key stops working at the start
    of that day in the program's time zone."""
    text = value.strip()
    if match := EXPIRES_IN_DAYS.match(text):
        days = int(match.group(1))
        if days > MAX_EXPIRY_DAYS:
            raise InvalidInput(f"an expiry is at most {MAX_EXPIRY_DAYS} days away", field="expires")
        return now + timedelta(days=days)
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            "an expiry is a number of days like 90d, or a date like 2027-03-01", field="expires"
        ) from exc
    expires = datetime.combine(day, time(0), tzinfo=zone)
    if expires <= now:
        raise InvalidInput(f"{text} is not in the future", field="expires")
    if expires - now > timedelta(days=MAX_EXPIRY_DAYS):
        raise InvalidInput(f"an expiry is at most {MAX_EXPIRY_DAYS} days away", field="expires")
    return expires


async def create_api_key(
    uow: UnitOfWork,
    clock: Clock,
    name: str,
    *,
    scopes: frozenset[Scope] = DEFAULT_SCOPES,
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> str:
    if not NAME.match(name):
        raise InvalidInput("a key name is 1-64 letters, digits, '.', '_' or '-'", field="name")
    if not scopes:
        raise InvalidInput("a key needs at least one scope", field="scope")
    if await uow.api_keys.by_name(name) is not None:
        raise ApiKeyExists(f"an API key named {name!r} exists (revoked keys keep their name); pick another name")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    await uow.api_keys.add(
        ApiKey(
            name=name,
            key_hash=hash_api_key(raw),
            prefix=raw[:PREFIX_LENGTH],
            created_at=now,
            scopes=_stored(scopes),
            expires_at=expires_at,
        )
    )
    expiry = f", expires {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else ""
    uow.audit.record(at=now, actor=actor, action="apikey.create", detail=f"{name}: {_stored(scopes)}{expiry}")
    await uow.commit()
    return raw


async def set_api_key_scopes(uow: UnitOfWork, clock: Clock, name: str, scopes: frozenset[Scope]) -> ApiKey:
    """Change what a key may do (narrow a key made before scopes existed); effective at once."""
    key = await uow.api_keys.by_name(name)
    if key is None:
        raise NotFound(f"no API key named {name!r}")
    if not scopes:
        raise InvalidInput("a key needs at least one scope", field="scope")
    before = "all (made before scopes)" if key.scopes is None else key.scopes
    key.scopes = _stored(scopes)
    uow.audit.record(at=clock.now(), actor="cli", action="apikey.scope", detail=f"{name}: {before} -> {key.scopes}")
    await uow.commit()
    return key


async def revoke_api_key(uow: UnitOfWork, clock: Clock, name: str, *, actor: str = "cli") -> ApiKey:
    key = await uow.api_keys.by_name(name)
    if key is None:
        raise NotFound(f"no API key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        uow.audit.record(at=clock.now(), actor=actor, action="apikey.revoke", detail=name)
        await uow.commit()
    return key


async def list_api_keys(uow: UnitOfWork) -> Sequence[ApiKey]:
    return await uow.api_keys.all()


def presented_prefix(raw_key: str) -> str | None:
    """The prefix of a presented key, safe to log and audit, or None when it is not one of ours."""
    match = PRESENTED_PREFIX.match(raw_key)
    return match.group(0) if match else None


async def authenticate(uow: UnitOfWork, clock: Clock, raw_key: str) -> AuthOutcome:
    """The key `raw_key` names if it works now; why not otherwise (for logs, never for callers).

    Notes the use on the key at most once per LAST_USED_RESOLUTION (a conditional UPDATE, so
    several API processes write it once between them)."""
    if not raw_key.startswith(KEY_PREFIX):
        return AuthOutcome(None, "unknown")
    key = await uow.api_keys.by_raw_key(raw_key)
    if key is None:
        return AuthOutcome(None, "unknown")
    now = clock.now()
    if key.revoked_at is not None:
        return AuthOutcome(None, "revoked")
    if key.expires_at is not None and key.expires_at <= now:
        return AuthOutcome(None, "expired")
    stale = key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION
    if stale and await uow.api_keys.touch(key.id, now, unless_since=now - LAST_USED_RESOLUTION):
        await uow.commit()
    return AuthOutcome(
        AuthenticatedKey(
            id=key.id, name=key.name, prefix=key.prefix, scopes=scopes_of(key), unscoped=key.scopes is None
        )
    )
