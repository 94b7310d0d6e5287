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
from loyalty import rewards
from loyalty.i18n import localized


async def message_context(uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime) -> dict[str, Any]:
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
    return context
