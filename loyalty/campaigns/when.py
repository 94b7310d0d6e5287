"""When a campaign goes, as a staff member types it in the chat.

Three kinds of send time: now (as soon as it is confirmed); one instant, typed as a date and a
time in the program's zone; or a wall-clock time on a date, reached in each member's own zone.
Each kind carries a `kind` tag, so a choice written out as JSON (the chat flow keeps it in FSM
data) reads back as the same kind.
"""

from __future__ import annotations

# The module, not its names: LocalAt's fields are called date and time.
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

_AT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})(\s+local)?$", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Now:
    """As soon as it is confirmed."""

    kind: Literal["now"] = "now"


@dataclass(frozen=True)
class At:
    """One instant for everyone."""

    at: dt.datetime
    kind: Literal["at"] = "at"


@dataclass(frozen=True)
class LocalAt:
    """This wall-clock time on this date, in each member's own zone."""

    date: dt.date
    time: dt.time
    kind: Literal["local"] = "local"


SendTime = Now | At | LocalAt


class WhenError(ValueError):
    def __init__(self, problem: Literal["malformed", "past"]) -> None:
        super().__init__(problem)
        self.problem = problem


def parse_when(text: str, *, now: dt.datetime, zone: ZoneInfo) -> At | LocalAt:
    """A typed send time: "2026-12-08 10:00" in the program's zone; "10:00" (the next 10:00
    there) or "2026-12-08 10:00 local" in each member's own zone. A time already past in the
    program's zone is refused, like one that cannot be read (WhenError)."""
    text = " ".join(text.split())
    local_now = now.astimezone(zone)
    if match := _LOCAL_TIME.match(text):
        at = _time(int(match[1]), int(match[2]))
        day = local_now.date()
        if dt.datetime.combine(day, at, zone) <= now:
            day += dt.timedelta(days=1)
        return LocalAt(day, at)
    match = _AT.match(text)
    if match is None:
        raise WhenError("malformed")
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as error:
        raise WhenError("malformed") from error
    at = _time(int(match[4]), int(match[5]))
    moment = dt.datetime.combine(day, at, zone)
    if moment <= now:
        raise WhenError("past")
    if match[6]:
        return LocalAt(day, at)
    return At(moment)


def _time(hour: int, minute: int) -> dt.time:
    try:
        return dt.time(hour, minute)
    except ValueError as error:
        raise WhenError("malformed") from error


def send_day(when: SendTime, *, now: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The day it goes out on, in the program's zone: a repeat keeps its day of the month."""
    match when:
        case At(at=at):
            return at.astimezone(zone).date()
        case LocalAt(date=day):
            return day
    return now.astimezone(zone).date()


def schedule(when: SendTime) -> tuple[dt.datetime | None, dt.date | None, dt.time | None]:
    """(send_at, local_date, local_time) as a campaign draft takes them: all None for now."""
    match when:
        case At(at=at):
            return at, None, None
        case LocalAt(date=day, time=at):
            return None, day, at
    return None, None, None
