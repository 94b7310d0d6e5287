"""The program's configuration as the merchant reads and writes it: tiers, earning rules, stores.

Field bounds come from the rule modules, so the OpenAPI document and the rules agree; the
rules that span fields (kind-specific fields, thresholds across tiers) are checked by the rule
modules and answered as 422s on the field concerned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic.config import JsonDict

from api.schemas.common import SingleLine
from api.schemas.members import Locale
from loyalty import earning, geo, stores, tiers

MINOR_UNITS = "integer minor units of the program's currency (12800 is ¥128.00)"

# --- tiers ---------------------------------------------------------------------------------------

MultiplierPct = Annotated[StrictInt, Field(ge=earning.PCT, le=earning.MAX_MULTIPLIER_PCT)]
Benefit = Annotated[SingleLine, Field(min_length=1, max_length=tiers.BENEFIT_MAX_LENGTH)]
Benefits = Annotated[list[Benefit], Field(max_length=tiers.MAX_BENEFITS)]
TierName = Annotated[SingleLine, Field(min_length=1, max_length=tiers.NAME_MAX_LENGTH)]


class TierNames(BaseModel):
    """The tier's name in every language members use."""

    model_config = ConfigDict(extra="forbid")

    en: TierName
    zh_CN: TierName


class TierUpsert(BaseModel):
    """A tier's settings, replaced as a whole by PUT."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rank": 2,
                    "names": {"en": "Gold", "zh_CN": "金卡"},
                    "min_spend_minor": 600000,
                    "min_visits": 25,
                    "earn_multiplier_pct": 125,
                    "birthday_multiplier_pct": 200,
                    "benefits": {"en": ["25% more points"], "zh_CN": ["积分加赠25%"]},
                }
            ]
        },
    )

    rank: StrictInt = Field(
        ge=0,
        le=tiers.MAX_RANK,
        description=(
            "Position on the ladder; unique. 0 is the entry tier every member starts in: it has "
            "no thresholds and keeps rank 0."
        ),
    )
    names: TierNames
    min_spend_minor: StrictInt = Field(
        default=0,
        ge=0,
        le=tiers.MAX_SPEND_MINOR,
        description=(
            f"Net spend over the rolling window that qualifies, in {MINOR_UNITS}. 0: not by spend. "
            "A higher rank needs at least the spend threshold of the ranks below."
        ),
    )
    min_visits: StrictInt = Field(
        default=0,
        ge=0,
        le=tiers.MAX_VISITS,
        description=(
            "Purchases over the rolling window that qualify (spend OR visits). 0: not by visits. "
            "A higher rank needs at least the visits threshold of the ranks below."
        ),
    )
    earn_multiplier_pct: MultiplierPct = Field(
        default=earning.PCT, description="Points multiplier in percent: 100 is x1, 125 is 25% more."
    )
    birthday_multiplier_pct: MultiplierPct = Field(
        default=earning.PCT,
        description="Extra multiplier in the member's birthday month, in percent.",
    )
    benefits: dict[Locale, Benefits] = Field(
        default_factory=dict,
        max_length=2,
        description="What the tier gives, per locale, as short lines.",
    )

    def spec(self) -> tiers.TierSpec:
        return tiers.TierSpec(
            rank=self.rank,
            names=self.names.model_dump(),
            min_spend_minor=self.min_spend_minor,
            min_visits=self.min_visits,
            earn_multiplier_pct=self.earn_multiplier_pct,
            birthday_multiplier_pct=self.birthday_multiplier_pct,
            # Rebuilt to widen the key from the two locales to str (a Mapping's key type is fixed).
            benefits=dict(self.benefits.items()),
        )


class TierPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    rank: int
    names: dict[str, str]
    min_spend_minor: int = Field(description=f"Spend threshold in {MINOR_UNITS}; 0: not by spend.")
    min_visits: int = Field(description="Visits threshold; 0: not by visits.")
    earn_multiplier_pct: int
    birthday_multiplier_pct: int
    benefits: dict[str, list[str]]
    updated_at: datetime


class TiersPublic(BaseModel):
    data: list[TierPublic] = Field(description="Lowest rank first.")
    count: int


# --- earning rules -------------------------------------------------------------------------------

RuleKind = Literal["base", "promotion", "bonus"]
BonusEvent = Literal["signup", "first_purchase", "profile_complete"]
RuleName = Annotated[SingleLine, Field(min_length=1, max_length=earning.NAME_MAX_LENGTH)]
RulePoints = Annotated[StrictInt, Field(gt=0, le=earning.MAX_RULE_POINTS)]
PerAmountMinor = Annotated[StrictInt, Field(gt=0, le=earning.MAX_PER_AMOUNT_MINOR)]
Category = Annotated[SingleLine, Field(min_length=1, max_length=earning.CATEGORY_MAX_LENGTH)]

_FIELD_DOCS = {
    "points": "base: points per `per_amount_minor` spent; bonus: points granted. Not for promotions.",
    "per_amount_minor": f"base only: the spend, in {MINOR_UNITS}, that earns `points`.",
    "multiplier_pct": "promotion only: multiplier in percent (200 is double points); never stacks with another promotion.",
    "category": "promotion only: limit it to purchase lines of this category; without, it covers the whole purchase.",
    "event": "bonus only: what grants the bonus.",
    "starts_at": "promotion or bonus: first moment it applies (inclusive); open when absent.",
    "ends_at": "promotion or bonus: first moment it no longer applies (exclusive), after starts_at.",
}


class EarningRuleCreate(BaseModel):
    """A base rate, a time-boxed promotion, or a one-off bonus. Creating an active base rate
    deactivates the previous one: there is one base rate at a time."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Base rate", "kind": "base", "points": 1, "per_amount_minor": 100},
                {
                    "name": "Double points on coffee",
                    "kind": "promotion",
                    "multiplier_pct": 200,
                    "category": "coffee",
                    "starts_at": "2026-12-01T00:00:00+08:00",
                    "ends_at": "2027-01-01T00:00:00+08:00",
                },
                {"name": "Welcome bonus", "kind": "bonus", "event": "signup", "points": 100},
            ]
        },
    )

    name: RuleName = Field(description="Shown to members on receipts and messages.")
    kind: RuleKind
    points: RulePoints | None = Field(default=None, description=_FIELD_DOCS["points"])
    per_amount_minor: PerAmountMinor | None = Field(
        default=None, description=_FIELD_DOCS["per_amount_minor"]
    )
    multiplier_pct: MultiplierPct | None = Field(
        default=None, description=_FIELD_DOCS["multiplier_pct"]
    )
    category: Category | None = Field(default=None, description=_FIELD_DOCS["category"])
    event: BonusEvent | None = Field(default=None, description=_FIELD_DOCS["event"])
    starts_at: AwareDatetime | None = Field(default=None, description=_FIELD_DOCS["starts_at"])
    ends_at: AwareDatetime | None = Field(default=None, description=_FIELD_DOCS["ends_at"])
    active: StrictBool = True

    def spec(self) -> earning.RuleSpec:
        return earning.RuleSpec(**self.model_dump())


