"""Feedback: the survey a purchase at a store owes, its answer, the detractor alert, the members'
own messages (/feedback) and their replies, and the NPS report.

The survey is a scheduled nudge (kind `feedback_asked`, topic `feedback`): written to the
outbox with the purchase, `deliver_after` = purchase + FEEDBACK_DELAY_MINUTES, then held by
quiet hours and the weekly cap in loyalty.nudges.delivery like every other nudge. At most one
per member per FEEDBACK_MIN_DAYS: the last survey's date is checked under the member's lock
(record_purchase holds it), and the outbox's natural key backs it up.

The answer: a score 0-10 set once (a conditional UPDATE), then one follow-up comment or Skip;
detractors (0-6) are asked whether someone may contact them, and the store's staff hear about
it at once. Points for answering (FEEDBACK_POINTS) go with the score, once per survey; since a
member is asked at most once per period, that is the cap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from db.models import (
    FeedbackMessage,
    FeedbackSurvey,
    LedgerKind,
    Member,
    Notification,
    NotificationKind,
    NotificationStatus,
    Purchase,
    Staff,
)
from db.uow import UnitOfWork
from loyalty import ledger
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import Conflict, InvalidInput, NotFound
from loyalty.nudges.kinds import dedupe_key, topic_of
from loyalty.text import check_text

# A question about a visit more than a week old means little; the cap holds a nudge at most
# 7 days, and quiet hours a night, so a survey held by both is still asked.
STALE_AFTER = timedelta(days=8)
MAX_COMMENT = 1000
Z_95 = 1.959963984540054  # the two-sided 95 % normal quantile


class SurveyNotFound(NotFound):
    code = "survey_not_found"


class SurveyAnswered(Conflict):
    code = "survey_answered"


class SurveyClosed(Conflict):
    code = "survey_closed"


class FeedbackMessageNotFound(NotFound):
    code = "feedback_message_not_found"


class NotStaff(Conflict):
    code = "not_staff"


def band(score: int) -> str:
    """detractor (0-6), passive (7-8) or promoter (9-10)."""
    if score <= 6:
        return "detractor"
    return "passive" if score <= 8 else "promoter"


# --- owing the survey ----------------------------------------------------------------------------


async def owe_survey(
    uow: UnitOfWork, member: Member, purchase: Purchase, *, now: datetime, settings: Settings
) -> FeedbackSurvey | None:
    """The survey a purchase at a store owes, written to the outbox; None when none is owed (an
    online purchase, no chat or a blocked one, the topic muted, asked within FEEDBACK_MIN_DAYS).
    The caller holds the member's lock, so two purchases at once owe one survey."""
    if purchase.channel != "store" or member.telegram_id is None or member.chat_blocked_at is not None:
        return None
    if topic_of(NotificationKind.FEEDBACK_ASKED) in await uow.notifications.muted_topics(member.id):
        return None
    last = await uow.feedback.last_survey_at(member.id)
    if last is not None and now - last < timedelta(days=settings.feedback_min_days):
        return None
    survey = await uow.feedback.add_survey(
        FeedbackSurvey(
            member_id=member.id, purchase_id=purchase.id, store_id=purchase.store_id, staff_id=purchase.staff_id,
            created_at=now, points_awarded=0,
        )
    )
    # A purchase posted late (a till back online) is asked about now, not in the past.
    ask_at = max(purchase.purchased_at + timedelta(minutes=settings.feedback_delay_minutes), now)
    notification = Notification(
        member_id=member.id,
        kind=NotificationKind.FEEDBACK_ASKED,
        # The period: the member's surveys are numbered by FEEDBACK_MIN_DAYS-long spans of days.
        dedupe_key=dedupe_key(
            NotificationKind.FEEDBACK_ASKED, member.id, "survey",
            str(now.date().toordinal() // settings.feedback_min_days),
        ),
        payload={"survey_id": survey.id},
        status=NotificationStatus.PENDING,
        created_at=now,
        deliver_after=ask_at,
        stale_after=ask_at + STALE_AFTER,
    )
    if not await uow.notifications.add_once(notification):
        await uow.session.delete(survey)
        await uow.flush()
        return None
    survey.notification_id = notification.id
    await uow.flush()
    return survey


def _clean(text: str, field: str) -> str:
    """Free text as the member or staff typed it, trimmed; too long or with control characters:
    refused."""
    text = check_text(text.strip(), field, multiline=True)
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"{field} is at most {MAX_COMMENT} characters", field=field)
    return text


