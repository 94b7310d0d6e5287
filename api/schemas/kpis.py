"""The dashboard's numbers (GET /kpis) and anonymous sales (POST /sales), as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.schemas.purchases import Currency
from loyalty.kpis import Dashboard, Figure, Series, definition
from loyalty.kpis.definitions import CHARTS
from loyalty.kpis.sales import MAX_DAY_AMOUNT_MINOR, MAX_DAY_SALES, SalesRecorded

Number = int | float | None
StoreCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Store code", examples=["SH-01"])]


class FigurePublic(BaseModel):
    key: str = Field(examples=["members.new"])
    unit: Literal["count", "money", "ratio", "points"] = Field(
        description="money: minor units of `currency`; ratio: a fraction (0.25 reads 25 %)"
    )
    value: Number = Field(description="Over the period; null where its definition divides by nothing.")
    previous: Number = Field(description="The same over the previous period of the same length.")
    change: float | None = Field(description="(value - previous) / |previous|; null without a previous value.")
    definition: str = Field(description="What it counts.")

    @classmethod
    def of(cls, figure: Figure) -> FigurePublic:
        return cls(
            key=figure.key, unit=figure.unit.value, value=figure.value, previous=figure.previous,
            change=figure.change, definition=definition(figure.key),
        )


class SeriesPublic(BaseModel):
    key: str
    unit: Literal["count", "money", "ratio", "points"]
    labels: list[str] = Field(description="ISO days (the first day of each week over 90 days) or months (YYYY-MM).")
    lines: dict[str, list[Number]] = Field(description="One value per label; null where there is none yet.")
    description: str

    @classmethod
    def of(cls, series: Series) -> SeriesPublic:
        return cls(
            key=series.key, unit=series.unit.value, labels=list(series.labels),
            lines={name: list(values) for name, values in series.lines.items()},
            description=CHARTS.get(series.key, ""),
        )


class CohortPublic(BaseModel):
    month: date = Field(description="First day of the join month.")
    members: int
    retained: dict[str, float | None] = Field(
        description="Keys 30, 90, 365: share of the cohort who bought in the calendar month 1, 3 and 12 months "
        "after the join month; null until that month has ended."
    )


class SegmentPublic(BaseModel):
    segment: str
    at_start: int
    at_end: int


class CampaignRowPublic(BaseModel):
    campaign_id: int
    name: str
    started_at: datetime | None
    reach: int = Field(description="Messages delivered.")
    targeted_conversion: float
    holdout_conversion: float
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    incremental_revenue_minor: int | None
    coupon_cost_minor: int
    roi: float | None


class KpisPublic(BaseModel):
    start: date = Field(description="First local day of the period (TIMEZONE), included.")
    end: date = Field(description="Last local day, included.")
    previous_start: date
    previous_end: date
    store: str | None = Field(description="The store the spend figures are about; null: every store and online.")
    currency: str
    computed_at: datetime
    figures: dict[str, FigurePublic]
    charts: dict[str, SeriesPublic]
    tiers: dict[str, int] = Field(description="Members per tier code at the period's end.")
    cohorts: list[CohortPublic]
    segments: list[SegmentPublic] = Field(description="Members per RFM segment at the start and the end.")
    campaigns: list[CampaignRowPublic] = Field(description="Campaigns started in the period.")

    @classmethod
    def of(cls, board: Dashboard) -> KpisPublic:
        previous = board.period.previous()
        return cls(
            start=board.period.start, end=board.period.end, previous_start=previous.start, previous_end=previous.end,
            store=board.store_code, currency=board.currency, computed_at=board.computed_at,
            figures={key: FigurePublic.of(figure) for key, figure in board.figures.items()},
            charts={key: SeriesPublic.of(series) for key, series in board.charts.items()},
            tiers=dict(board.tiers),
            cohorts=[
                CohortPublic(month=row.month, members=row.members, retained={str(days): share for days, share in row.retained.items()})
                for row in board.cohorts
            ],
            segments=[SegmentPublic(segment=name, at_start=start, at_end=end) for name, (start, end) in board.segments.items()],
            campaigns=[CampaignRowPublic(**row.__dict__) for row in board.campaigns],
        )


class SalesCreate(BaseModel):
    """One day's sales to non-members at one store (or online, without a store)."""

    model_config = ConfigDict(extra="forbid")

    store_code: StoreCode | None = Field(default=None, description="The store; absent: the online shop.")
    day: date = Field(description="The local day (TIMEZONE) the sales were made, today or up to "
                      "PURCHASE_BACKDATE_DAYS back.")
    amount_minor: StrictInt = Field(ge=0, le=MAX_DAY_AMOUNT_MINOR, description="The day's total, integer minor units.")
    currency: Currency
    count: StrictInt = Field(ge=0, le=MAX_DAY_SALES, description="How many sales made up the total.")


class SalesPublic(BaseModel):
    store_code: str | None
    day: date
    amount_minor: int
    currency: str
    count: int
    replaced: bool = Field(description="The day had been reported already: this total replaced it.")

    @classmethod
    def of(cls, recorded: SalesRecorded) -> SalesPublic:
        return cls(
            store_code=recorded.store_code, day=recorded.day, amount_minor=recorded.amount_minor,
            currency=recorded.currency, count=recorded.sales, replaced=recorded.replaced,
        )
