"""When a member may be sent something they did not ask for: not in their quiet hours, which
are kept in the member's own time zone (learnt from where they share their location; the
program's until then)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from db.models import Member
from loyalty.config import Settings


def member_zone(member: Member, settings: Settings) -> ZoneInfo:
    return ZoneInfo(member.timezone) if member.timezone else settings.zone


def is_quiet(moment: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    """Whether `moment` falls in the quiet hours [start, end) read in `zone`; a start after the
    end spans midnight (22:00-08:00), equal times mean no quiet hours."""
    local = moment.astimezone(zone).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_for(member: Member, settings: Settings, moment: datetime) -> bool:
    return is_quiet(moment, member_zone(member, settings), settings.quiet_hours_start, settings.quiet_hours_end)