# --- the answer ----------------------------------------------------------------------------------


async def _own_survey(uow: UnitOfWork, member: Member, survey_id: int) -> FeedbackSurvey:
    """The member's own survey: someone else's (a forged button) is as good as none."""
    survey = await uow.feedback.survey(survey_id)
    if survey is None or survey.member_id != member.id:
        raise SurveyNotFound("no such survey of yours")
    return survey


async def answer_score(
    uow: UnitOfWork, clock: Clock, settings: Settings, member: Member, survey_id: int, score: int
) -> FeedbackSurvey:
    """Record the score once, with the points for answering. A second score is refused."""
    if not 0 <= score <= 10:
        raise InvalidInput("a score is 0 to 10", field="score")
    survey = await _own_survey(uow, member, survey_id)
    now = clock.now()
    if survey.score is not None or not await uow.feedback.set_score(survey.id, score, at=now):
        raise SurveyAnswered("this survey was answered already")
    if settings.feedback_points > 0:
        locked = await uow.lock_member(member.id)
        points = min(settings.feedback_points, ledger.MAX_BALANCE - locked.points_balance)
        if points > 0:
            await ledger.credit(
                uow, locked, points=points, kind=LedgerKind.BONUS, at=now,
                expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
                actor="feedback", reason=f"feedback survey {survey.id}",
            )
            await uow.feedback.update_open(survey.id, points_awarded=points)
    await uow.commit()
    return await _own_survey(uow, member, survey_id)


async def answer_comment(
    uow: UnitOfWork, clock: Clock, member: Member, survey_id: int, comment: str | None
) -> FeedbackSurvey:
    """The follow-up: a comment, or None for Skip. A detractor's survey stays open for the
    consent question; the others close here."""
    survey = await _own_survey(uow, member, survey_id)
    if survey.score is None:
        raise SurveyClosed("the survey has no score yet")
    text = None
    if comment is not None:
        text = _clean(comment, "comment") or None
    values: dict[str, object] = {"comment": text}
    if band(survey.score) != "detractor":
        values["closed_at"] = clock.now()
    if survey.comment is not None or not await uow.feedback.update_open(survey.id, **values):
        raise SurveyClosed("this survey is closed")
    await uow.commit()
    return await _own_survey(uow, member, survey_id)


@dataclass(frozen=True)
class Alert:
    """What the store's staff hear about a detractor's answer."""

    survey: FeedbackSurvey
    store_name: str | None
    first_name: str | None
    telegram_id: int | None  # only with the member's consent to be contacted
    recipients: Sequence[Staff]


async def answer_contact(
    uow: UnitOfWork, clock: Clock, member: Member, survey_id: int, ok: bool
) -> Alert:
    """A detractor's answer to "may someone contact you?": closes the survey and names whom to
    alert (the store's staff, else the owners). The alert is audited."""
    survey = await _own_survey(uow, member, survey_id)
    if survey.score is None or band(survey.score) != "detractor":
        raise SurveyClosed("only a low score is followed up")
    now = clock.now()
    if not await uow.feedback.update_open(survey.id, contact_ok=ok, closed_at=now):
        raise SurveyClosed("this survey is closed")
    recipients = await uow.feedback.staff_for(survey.store_id)
    store = await uow.program.store(survey.store_id) if survey.store_id is not None else None
    uow.audit.record(
        at=now, actor="feedback", action="feedback.detractor_alert", member_id=member.id,
        detail=f"survey {survey.id} score {survey.score} contact {'yes' if ok else 'no'} "
        f"to staff {','.join(str(staff.id) for staff in recipients) or 'none'}",
    )
    await uow.commit()
    survey = await _own_survey(uow, member, survey_id)
    return Alert(
        survey=survey, store_name=store.name if store else None, first_name=uow.members.first_name_of(member),
        telegram_id=member.telegram_id if ok else None, recipients=recipients,
    )


# --- /feedback: the member writes, staff reply ---------------------------------------------------


@dataclass(frozen=True)
class Written:
    message: FeedbackMessage
    store_name: str | None
    recipients: Sequence[Staff]


