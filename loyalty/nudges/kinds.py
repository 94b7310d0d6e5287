"""The kinds of nudges, the topic each belongs to (what a member mutes in /settings), and the
natural key that makes each one owed at most once."""

from __future__ import annotations

from dataclasses import dataclass

COUPON_ISSUED = "coupon_issued"  # a coupon the merchant gave (loyalty.coupons.issue)

# What a member can mute, in the order /settings lists them.
TOPICS = ("points", "coupons", "tier", "greetings", "offers")


@dataclass(frozen=True)
class NudgeKind:
    name: str  # the notification kind, and templates/messages/<locale>/notifications/<name>.j2
    topic: str


KINDS: dict[str, NudgeKind] = {
    kind.name: kind
    for kind in (
        NudgeKind("points_expiring", "points"),
        NudgeKind("coupon_expiring", "coupons"),
        NudgeKind("coupon_nearby", "coupons"),  # the live-location push (loyalty/geofence.py)
        NudgeKind(COUPON_ISSUED, "coupons"),
        NudgeKind("birthday", "greetings"),
        NudgeKind("anniversary", "greetings"),
        NudgeKind("tier_at_risk", "tier"),
        NudgeKind("near_upgrade", "tier"),
        NudgeKind("win_back", "offers"),
    )
}

# Of those, what the weekly cap counts and quiet hours hold back. The live-location push has
# its own rationing (once per store per day, a daily cap) and is never deferred: it is about now.
# A coupon given at the till is about now too: it arrives as a receipt does.
SCHEDULED = frozenset(KINDS) - {"coupon_nearby", COUPON_ISSUED}


def dedupe_key(kind: str, member_id: int, subject: str, period: str = "") -> str:
    """`points_expiring:42:2026-12-31:7d`: owed once, whoever computes it, however often."""
    if kind not in KINDS:
        raise ValueError(f"unknown nudge kind {kind!r}")
    return f"{kind}:{member_id}:{subject}:{period}"


def topic_of(kind: str) -> str | None:
    """The topic a notification kind is muted by; None for receipts (points earned, a tier
    reached), which members always get."""
    nudge = KINDS.get(kind)
    return nudge.topic if nudge is not None else None
