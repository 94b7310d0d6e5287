"""What a notification says, in value terms for this member, ready for a template.

Written as rows in the transaction that caused them (a purchase, a tier change); the bot process
sends them. The context is built at send time so "enough for 2 × Latte" reflects the catalogue
and the member's language when the message goes out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.models import Member, Notification, Tier
from db.uow import UnitOfWork
from loyalty import coupons, geofence, rewards
from loyalty.config import Settings
from loyalty.quiet_hours import member_zone
from loyalty.i18n import localized


async def message_context(
    uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime, settings: Settings
) -> dict[str, Any] | None:
    """The template's variables, or None when the message has nothing left to say (the coupons
    it was about were used or ended meanwhile): it is then skipped, not sent."""
    payload = dict(notification.payload)
    locale = member.locale
    context: dict[str, Any] = {**payload}
    if notification.kind == "points_earned":
        buys = await rewards.what_points_buy(uow, member, int(payload["balance"]), now=now)
        context["buys"] = [{"name": localized(item.reward.names, locale), "count": item.count} for item in buys]
    if notification.kind in ("tier_upgraded", "tier_downgraded"):
        tiers = {tier.code: tier for tier in await uow.program.tiers()}
        new: Tier | None = tiers.get(payload["new"])
        old: Tier | None = tiers.get(payload["old"])
        context["tier"] = localized(new.names, locale) if new else payload["new"]
        context["old_tier"] = localized(old.names, locale) if old else payload["old"]
        context["benefits"] = (new.benefits.get(locale) or new.benefits.get("en") or []) if new else []
        gifts = await coupons.still_usable(
            uow, member, payload.get("coupon_ids", []), now=now, zone=member_zone(member, settings)
        )
        context["coupons"] = await coupons.describe(uow, gifts, locale)
    if notification.kind == geofence.KIND:
        store = await uow.program.store(int(payload["store_id"]))
        usable = await coupons.still_usable(
            uow, member, payload["coupon_ids"], now=now, zone=member_zone(member, settings)
        )
        if store is None or not store.active or not usable:
            return None
        context["store"] = {"id": store.id, "name": store.name, "address": store.address or store.city or ""}
        context["distance"] = payload["distance_m"]
        context["coupons"] = await coupons.describe(uow, usable, locale)
    return context