async def write(uow: UnitOfWork, clock: Clock, member: Member, body: str) -> Written:
    """Store what the member wrote; for the staff of their last store (else the owners)."""
    text = _clean(body, "body")
    if not text:
        raise InvalidInput("write a few words", field="body")
    store_id = await uow.feedback.last_store_of(member.id)
    message = await uow.feedback.add_message(
        FeedbackMessage(member_id=member.id, store_id=store_id, body=text, created_at=clock.now())
    )
    recipients = await uow.feedback.staff_for(store_id)
    store = await uow.program.store(store_id) if store_id is not None else None
    await uow.commit()
    return Written(message, store.name if store else None, recipients)


async def reply(uow: UnitOfWork, clock: Clock, staff_telegram_id: int, message_id: int, body: str) -> FeedbackMessage:
    """A staff member's answer to a member's message: stored, audited, and owed to the member
    (a receipt in the outbox: it goes whatever they muted). Whoever is not staff (read now, not
    when the button was made) is refused."""
    staff = await uow.staff.by_telegram_id(staff_telegram_id)
    if staff is None:
        raise NotStaff("only staff reply to feedback")
    original = await uow.feedback.message(message_id)
    if original is None or original.staff_id is not None:
        raise FeedbackMessageNotFound("no such message from a member")
    text = _clean(body, "body")
    if not text:
        raise InvalidInput("write a few words", field="body")
    now = clock.now()
    answer = await uow.feedback.add_message(
        FeedbackMessage(
            member_id=original.member_id, store_id=original.store_id, staff_id=staff.id,
            reply_to_id=original.id, body=text, created_at=now,
        )
    )
    uow.notifications.add(
        Notification(
            member_id=original.member_id, kind=NotificationKind.FEEDBACK_REPLY,
            payload={"message_id": answer.id, "reply": text, "question": original.body},
            status=NotificationStatus.PENDING, created_at=now,
        )
    )
    uow.audit.record(
        at=now, actor=f"staff:{staff.id}", action="feedback.reply", member_id=original.member_id,
        detail=f"reply {answer.id} to message {original.id}",
    )
    await uow.commit()
    return answer


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nps:
    """NPS in points (-100..100) with its 95 % interval, from n answers."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    asked: int
    nps: float | None
    low: float | None
    high: float | None

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.asked if self.asked else None


def nps_of(scores: Iterable[int], *, asked: int = 0) -> Nps:
    """% promoters - % detractors, and its interval from the variance of NPS as a difference
    of two proportions of one sample: var = (p_P + p_D - (p_P - p_D)^2) / n."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        counts[band(score)] += 1
    n = sum(counts.values())
    if n == 0:
        return Nps(0, 0, 0, 0, asked, None, None, None)
    p_p, p_d = counts["promoter"] / n, counts["detractor"] / n
    value = p_p - p_d
    half = Z_95 * math.sqrt(max(p_p + p_d - value * value, 0.0) / n)
    return Nps(
        n, counts["promoter"], counts["passive"], counts["detractor"], max(asked, n),
        round(100 * value, 2), round(100 * max(value - half, -1.0), 2), round(100 * min(value + half, 1.0), 2),
    )


@dataclass(frozen=True)
class NpsReport:
    overall: Nps
    by_store: dict[int | None, Nps]
    by_staff: dict[int, Nps]  # surveys about purchases a staff member rang up (the pocket till)


async def report(uow: UnitOfWork, start: datetime, end: datetime, store_id: int | None = None) -> NpsReport:
    """NPS, its interval and the response rate of the surveys owed in [start, end), in all, per
    store (None: purchases at a store since deleted) and per staff member who rang them up."""
    rows = await uow.feedback.surveys_between(start, end, store_id)
    stores: dict[int | None, list[tuple[int | None, bool]]] = {}
    staff: dict[int, list[tuple[int | None, bool]]] = {}
    for row in rows:
        stores.setdefault(row.store_id, []).append((row.score, bool(row.asked)))
        if row.staff_id is not None:
            staff.setdefault(row.staff_id, []).append((row.score, bool(row.asked)))
    return NpsReport(
        overall=_figure([(row.score, bool(row.asked)) for row in rows]),
        by_store={store: _figure(answers) for store, answers in sorted(stores.items(), key=lambda i: i[0] or 0)},
        by_staff={person: _figure(answers) for person, answers in sorted(staff.items())},
    )


def _figure(answers: Sequence[tuple[int | None, bool]]) -> Nps:
    scores = [score for score, _ in answers if score is not None]
    return nps_of(scores, asked=sum(1 for _, asked in answers if asked))


def day_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in `zone`: local days, both included."""
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=zone),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone),
    )
