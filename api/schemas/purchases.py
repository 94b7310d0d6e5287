"""Purchases, refunds and points, as tills and shops send and read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.schemas.common import CardQrStr, MemberNumberStr, SingleLine
from loyalty.money import is_currency_code
from loyalty.purchases import MAX_AMOUNT_MINOR

REFERENCE = r"^[A-Za-z0-9_.:/-]{1,64}$"


def _known_currency(code: str) -> str:
    if not is_currency_code(code):
        raise PydanticCustomError("currency_unknown", "{code} is not an ISO 4217 currency", {"code": code})
    return code


Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY", examples=["CNY"]),
    AfterValidator(_known_currency),
]
AmountMinor = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_AMOUNT_MINOR, description="Integer minor units: 12800 is ¥128.00"),
]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: SingleLine = Field(min_length=1, max_length=64)
    category: SingleLine | None = Field(default=None, min_length=1, max_length=64)
    quantity: StrictInt = Field(default=1, gt=0, le=100_000)
    amount_minor: StrictInt = Field(ge=0, le=MAX_AMOUNT_MINOR, description="The line's total, minor units")


class MemberIdentity(BaseModel):
    """Exactly one of: the member number, the phone, or what the till scanned off the card QR."""

    model_config = ConfigDict(extra="forbid")

    member_number: MemberNumberStr | None = None
    phone: SingleLine | None = Field(default=None, min_length=3, max_length=32)
    qr: CardQrStr | None = Field(
        default=None,
        description="The member card QR's content: the chat card's member number, or the Mini App card's "
        "token, which changes every minute and is refused once expired (`qr_expired`) or when forged (`qr_invalid`)",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberIdentity:
        given = [name for name in ("member_number", "phone", "qr") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError("member_identity", "give exactly one of member_number, phone or qr")
        return self


class PurchaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member": {"qr": "4260185626"},
                    "order_id": "S001-20261124-0042",
                    "channel": "store",
                    "store": "S001",
                    "amount_minor": 12800,
                    "currency": "CNY",
                    "lines": [{"sku": "LATTE-L", "category": "coffee", "quantity": 2, "amount_minor": 12800}],
                }
            ]
        },
    )

    member: MemberIdentity
    order_id: str = Field(pattern=REFERENCE, description="The till's or shop's order id; unique per channel")
    channel: Literal["store", "online"] = "store"
    store: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Store code; required in store")
    amount_minor: AmountMinor
    currency: Currency
    purchased_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    lines: list[LineIn] = Field(default_factory=list, max_length=500)


class PurchasePublic(BaseModel):
    purchase_id: int
    member_number: str
    order_id: str
    channel: str
    points_earned: int
    bonus_points: int
    balance: int
    tier: str
    tier_upgraded: bool
    applied: list[str]


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(pattern=REFERENCE)
    channel: Literal["store", "online"] = "store"
    refund_id: str = Field(pattern=REFERENCE, description="The till's refund id; unique")
    amount_minor: AmountMinor
    currency: Currency


class RefundPublic(BaseModel):
    refund_id: str
    order_id: str
    member_number: str
    amount_minor: int
    points_clawed_back: int
    shortfall_points: int = Field(description="Points the member had already spent: not taken back")
    balance: int
    refunded_total_minor: int


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: StrictInt = Field(ge=-10_000_000, le=10_000_000, description="Signed; not zero")
    reason: SingleLine = Field(min_length=3, max_length=200)

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustmentCreate:
        if self.points == 0:
            raise PydanticCustomError("points_zero", "an adjustment of 0 points changes nothing")
        return self


class ExpiringPublic(BaseModel):
    expires_at: datetime
    points: int


class LedgerEntryPublic(BaseModel):
    at: datetime
    kind: str
    points: int
    balance_after: int
    reason: str | None


class TierProgressPublic(BaseModel):
    tier: str
    next_tier: str | None
    spend_to_next_minor: int | None
    visits_to_next: int | None
    keep_spend_minor: int | None
    keep_visits: int | None
    keep_by: datetime | None


class PointsPublic(BaseModel):
    member_number: str
    balance: int
    available: int = Field(description="Balance less points past their expiry not yet swept")
    expiring: list[ExpiringPublic]
    tier: TierProgressPublic
    recent: list[LedgerEntryPublic]
