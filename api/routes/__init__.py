"""The routers, one per resource. Everything under /api/v1 needs an API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from api.deps import require_api_key
from api.routes import campaigns, coupons, diagnostics, health, members, program, purchases, rewards
from api.schemas import ErrorPublic
from api.schemas.common import BODY_TOO_LARGE

API_V1_PREFIX = "/api/v1"

# Authentication is a dependency of the whole v1 router, so no route under it can forget it.
api_v1 = APIRouter(
    prefix=API_V1_PREFIX,
    dependencies=[Depends(require_api_key)],
    responses={
        status.HTTP_401_UNAUTHORIZED: {
            "model": ErrorPublic,
            "description": "Missing, malformed, unknown or revoked API key",
        },
        status.HTTP_413_CONTENT_TOO_LARGE: BODY_TOO_LARGE,
    },
)
api_v1.include_router(members.router)
api_v1.include_router(purchases.router)
api_v1.include_router(program.router)
api_v1.include_router(rewards.router)
api_v1.include_router(coupons.router)
api_v1.include_router(campaigns.router)
api_v1.include_router(diagnostics.router)

__all__ = ["API_V1_PREFIX", "api_v1", "health"]
