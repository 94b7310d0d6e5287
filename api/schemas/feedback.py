"""The feedback report (GET /feedback/nps) and comments (GET /feedback/comments)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from loyalty.feedback import Nps


class NpsPublic(BaseModel):
    store: str | None = Field(description="Store code; null for the whole program (or a store since deleted).")
    nps: float | None = Field(
        description="% promoters (9-10) - % detractors (0-6), -100 to 100; null without answers.", examples=[32.5]
    )
    low: float | None = Field(description="95 % interval, lower end (normal approximation, clipped to -100).")
    high: float | None = Field(description="95 % interval, upper end (clipped to 100).")
    responses: int = Field(description="Surveys answered.")
    promoters: int
    passives: int
    detractors: int
    asked: int = Field(description="Surveys whose question reached the member.")
    response_rate: float | None = Field(description="responses / asked, a fraction; null when nobody was asked.")

    @classmethod
    def of(cls, store: str | None, figure: Nps) -> NpsPublic:
        return cls(
            store=store, nps=figure.nps, low=figure.low, high=figure.high, responses=figure.responses,
            promoters=figure.promoters, passives=figure.passives, detractors=figure.detractors, asked=figure.asked,
            response_rate=figure.response_rate,
        )


class StaffNpsPublic(NpsPublic):
    staff_id: int = Field(description="The staff member who rang the purchases up (the pocket till).")
    staff_name: str


class NpsReportPublic(BaseModel):
    start: date
    end: date
    overall: NpsPublic
    stores: list[NpsPublic]
    staff: list[StaffNpsPublic] = Field(description="Per staff member, for purchases whose till named one.")


class CommentPublic(BaseModel):
    store: str | None = Field(description="Store code of the purchase the survey was about.")
    score: int = Field(ge=0, le=10)
    comment: str
    answered_at: datetime


class CommentsPublic(BaseModel):
    data: list[CommentPublic]
    page: int
    page_size: int