class EarningRuleUpdate(BaseModel):
    """Only the fields given change (null clears an optional one); the kind never changes. The
    rule as a whole must still be valid for its kind."""

    model_config = ConfigDict(extra="forbid")

    name: RuleName | None = None
    points: RulePoints | None = Field(default=None, description=_FIELD_DOCS["points"])
    per_amount_minor: PerAmountMinor | None = Field(
        default=None, description=_FIELD_DOCS["per_amount_minor"]
    )
    multiplier_pct: MultiplierPct | None = Field(
        default=None, description=_FIELD_DOCS["multiplier_pct"]
    )
    category: Category | None = Field(default=None, description=_FIELD_DOCS["category"])
    event: BonusEvent | None = Field(default=None, description=_FIELD_DOCS["event"])
    starts_at: AwareDatetime | None = Field(default=None, description=_FIELD_DOCS["starts_at"])
    ends_at: AwareDatetime | None = Field(default=None, description=_FIELD_DOCS["ends_at"])
    active: StrictBool | None = None

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class EarningRulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: RuleKind
    points: int | None
    per_amount_minor: int | None = Field(description=f"base only, in {MINOR_UNITS}.")
    multiplier_pct: int | None
    category: str | None
    event: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool
    created_at: datetime


class EarningRulesPublic(BaseModel):
    data: list[EarningRulePublic] = Field(description="Oldest first.")
    count: int


# --- stores --------------------------------------------------------------------------------------

StoreCode = Annotated[
    str,
    Field(
        pattern=stores.STORE_CODE.pattern,
        description="1-32 of A-Z, a-z, 0-9, _ and -.",
        examples=["S001"],
    ),
]


