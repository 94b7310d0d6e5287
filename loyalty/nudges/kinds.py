"""The kinds of nudges, the topic each belongs to (what a member mutes in /settings), and the
natural key that makes each one owed at most once."""

from __future__ import annotations

from dataclasses import dataclass

from db.models import NotificationKind

# What a member can mute, in the order /settings lists them.
TOPICS = ("points", "coupons", "tier", "greetings", "offers", "referrals", "feedback")


@dataclass(frozen=True)
class NudgeKind:
    name: NotificationKind  # templates/messages/<locale>/notifications/<name>.j2
    topic: str


KINDS: dict[str, NudgeKind] = {
    kind.name: kind
    for kind in (
        NudgeKind(NotificationKind.POINTS_EXPIRING, "points"),
        NudgeKind(NotificationKind.COUPON_EXPIRING, "coupons"),
        NudgeKind(NotificationKind.COUPON_NEARBY, "coupons"),  # the live-location push (loyalty/geofence.py)
        NudgeKind(NotificationKind.COUPON_ISSUED, "coupons"),  # a coupon the merchant gave (loyalty/coupons.py)
        NudgeKind(NotificationKind.BIRTHDAY, "greetings"),
        NudgeKind(NotificationKind.ANNIVERSARY, "greetings"),
        NudgeKind(NotificationKind.TIER_AT_RISK, "tier"),
        NudgeKind(NotificationKind.NEAR_UPGRADE, "tier"),
        NudgeKind(NotificationKind.WIN_BACK, "offers"),
        NudgeKind(NotificationKind.REFERRAL_JOINED, "referrals"),  # loyalty/referrals.py
        NudgeKind(NotificationKind.REFERRAL_REWARDED, "referrals"),
        NudgeKind(NotificationKind.FEEDBACK_ASKED, "feedback"),  # the survey after a purchase (loyalty/feedback.py)
    )
}

# Of those, what the weekly cap counts and quiet hours hold back. The live-location push has
# its own rationing (once per store per day, a daily cap) and is never deferred: it is about now.
# A coupon given at the till is about now too: it arrives as a receipt does.
# A friend joining or earning the member their referral reward is news of now as well.
SCHEDULED = frozenset(KINDS) - {
    NotificationKind.COUPON_NEARBY,
    NotificationKind.COUPON_ISSUED,
    NotificationKind.REFERRAL_JOINED,
    NotificationKind.REFERRAL_REWARDED,
}


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
