"""Feedback surveys and the members' feedback threads (loyalty/feedback.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FeedbackMessage, FeedbackSurvey, Notification, NotificationStatus, Purchase, Staff


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_survey(self, survey: FeedbackSurvey) -> FeedbackSurvey:
        self._session.add(survey)
        await self._session.flush()
        return survey

    async def survey(self, survey_id: int) -> FeedbackSurvey | None:
        statement = select(FeedbackSurvey).where(FeedbackSurvey.id == survey_id).execution_options(
            populate_existing=True
        )
        return (await self._session.scalars(statement)).one_or_none()

    async def last_survey_at(self, member_id: int) -> datetime | None:
        statement = select(func.max(FeedbackSurvey.created_at)).where(FeedbackSurvey.member_id == member_id)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def surveys_of(self, member_id: int) -> Sequence[FeedbackSurvey]:
        statement = select(FeedbackSurvey).where(FeedbackSurvey.member_id == member_id).order_by(FeedbackSurvey.id)
        return (await self._session.scalars(statement)).all()

    async def set_score(self, survey_id: int, score: int, *, at: datetime) -> bool:
        """One conditional UPDATE: of two presses racing, one sets the score; False for the other."""
        result = await self._session.execute(
            update(FeedbackSurvey)
            .where(FeedbackSurvey.id == survey_id, FeedbackSurvey.score.is_(None))
            .values(score=score, answered_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def update_open(self, survey_id: int, **values: Any) -> bool:
        """Change a survey whose follow-up is still open; False once it closed."""
        result = await self._session.execute(
            update(FeedbackSurvey)
            .where(FeedbackSurvey.id == survey_id, FeedbackSurvey.closed_at.is_(None))
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def surveys_between(self, start: datetime, end: datetime, store_id: int | None) -> Sequence[Any]:
        """(store_id, staff_id, score, whether its question went out) of the surveys owed in [start, end)."""
        statement = (
            select(
                FeedbackSurvey.store_id,
                FeedbackSurvey.staff_id,
                FeedbackSurvey.score,
                (Notification.status == NotificationStatus.SENT).label("asked"),
            )
            .outerjoin(Notification, Notification.id == FeedbackSurvey.notification_id)
            .where(FeedbackSurvey.created_at >= start, FeedbackSurvey.created_at < end)
        )
        if store_id is not None:
            statement = statement.where(FeedbackSurvey.store_id == store_id)
        return (await self._session.execute(statement)).all()

    async def comments_between(
        self, start: datetime, end: datetime, store_id: int | None, *, offset: int, limit: int
    ) -> Sequence[FeedbackSurvey]:
        """The answered surveys with a comment, newest first."""
        statement = (
            select(FeedbackSurvey)
            .where(
                FeedbackSurvey.created_at >= start,
                FeedbackSurvey.created_at < end,
                FeedbackSurvey.comment.is_not(None),
            )
            .order_by(FeedbackSurvey.answered_at.desc(), FeedbackSurvey.id.desc())
            .offset(offset)
            .limit(limit)
        )
        if store_id is not None:
            statement = statement.where(FeedbackSurvey.store_id == store_id)
        return (await self._session.scalars(statement)).all()

    async def staff_for(self, store_id: int | None) -> Sequence[Staff]:
        """Who hears about a store: its staff; when it has none (or there is no store), the owners."""
        if store_id is not None:
            serving = (await self._session.scalars(
                select(Staff).where(Staff.store_id == store_id).order_by(Staff.id)
            )).all()
            if serving:
                return serving
        return (await self._session.scalars(select(Staff).where(Staff.role == "owner").order_by(Staff.id))).all()

    async def last_store_of(self, member_id: int) -> int | None:
        statement = (
            select(Purchase.store_id)
            .where(Purchase.member_id == member_id, Purchase.store_id.is_not(None))
            .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
            .limit(1)
        )
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def add_message(self, message: FeedbackMessage) -> FeedbackMessage:
        self._session.add(message)
        await self._session.flush()
        return message

    async def message(self, message_id: int) -> FeedbackMessage | None:
        return await self._session.get(FeedbackMessage, message_id)

    async def thread(self, member_id: int) -> Sequence[FeedbackMessage]:
        statement = select(FeedbackMessage).where(FeedbackMessage.member_id == member_id).order_by(FeedbackMessage.id)
        return (await self._session.scalars(statement)).all()
