"""Rewards and redemptions: what the merchant sends to define the catalogue, what tills see.

Input models declare shapes only; the rules in loyalty/rewards.py check the values (code format,
names per locale, ranges, currency, tier, window), so there is one place that decides and the
answer names the field either way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict

from api.schemas.common import LocalisedNames, LocalisedTexts, SingleLine
from loyalty.rewards import RedemptionDetails, RewardDefinition

_EXAMPLE: JsonDict = {
    "code": "LATTE",
    "names": {"en": "Latte", "zh_CN": "拿铁"},
    "descriptions": {"en": "Any size, any milk.", "zh_CN": "任意杯型，任选奶。"},
    "points_price": 250,
    "cash_value_minor": 3200,
    "stock": 100,
    "min_tier": None,
    "active_from": "2026-12-01T00:00:00+08:00",
    "active_until": None,
}


class RewardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    code: SingleLine = Field(description="1-32 of A-Z a-z 0-9 _ -, unique; how the API names the reward.")
    names: LocalisedNames = Field(
        description="Per locale, 1-80 characters; at least one. A member whose language has no name "
        "reads the English one, else the one given."
    )
    descriptions: LocalisedTexts = Field(
        default_factory=dict, description="Per locale, optional, up to 1000 characters."
    )
    points_price: int = Field(description="Points a member pays; at least 1.")
    cash_value_minor: int = Field(description="What the reward is worth, in minor units; 0 or more.")
    currency: SingleLine | None = Field(
        default=None, description="Must be the program's currency (the default); any other is refused."
    )
    stock: int | None = Field(default=None, description="Units left; null for unlimited.")
    min_tier: SingleLine | None = Field(default=None, description="Code of the lowest tier that may redeem it.")
    active_from: AwareDatetime | None = Field(default=None, description="On offer from (included).")
    active_until: AwareDatetime | None = Field(
        default=None, description="On offer until (excluded); after `active_from`."
    )
    active: StrictBool = True
    image_url: SingleLine | None = Field(
        default=None, description="An https:// address of a picture, shown with it in the chat; up to 500 characters."
    )


class RewardUpdate(BaseModel):
    """Only the fields sent change. `stock` is set to the value sent; null means unlimited."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"stock": 20, "points_price": 300}]}
    )

    names: LocalisedNames | None = Field(default=None, description="Replaces all names (at least one).")
    descriptions: LocalisedTexts | None = Field(default=None, description="Replaces all descriptions.")
    points_price: int | None = None
    cash_value_minor: int | None = None
    currency: SingleLine | None = None
    stock: int | None = None
    min_tier: SingleLine | None = Field(default=None, description="A tier code, or null for everyone.")
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None
    active: StrictBool | None = None
    image_url: SingleLine | None = Field(default=None, description="An https:// address, or null for none.")


class RewardPublic(BaseModel):
    code: str
    names: dict[str, str]
    descriptions: dict[str, str]
    image_url: str | None
    points_price: int
    cash_value_minor: int
    currency: str
    stock: int | None = Field(description="Units left; null for unlimited.")
    min_tier: str | None = Field(description="Code of the lowest tier that may redeem it.")
    active_from: datetime | None
    active_until: datetime | None
    active: bool
    created_at: datetime

    @classmethod
    def from_definition(cls, definition: RewardDefinition) -> RewardPublic:
        reward = definition.reward
        return cls(
            code=reward.code,
            names=reward.names,
            descriptions=reward.descriptions,
            image_url=reward.image_url,
            points_price=reward.points_price,
            cash_value_minor=reward.cash_value_minor,
            currency=reward.currency,
            stock=reward.stock,
            min_tier=definition.min_tier.code if definition.min_tier else None,
            active_from=reward.active_from,
            active_until=reward.active_until,
            active=reward.active,
            created_at=reward.created_at,
        )


class RewardsPublic(BaseModel):
    data: list[RewardPublic]
    count: int = Field(description="How many rewards match, on all pages together.")
    page: int
    page_size: int


class RedemptionUse(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"store": "S001"}]})

    store: SingleLine | None = Field(default=None, description="Code of the store handing the reward over.")


class RedemptionPublic(BaseModel):
    code: str = Field(description="As shown to the member, e.g. `RW-7KQ4-M9XD-2HPA`.")
    status: Literal["issued", "used", "cancelled"]
    reward: str = Field(description="The reward's code.")
    reward_names: dict[str, str]
    points: int = Field(description="Points the member paid.")
    member_number: str
    issued_at: datetime
    used_at: datetime | None
    store: str | None = Field(description="Where it was used.")

    @classmethod
    def from_details(cls, details: RedemptionDetails) -> RedemptionPublic:
        redemption = details.redemption
        return cls(
            code=redemption.code,
            status=redemption.status,  # type: ignore[arg-type]
            reward=details.reward.code,
            reward_names=details.reward.names,
            points=redemption.points,
            member_number=details.member_number,
            issued_at=redemption.issued_at,
            used_at=redemption.used_at,
            store=details.store_code,
        )
