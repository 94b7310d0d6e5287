"""API keys for tills, shops and back offices. Only a hash is stored; the key is shown once."""

from __future__ import annotations

import re
import secrets

from db.crypto import hash_api_key
from db.models import ApiKey
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import ApiKeyExists, InvalidInput, NotFound

KEY_PREFIX = "lk_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


async def create_api_key(uow: UnitOfWork, clock: Clock, name: str) -> str:
    if not NAME.match(name):
        raise InvalidInput("a key name is 1-64 letters, digits, '.', '_' or '-'", field="name")
    if await uow.api_keys.by_name(name) is not None:
        raise ApiKeyExists(f"an API key named {name!r} exists (revoked keys keep their name); pick another name")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    await uow.api_keys.add(
        ApiKey(name=name, key_hash=hash_api_key(raw), prefix=raw[:10], created_at=clock.now())
    )
    uow.audit.record(at=clock.now(), actor="cli", action="apikey.create", detail=name)
    await uow.commit()
    return raw


async def revoke_api_key(uow: UnitOfWork, clock: Clock, name: str) -> ApiKey:
    key = await uow.api_keys.by_name(name)
    if key is None:
        raise NotFound(f"no API key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        uow.audit.record(at=clock.now(), actor="cli", action="apikey.revoke", detail=name)
        await uow.commit()
    return key


async def authenticate(uow: UnitOfWork, raw_key: str) -> ApiKey | None:
    if not raw_key.startswith(KEY_PREFIX):
        return None
    return await uow.api_keys.active_by_raw_key(raw_key)
