"""Whether a message owed to a member goes now, later, or not at all, decided when the sender
has claimed it (not when it was written): the member may have muted the topic, moved to another
time zone or been sent three nudges since.

The rules, for kinds with a topic (loyalty.nudges.kinds):
- a muted topic drops the message (the live-location push included);
- a SCHEDULED nudge whose `stale_after` has passed is dropped, not sent late;
- it is held (`deliver_after`) until the end of the member's quiet hours, in their own zone;
- and until the weekly cap allows it: at most `nudges_per_week` scheduled nudges sent in any
  7 days, whatever their kinds; the next one waits until the oldest of those is 7 days old;
- a hold that would end after `stale_after` drops the message instead: held is not dropped,
  unless by the time it may go it no longer matters.
Receipts (points earned, a new tier) have no topic and always go. Nobody is sent anything
without a chat, or after blocking the bot (until they write again).

`prepare` issues the gift coupon of a birthday, anniversary or win-back just before it is sent,
once per nudge: the coupon's issue key is the nudge's own natural key, so a retry, a second
drain or a crash between issuing and sending never gives a second coupon.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from db.models import Member, Notification, NotificationKind
from db.uow import UnitOfWork
from loyalty import coupons
from loyalty.config import Settings
from loyalty.nudges.kinds import SCHEDULED, topic_of
from loyalty.quiet_hours import is_quiet, member_zone

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
GIFT_KINDS = (NotificationKind.BIRTHDAY, NotificationKind.ANNIVERSARY, NotificationKind.WIN_BACK)
# A hold is moved past quiet hours and the cap alternately; each step only moves it forward,
# and after a few the answer cannot change (the cap's list is fixed, quiet hours are daily).
MAX_HOLD_STEPS = 8


@dataclass(frozen=True)
class Decision:
    action: Literal["send", "defer", "drop"]
    until: datetime | None = None  # defer: not before this moment
    reason: str | None = None  # defer and drop: why, for the row's last_error and the logs


SEND = Decision("send")


def defer(until: datetime, reason: str) -> Decision:
    return Decision("defer", until=until, reason=reason)


def drop(reason: str) -> Decision:
    return Decision("drop", reason=reason)


async def decide(
    uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime, settings: Settings
) -> Decision:
    """What to do with `notification` for `member` at `now`. Reads only; writes nothing. The
    caller holds the member's lock until the row is marked (or left `sending`), so two senders
    never both give a member the last nudge the weekly cap allows."""
    if member.telegram_id is None:
        return drop("member has no chat")
    if member.chat_blocked_at is not None:
        return drop("member blocked the bot")
    topic = topic_of(notification.kind)
    if topic is None:
        return SEND  # a receipt of what the member did
    if topic in await uow.notifications.muted_topics(member.id):
        return drop(f"topic {topic} muted")
    if notification.kind not in SCHEDULED:
        return SEND  # the live-location push is about now: never held
    stale_after = notification.stale_after
    if stale_after is not None and now > stale_after:
        return drop("stale")
    sent = await uow.notifications.sent_times(
        member.id, kinds=SCHEDULED, since=now - WEEK, besides=notification.id
    )
    until, reason = earliest_moment(
        now, sent, cap=settings.nudges_per_week, zone=member_zone(member, settings),
        quiet=(settings.quiet_hours_start, settings.quiet_hours_end),
    )
    if reason is None:
        return SEND
    if stale_after is not None and until > stale_after:
        return drop(f"stale by the end of the hold ({reason})")
    return defer(until, reason)


def earliest_moment(
    now: datetime, sent: Sequence[datetime], *, cap: int, zone: ZoneInfo, quiet: tuple[time, time]
) -> tuple[datetime, str | None]:
    """The first moment from `now` on outside the member's quiet hours and under the weekly
    cap, given when their nudges were sent (oldest first); with what held it first (None: now
    is fine)."""
    moment, reason = now, None
    for _ in range(MAX_HOLD_STEPS):
        released = cap_release(sent, moment, cap=cap)
        if released is not None:
            moment, reason = released, reason or "weekly cap"
            continue
        if is_quiet(moment, zone, *quiet):
            moment, reason = quiet_end(moment, zone, quiet[1]), reason or "quiet hours"
            continue
        return moment, reason
    return moment, reason


def cap_release(sent: Sequence[datetime], moment: datetime, *, cap: int) -> datetime | None:
    """When the cap lets the next nudge go, if it holds one at `moment`; None if it does not.
    The cap counts nudges sent in the 7 days before `moment` (exclusive of their start), so with
    `cap` or more of them the next waits until enough of the oldest have aged out."""
    recent = sorted(at for at in sent if moment - WEEK < at <= moment)
    if len(recent) < cap:
        return None
    return recent[len(recent) - cap] + WEEK


def quiet_end(moment: datetime, zone: ZoneInfo, end: time) -> datetime:
    """The next time the clock reads `end` in `zone` after `moment` (quiet hours end there)."""
    local = moment.astimezone(zone)
    day: date = local.date()
    candidate = datetime.combine(day, end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(days=1), end, tzinfo=zone)
    return candidate.astimezone(moment.tzinfo)


# --- gifts ---------------------------------------------------------------------------------------


def gift_subject(notification: Notification) -> str | None:
    """What a greeting's gift is given for, once: the birthday's year, the anniversary's count of
    years, the lapse a win-back is about (its last purchase). None for other kinds."""
    payload = notification.payload
    if notification.kind == NotificationKind.BIRTHDAY:
        return str(payload["year"])
    if notification.kind == NotificationKind.ANNIVERSARY:
        return str(payload["years"])
    if notification.kind == NotificationKind.WIN_BACK:
        return str(payload.get("last_purchase_at") or "never")
    return None


def gift_key(notification: Notification) -> str | None:
    """The issue key of the gift coupon that goes with this nudge, if it is a kind with one."""
    subject = gift_subject(notification)
    if subject is None:
        return None
    return coupons.gift_key(notification.kind, notification.member_id, subject)


async def prepare(
    uow: UnitOfWork, notification: Notification, member: Member, *, now: datetime, settings: Settings
) -> bool:
    """What must exist before the message goes: the gift coupon of a birthday, anniversary or
    win-back, issued (at most once) and committed, so the text can name it. Whether there is a
    gift. No gift template for the member's tier, or none left: the message still goes, without."""
    subject = gift_subject(notification)
    if subject is None:
        return False
    locked = await uow.lock_member(member.id)
    # The day of issue is read in the program's zone, as for every coupon issued.
    issued = await coupons.issue_gift(
        uow, locked, event=notification.kind, subject=subject, now=now, zone=settings.zone
    )
    await uow.commit()
    if issued is not None and not issued.replayed:
        log.info("%s gift %s for member %s", notification.kind, issued.template.code,
                 member.member_number)
    return issued is not None
