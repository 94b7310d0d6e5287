"""Which API key scopes may call which route: the one map, read by `api.deps.require_api_key`.

Keys have scopes (loyalty/apikeys.py): `till` for tills and the online shop (purchases, refunds,
finding and enrolling the member at the counter, coupons and rewards handed over there),
`marketing` for the people who run campaigns and offers, `admin` for the owner's back office.
`admin` may call every route; the map says which routes `till` and `marketing` may call as well.
A route that is not in the map is for `admin` only, so a route added without thinking about
scopes is closed, not open.

Routes are named as the OpenAPI document names them, without the `/api/v1` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from loyalty.apikeys import Scope

TILL = frozenset({Scope.TILL})
MARKETING = frozenset({Scope.MARKETING})
TILL_AND_MARKETING = TILL | MARKETING
ADMIN_ONLY: frozenset[Scope] = frozenset()

ROUTE_SCOPES: Mapping[str, frozenset[Scope]] = {
    # --- at the till, and the online shop
    # Finding one member by phone or Telegram id. Paging through every member (no filter) is
    # admin only: MEMBER_LIST below, checked by the route.
    "GET /members": TILL,
    "POST /members": TILL,
    "GET /members/{member_number}": TILL,
    "GET /members/{member_number}/points": TILL,
    "POST /purchases": TILL,
    "POST /refunds": TILL,
    "POST /sales": TILL,  # a day's sales to non-members (loyalty/kpis/sales.py)
    "GET /coupons/{code}": TILL,
    "POST /coupons/redeem": TILL,
    "GET /redemptions/{code}": TILL,
    "POST /redemptions/{code}/use": TILL,
    # --- both: the member's coupons at the counter and for an offer; where the stores are
    "GET /members/{member_number}/coupons": TILL_AND_MARKETING,
    "GET /stores": TILL_AND_MARKETING,
    "GET /stores/nearest": TILL_AND_MARKETING,
    "GET /stores/{code}": TILL_AND_MARKETING,
    "GET /noop": TILL_AND_MARKETING,
    # --- marketing: campaigns, segments, tags, coupon templates and issuing, the rewards
    # catalogue; reading (not changing) the tiers and earning rules that offers build on
    "POST /campaigns": MARKETING,
    "GET /campaigns": MARKETING,
    "POST /campaigns/preview": MARKETING,
    "GET /campaigns/{campaign_id}": MARKETING,
    "POST /campaigns/{campaign_id}/pause": MARKETING,
    "POST /campaigns/{campaign_id}/resume": MARKETING,
    "POST /campaigns/{campaign_id}/cancel": MARKETING,
    "GET /campaigns/{campaign_id}/report": MARKETING,
    "GET /campaigns/{campaign_id}/evaluation": MARKETING,
    "GET /evaluation": MARKETING,
    "GET /segments/rfm": MARKETING,
    "GET /kpis": MARKETING,
    "GET /feedback/nps": MARKETING,
    "GET /feedback/comments": MARKETING,
    "GET /members/{member_number}/tags": MARKETING,
    "PUT /members/{member_number}/tags": MARKETING,
    "GET /coupon-templates": MARKETING,
    "POST /coupon-templates": MARKETING,
    "GET /coupon-templates/{code}": MARKETING,
    "PATCH /coupon-templates/{code}": MARKETING,
    "POST /coupons": MARKETING,
    "GET /rewards": MARKETING,
    "POST /rewards": MARKETING,
    "GET /rewards/{code}": MARKETING,
    "PATCH /rewards/{code}": MARKETING,
    "GET /tiers": MARKETING,
    "GET /tiers/{code}": MARKETING,
    "GET /earning-rules": MARKETING,
    "GET /earning-rules/{rule_id}": MARKETING,
    # the referral program: its terms, held referrals reviewed, the funnel
    "GET /referral-program": MARKETING,
    "PUT /referral-program": MARKETING,
    "GET /referrals": MARKETING,
    "POST /referrals/{referral_id}/approve": MARKETING,
    "POST /referrals/{referral_id}/reject": MARKETING,
    "GET /referrals/report": MARKETING,
    # --- admin only: changing tiers, earning rules and stores, adjusting points by hand, a
    # member's data request (everything stored about them; erasing it)
    "PUT /tiers/{code}": ADMIN_ONLY,
    "POST /earning-rules": ADMIN_ONLY,
    "PATCH /earning-rules/{rule_id}": ADMIN_ONLY,
    "DELETE /earning-rules/{rule_id}": ADMIN_ONLY,
    "POST /stores": ADMIN_ONLY,
    "POST /stores/import": ADMIN_ONLY,
    "POST /members/{member_number}/adjustments": ADMIN_ONLY,
    "GET /members/{member_number}/export": ADMIN_ONLY,
    "POST /members/{member_number}/erase": ADMIN_ONLY,
}

# GET /members without a filter pages through the whole member base.
MEMBER_LIST = ADMIN_ONLY


def allowed_scopes(operation: str) -> frozenset[Scope]:
    """The scopes that may call `operation` ("POST /purchases"): admin always."""
    return ROUTE_SCOPES.get(operation, ADMIN_ONLY) | {Scope.ADMIN}


def operation_name(method: str, path: str, prefix: str) -> str:
    return f"{method} {path.removeprefix(prefix)}"


def route_scopes(routes: list[BaseRoute], prefix: str) -> dict[tuple[int, str], frozenset[Scope]]:
    """Each API route (by the identity of its route object, which requests carry in
    `scope["route"]`) and method under `prefix`, with the scopes that may call it."""
    table: dict[tuple[int, str], frozenset[Scope]] = {}
    for context in iter_route_contexts(routes):
        route, path = context.original_route, context.path or ""
        if not isinstance(route, APIRoute) or not path.startswith(prefix):
            continue
        for method in context.methods or ():
            table[(id(route), method)] = allowed_scopes(operation_name(method, path, prefix))
    return table
