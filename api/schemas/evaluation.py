"""A promotion's evaluation (loyalty/campaigns/evaluation.py): before, during and after, the
naive effect beside the hold-out's, and why they may differ. Money is `{amount_minor,
currency}`; per-member and per-order figures are floats in minor units; ratios are fractions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.campaigns import Money
from loyalty.campaigns.evaluation import SHIFT, CausalEffect, Evaluation, NaiveEffect, WindowFigures
from loyalty.campaigns.power import READABLE_MDE

ReasonCode = Literal[
    "window_open", "no_holdout", "holdout_small", "holdout_moved", "trend", "seasonality", "other_campaigns"
]


class EvaluationWindowPublic(BaseModel):
    name: Literal["before", "during", "after"]
    start: datetime = Field(description="Included.")
    end: datetime = Field(description="Excluded.")
    first_day: date = Field(description="The first local day it covers (the program's time zone).")
    last_day: date
    measured_until: datetime = Field(description="The end, or now while the window is open.")
    complete: bool = Field(description="The window has ended: its figures will not move.")
    new_registrations: int = Field(description="Members who joined in the window, program-wide.")
    growth_rate: float | None = Field(description="new_registrations / members who had joined before the window.")
    members: int = Field(description="The group: a campaign's targeted members, or every member for a range.")
    buyers: int
    purchases: int
    revenue: Money = Field(description="Net of refunds, in the program's currency.")
    buyer_share: float | None = Field(description="buyers / members.")
    spend_per_member: float | None = Field(description="revenue / members, in minor units.")
    purchase_frequency: float | None = Field(description="purchases / buyers.")
    average_order_value: float | None = Field(description="revenue / purchases, in minor units.")
    participants: int = Field(
        description="Who took part: a campaign's targeted members its message reached (the same in every "
        "window); for a range, members who bought."
    )
    participation_rate: float | None = Field(description="participants / members.")
    conversion_rate: float | None = Field(
        description="Participants who bought / participants; null for a range (it would be 1 by definition)."
    )
    coupon_cost: Money = Field(description="Money off given by coupons used in the window (a campaign's own).")

    @classmethod
    def of(cls, window: WindowFigures, currency: str) -> EvaluationWindowPublic:
        return cls(
            name=window.name,
            start=window.start,
            end=window.end,
            first_day=window.first_day,
            last_day=window.last_day,
            measured_until=window.measured_until,
            complete=window.complete,
            new_registrations=window.new_registrations,
            growth_rate=window.growth_rate,
            members=window.members,
            buyers=window.buyers,
            purchases=window.purchases,
            revenue=Money(amount_minor=window.revenue_minor, currency=currency),
            buyer_share=window.buyer_share,
            spend_per_member=window.spend_per_member_minor,
            purchase_frequency=window.purchase_frequency,
            average_order_value=window.average_order_value_minor,
            participants=window.participants,
            participation_rate=window.participation_rate,
            conversion_rate=window.conversion_rate,
            coupon_cost=Money(amount_minor=window.coupon_cost_minor, currency=currency),
        )


class NaiveEffectPublic(BaseModel):
    """During against before, for the same group: what a merchant sees without a hold-out."""

    revenue_gain: Money
    buyers_change: int
    lift: float | None = Field(description="buyer share during / before - 1.")
    coupon_cost: Money = Field(description="During the promotion.")
    roi: float | None = Field(description="(revenue gain - coupon cost) / coupon cost; null without a cost.")

    @classmethod
    def of(cls, naive: NaiveEffect, currency: str) -> NaiveEffectPublic:
        return cls(
            revenue_gain=Money(amount_minor=naive.revenue_gain_minor, currency=currency),
            buyers_change=naive.buyers_change,
            lift=naive.lift,
            coupon_cost=Money(amount_minor=naive.coupon_cost_minor, currency=currency),
            roi=naive.roi,
        )


class CausalEffectPublic(BaseModel):
    """Targeted against the random hold-out over the during window: the campaign report's."""

    targeted_members: int
    holdout_members: int
    targeted_conversion: float
    holdout_conversion: float
    lift: float | None = Field(description="Relative conversion lift; null without buyers in both groups.")
    lift_low: float | None = Field(description="Its 95% confidence interval, lower end.")
    lift_high: float | None
    incremental_revenue: Money | None
    coupon_cost: Money
    roi: float | None
    holdout_drift: float | None = Field(
        description="The hold-out's own buyer share during / before - 1: what changed anyway, which the naive "
        "lift counts and this one does not."
    )

    @classmethod
    def of(cls, causal: CausalEffect, currency: str) -> CausalEffectPublic:
        return cls(
            targeted_members=causal.targeted_members,
            holdout_members=causal.holdout_members,
            targeted_conversion=causal.targeted_conversion,
            holdout_conversion=causal.holdout_conversion,
            lift=causal.lift,
            lift_low=causal.lift_low,
            lift_high=causal.lift_high,
            incremental_revenue=(
                Money(amount_minor=causal.incremental_revenue_minor, currency=currency)
                if causal.incremental_revenue_minor is not None
                else None
            ),
            coupon_cost=Money(amount_minor=causal.coupon_cost_minor, currency=currency),
            roi=causal.roi,
            holdout_drift=causal.holdout_drift,
        )


class EvaluationPublic(BaseModel):
    campaign_id: int | None = Field(description="Null for a range of days.")
    currency: str
    computed_at: datetime
    windows: list[EvaluationWindowPublic] = Field(description="before, during, after: of equal length.")
    retention: float | None = Field(
        description="The share of the during window's buyers who bought again in the after window; null "
        "until the after window has ended."
    )
    naive: NaiveEffectPublic
    causal: CausalEffectPublic | None = Field(description="Null for a range: it has no hold-out.")
    reasons: list[ReasonCode] = Field(
        description="Why the naive and the causal effect may differ: window_open (figures will still move), "
        f"no_holdout, holdout_small (a lift under {READABLE_MDE:.0%} would not show), holdout_moved (the "
        f"hold-out's buyers moved on their own by {SHIFT:.0%} or more), trend (buyers were already moving "
        "before), seasonality (they moved from before to during a year earlier), other_campaigns "
        "(another campaign started in one of the three windows)."
    )

    @classmethod
    def of(cls, evaluation: Evaluation) -> EvaluationPublic:
        currency = evaluation.currency
        return cls(
            campaign_id=evaluation.campaign_id,
            currency=currency,
            computed_at=evaluation.computed_at,
            windows=[EvaluationWindowPublic.of(window, currency) for window in evaluation.windows],
            retention=evaluation.retention,
            naive=NaiveEffectPublic.of(evaluation.naive, currency),
            causal=CausalEffectPublic.of(evaluation.causal, currency) if evaluation.causal else None,
            reasons=[reason.value for reason in evaluation.reasons],
        )