HOURS_DESCRIPTION = (
    "Opening hours per weekday (mon..sun) in the store's own time zone: a list of up to "
    f"{geo.MAX_SPANS_PER_DAY} [open, close] pairs of HH:MM. A weekday left out is a closed day; a "
    "close not after its open ends the next day (10:00-02:00); all day is 00:00-24:00. Opening "
    "time counts as open, closing time as closed. `null`: hours not published (never hidden by "
    "`open_now`)."
)
HOURS_EXAMPLE: JsonDict = {"mon": [["08:00", "22:00"]], "sat": [["10:00", "02:00"]], "sun": [["00:00", "24:00"]]}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", examples=["08:00"])]
OpeningHours = Annotated[
    dict[Weekday, list[tuple[ClockTime, ClockTime]]],
    Field(description=HOURS_DESCRIPTION, examples=[HOURS_EXAMPLE]),
]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84 degrees.")]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84 degrees.")]


class StoreCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "S001",
                    "name": "Jing'an flagship",
                    "city": "Shanghai",
                    "timezone": "Asia/Shanghai",
                    "address": "1601 Nanjing West Rd",
                    "latitude": 31.2243,
                    "longitude": 121.4462,
                    "opening_hours": HOURS_EXAMPLE,
                }
            ]
        },
    )

    code: StoreCode
    name: SingleLine = Field(min_length=1, max_length=stores.NAME_MAX_LENGTH)
    city: SingleLine | None = Field(default=None, min_length=1, max_length=stores.CITY_MAX_LENGTH)
    timezone: SingleLine | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone, e.g. Asia/Shanghai; defaults to the program's.",
    )
    address: SingleLine | None = Field(default=None, min_length=1, max_length=stores.ADDRESS_MAX_LENGTH)
    latitude: Latitude | None = Field(default=None, description="With `longitude`, or neither.")
    longitude: Longitude | None = None
    opening_hours: OpeningHours | None = None

    def spec(self) -> stores.StoreSpec:
        return stores.StoreSpec(
            code=self.code,
            name=self.name,
            city=self.city,
            timezone=self.timezone,
            address=self.address,
            latitude=self.latitude,
            longitude=self.longitude,
            # Rebuilt to widen the key from the weekdays to str (a Mapping's key type is fixed).
            opening_hours=dict(self.opening_hours.items()) if self.opening_hours is not None else None,
        )


class StoreUpdate(BaseModel):
    """A store's new description, whole: a field left out is cleared (the code stays)."""

    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(min_length=1, max_length=stores.NAME_MAX_LENGTH)
    city: SingleLine | None = Field(default=None, min_length=1, max_length=stores.CITY_MAX_LENGTH)
    timezone: SingleLine | None = Field(
        default=None, max_length=64, description="IANA time zone, e.g. Asia/Shanghai; defaults to the program's."
    )
    address: SingleLine | None = Field(default=None, min_length=1, max_length=stores.ADDRESS_MAX_LENGTH)
    latitude: Latitude | None = Field(default=None, description="With `longitude`, or neither.")
    longitude: Longitude | None = None
    opening_hours: OpeningHours | None = None
    active: bool = Field(default=True, description="An inactive store takes no purchases and is on no map.")

    def spec(self, code: str) -> stores.StoreSpec:
        return stores.StoreSpec(
            code=code,
            name=self.name,
            city=self.city,
            timezone=self.timezone,
            address=self.address,
            latitude=self.latitude,
            longitude=self.longitude,
            opening_hours=dict(self.opening_hours.items()) if self.opening_hours is not None else None,
        )


class StorePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    city: str | None
    timezone: str
    active: bool
    created_at: datetime
    address: str | None
    latitude: float | None
    longitude: float | None
    opening_hours: dict[str, list[list[str]]] | None = Field(description=HOURS_DESCRIPTION)


class StoresPublic(BaseModel):
    data: list[StorePublic] = Field(description="By code.")
    count: int


class NearbyStorePublic(StorePublic):
    distance_m: int = Field(description="Great-circle distance from the point, in whole metres.")


class NearbyStoresPublic(BaseModel):
    data: list[NearbyStorePublic] = Field(description="Nearest first.")
    count: int


class StoreImportPublic(BaseModel):
    created: int
    updated: int
