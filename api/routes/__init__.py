"""The routers, one per resource. Everything under /api/v1 needs an API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from api.deps import require_api_key
from api.routes import (
    campaigns,
    coupons,
    diagnostics,
    feedback,
    health,
    kpis,
    members,
    program,
    purchases,
    referrals,
    rewards,
)
from api.schemas import ErrorPublic
from api.schemas.common import BODY_TOO_LARGE, ScopeRefusalPublic

API_V1_PREFIX = "/api/v1"

# Every route under it depends on the key check (api.auth authenticates before the body is read;
# `require_api_key` checks the key's scopes against api/access.py), and documents its refusals.
api_v1 = APIRouter(
    prefix=API_V1_PREFIX,
    dependencies=[Depends(require_api_key)],
    responses={
        status.HTTP_401_UNAUTHORIZED: {
            "model": ErrorPublic,
            "description": "Missing, malformed, unknown, revoked or expired API key",
        },
        status.HTTP_403_FORBIDDEN: {
            "model": ScopeRefusalPublic,
            "description": "The API key's scopes do not allow this route; `required_scopes` says "
            "which would",
        },
        status.HTTP_413_CONTENT_TOO_LARGE: BODY_TOO_LARGE,
        status.HTTP_429_TOO_MANY_REQUESTS: {
            "model": ErrorPublic,
            "description": "Over the API key's request limit, or too many failed authentications "
            "from this address or with this key",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    },
)
api_v1.include_router(members.router)
api_v1.include_router(purchases.router)
api_v1.include_router(program.router)
api_v1.include_router(rewards.router)
api_v1.include_router(coupons.router)
api_v1.include_router(campaigns.router)
api_v1.include_router(kpis.router)
api_v1.include_router(diagnostics.router)
api_v1.include_router(referrals.router)
api_v1.include_router(feedback.router)

__all__ = ["API_V1_PREFIX", "api_v1", "health"]
