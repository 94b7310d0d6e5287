"""The referral program's terms and report as the merchant reads and writes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from db.repositories.referrals import Funnel
from loyalty import referrals
from loyalty.coupons import TEMPLATE_CODE

TemplateCode = Annotated[str, Field(pattern=TEMPLATE_CODE.pattern, description="A coupon template's code.")]
Cap = Annotated[StrictInt, Field(ge=0, le=referrals.MAX_CAP)]


class ReferralTerms(BaseModel):
    """The program's terms, replaced as a whole by PUT. Off until set."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "active": True,
                    "friend_coupon": "WELCOME-FRIEND",
                    "reward_points": 300,
                    "min_purchase_minor": 3000,
                    "hold_days": 14,
                    "monthly_cap": 5,
                    "total_cap": 50,
                }
            ]
        },
    )

    active: StrictBool
    friend_coupon: TemplateCode | None = Field(
        default=None, description="The coupon template a friend gets on joining by a member's link."
    )
    reward_points: StrictInt = Field(
        default=0, ge=0, le=referrals.MAX_REWARD_POINTS,
        description="Points the referrer gets once the friend's first qualifying purchase has outlived its hold.",
    )
    reward_coupon: TemplateCode | None = Field(
        default=None, description="A coupon template the referrer gets then (with or instead of points)."
    )
    min_purchase_minor: StrictInt = Field(
        default=0, ge=0, le=referrals.MAX_MIN_PURCHASE_MINOR,
        description="The least a first purchase is to qualify, in minor units of the program's currency.",
    )
    hold_days: StrictInt = Field(
        default=14, ge=0, le=referrals.MAX_HOLD_DAYS,
        description="Days the reward waits; a refund of the purchase within them voids it.",
    )
    monthly_cap: Cap | None = Field(default=None, description="Rewards per referrer per calendar month; none: no cap.")
    total_cap: Cap | None = Field(default=None, description="Rewards per referrer in all; none: no cap.")
    burst_size: StrictInt = Field(
        default=3, ge=2, le=referrals.MAX_CAP,
        description="This many friends of one referrer joining within `burst_minutes` are held for review.",
    )
    burst_minutes: StrictInt = Field(default=10, ge=1, le=referrals.MAX_BURST_MINUTES)
    daily_join_limit: StrictInt = Field(
        default=10, ge=1, le=referrals.MAX_CAP,
        description="Friends per referrer per 24 hours that count; more join without counting (`capped`).",
    )

    def terms(self) -> referrals.Terms:
        return referrals.Terms(**self.model_dump())

    @classmethod
    def of(cls, terms: referrals.Terms) -> ReferralTerms:
        return cls.model_validate(vars(terms))


class FunnelPublic(BaseModel):
    invited: int = Field(description="Invite links opened by people not yet members.")
    joined: int
    first_purchase: int = Field(description="Friends whose qualifying first purchase was made.")
    rewarded: int
    held: int = Field(description="Waiting for review (one of a burst of joins).")
    voided: int
    capped: int
    reward_points: int
    reward_cost_minor: int = Field(
        description="Points at POINT_COST_MINOR each plus the face value of money coupons given, minor units."
    )
    revenue_minor: int = Field(description="Net purchases of the referred friends, minor units.")

    @classmethod
    def of(cls, funnel: Funnel, cost: int) -> FunnelPublic:
        return cls(
            invited=funnel.invited, joined=funnel.joined, first_purchase=funnel.first_purchase,
            rewarded=funnel.rewarded, held=funnel.held, voided=funnel.voided, capped=funnel.capped,
            reward_points=funnel.reward_points, reward_cost_minor=cost, revenue_minor=funnel.revenue_minor,
        )


class ReferrerFunnelPublic(FunnelPublic):
    member_number: str


class ReferralReportPublic(BaseModel):
    start: date
    end: date
    total: FunnelPublic
    referrers: list[ReferrerFunnelPublic]
    referrer_count: int
    page: int
    page_size: int


class ReferralPublic(BaseModel):
    id: int
    referrer: str | None = Field(default=None, description="The inviting member's number.")
    friend: str | None = Field(default=None, description="The friend's member number.")
    status: str
    suspicious: bool
    joined_at: datetime
    qualified_at: datetime | None
    hold_until: datetime | None
    settled_at: datetime | None
    reward_points: int

    model_config = ConfigDict(from_attributes=True)


class ReferralsPublic(BaseModel):
    data: list[ReferralPublic]
    count: int
    page: int
    page_size: int
