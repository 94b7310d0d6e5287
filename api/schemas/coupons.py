"""Coupon templates and coupons: what the merchant sends to define a campaign's offer, what
tills see when a member shows a coupon and what redeeming one is worth.

Input models declare shapes only; the rules in loyalty/coupons.py check the values (code format,
names per locale, kind and value, validity, scope, tier, limits), so there is one place that
decides and the answer names the field either way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic.config import JsonDict

from api.schemas.common import CardQrStr, ErrorPublic, LocalisedNames, LocalisedTexts, MemberNumberStr, SingleLine
from loyalty import coupons
from loyalty.coupons import CouponDetails, TemplateDefinition

_KIND = (
    "`percent_off` (value: 1-100 percent), `amount_off` (value: minor units off), `free_item` "
    "(value: the item's worth in minor units) or `points_multiplier` (value: percent of the base "
    "rate's points, above 100: 200 doubles them)."
)
_EXAMPLE: JsonDict = {
    "code": "WELCOME10",
    "names": {"en": "10% off your next coffee", "zh_CN": "咖啡九折"},
    "descriptions": {"en": "On any order of ¥30.00 or more.", "zh_CN": "满30元可用。"},
    "kind": "percent_off",
    "value": 10,
    "min_spend_minor": 3000,
    "valid_days": 30,
    "cities": ["Shanghai"],
    "per_member_limit": 1,
    "auto_issue": "signup",
}


class RefusalPublic(ErrorPublic):
    """A 409 from the coupon rules: `reason` is a short token a till can act on."""

    reason: str = Field(
        description="Issuing: inactive, ended, sold_out, tier, limit, key_reused. Redeeming: "
        "used, void, expired, not_yet_valid, wrong_store, below_minimum, other_member, key_reused "
        "(this order already redeemed the coupon with another amount)."
    )


class CouponTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    code: SingleLine = Field(description="1-32 of A-Z a-z 0-9 _ -, unique; how the API names the template.")
    names: LocalisedNames = Field(
        description="Per locale, 1-80 characters; at least one. A member whose language has no name "
        "reads the English one, else the one given."
    )
    descriptions: LocalisedTexts = Field(
        default_factory=dict, description="Per locale, optional, up to 1000 characters."
    )
    kind: SingleLine = Field(description=_KIND)
    value: int = Field(description="What the coupon gives; its meaning depends on `kind`. Never changes.")
    currency: SingleLine | None = Field(
        default=None, description="Must be the program's currency (the default); any other is refused."
    )
    min_spend_minor: int = Field(default=0, description="The smallest order it applies to, in minor units.")
    valid_from: date | None = Field(default=None, description="First valid day (in the redeeming store's time zone).")
    valid_until: date | None = Field(default=None, description="Last valid day, included.")
    valid_days: int | None = Field(
        default=None,
        description=(
            "Days a coupon stays valid after its day of issue (0: the day of issue only). With "
            "`valid_until` too, the earlier end wins; at least one of the two is required."
        ),
    )
    stores: list[SingleLine] = Field(default_factory=list, description="Codes of the stores it is valid at.")
    cities: list[SingleLine] = Field(
        default_factory=list,
        description="Cities whose stores accept it (any case). With neither stores nor cities: everywhere.",
    )
    min_tier: SingleLine | None = Field(default=None, description="Code of the lowest tier that may be given it.")
    per_member_limit: int = Field(default=1, description="How many of it one member may ever be given.")
    total_quantity: int | None = Field(default=None, description="How many may be issued; null for unlimited.")
    auto_issue: SingleLine | None = Field(
        default=None,
        description=(
            f"Issued by itself on an event, one of {', '.join(coupons.AUTO_ISSUE)}: `signup`: "
            "every new member gets one; `tier`: members reaching `min_tier` get one. Each at "
            "most once per member."
        ),
    )
    active: StrictBool = True
    image_url: SingleLine | None = Field(
        default=None, description="An https:// address of a picture, shown with it in the chat; up to 500 characters."
    )


class CouponTemplateUpdate(BaseModel):
    """Only the fields sent change. Kind, value, currency and auto-issue never change: members
    hold coupons of them. Coupons already issued keep their days; scope and minimum spend apply
    when they are redeemed."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"total_quantity": 500, "valid_until": "2026-12-31"}]}
    )

    names: LocalisedNames | None = Field(default=None, description="Replaces all names (at least one).")
    descriptions: LocalisedTexts | None = Field(default=None, description="Replaces all descriptions.")
    min_spend_minor: int | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    valid_days: int | None = None
    stores: list[SingleLine] | None = Field(default=None, description="Replaces the store list.")
    cities: list[SingleLine] | None = Field(default=None, description="Replaces the city list.")
    min_tier: SingleLine | None = Field(default=None, description="A tier code, or null for everyone.")
    per_member_limit: int | None = None
    total_quantity: int | None = Field(
        default=None, description="Null for unlimited; never below the number already issued."
    )
    active: StrictBool | None = None
    image_url: SingleLine | None = Field(default=None, description="An https:// address, or null for none.")


class CouponTemplatePublic(BaseModel):
    code: str
    names: dict[str, str]
    descriptions: dict[str, str]
    image_url: str | None
    kind: str = Field(description=_KIND)
    value: int
    currency: str
    min_spend_minor: int
    valid_from: date | None
    valid_until: date | None
    valid_days: int | None
    stores: list[str] = Field(description="Codes of the stores it is valid at.")
    cities: list[str]
    min_tier: str | None = Field(description="Code of the lowest tier that may be given it; null: everyone.")
    per_member_limit: int
    total_quantity: int | None = Field(description="Null for unlimited.")
    issued_count: int = Field(description="How many have been issued so far.")
    auto_issue: str | None
    active: bool
    created_at: datetime

    @classmethod
    def from_definition(cls, definition: TemplateDefinition) -> CouponTemplatePublic:
        template = definition.template
        return cls(
            code=template.code,
            names=template.names,
            descriptions=template.descriptions,
            image_url=template.image_url,
            kind=template.kind,
            value=template.value,
            currency=template.currency,
            min_spend_minor=template.min_spend_minor,
            valid_from=template.valid_from,
            valid_until=template.valid_until,
            valid_days=template.valid_days,
            stores=definition.store_codes,
            cities=list(template.cities),
            min_tier=definition.min_tier.code if definition.min_tier else None,
            per_member_limit=template.per_member_limit,
            total_quantity=template.total_quantity,
            issued_count=template.issued_count,
            auto_issue=template.auto_issue,
            active=template.active,
            created_at=template.created_at,
        )


class CouponTemplatesPublic(BaseModel):
    data: list[CouponTemplatePublic]
    count: int = Field(description="How many templates there are, on all pages together.")
    page: int
    page_size: int


class CouponIssue(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"template": "WELCOME10", "member": "4260185626"}]}
    )

    template: SingleLine = Field(description="The coupon template's code.")
    member: MemberNumberStr = Field(description="The member's number.")


class CouponPublic(BaseModel):
    code: str = Field(description="As shown to the member, e.g. `CP-7KQ4-M9XD-2HPA`.")
    status: Literal["issued", "used", "void"] = Field(
        description="`issued` until used; whether it is still inside its days is read from "
        "`valid_from`/`valid_until` in the redeeming store's time zone."
    )
    template: str = Field(description="The coupon template's code.")
    names: dict[str, str] = Field(description="The template's names.")
    kind: str = Field(description=_KIND)
    value: int
    currency: str
    min_spend_minor: int
    member_number: str
    source: str = Field(description="How it was issued: signup, tier, api, reward or campaign.")
    issued_at: datetime
    valid_from: date = Field(description="First valid day.")
    valid_until: date = Field(description="Last valid day, included.")
    used_at: datetime | None
    store: str | None = Field(description="Code of the store where it was used.")
    order_id: str | None = Field(description="The order it was used for.")
    discount_minor: int | None = Field(description="Money it took off that order, in minor units.")
    bonus_points: int | None = Field(description="Points it added (a points multiplier).")

    @classmethod
    def from_details(cls, details: CouponDetails) -> CouponPublic:
        coupon, template = details.coupon, details.template
        return cls(
            code=coupon.code,
            status=coupon.status,  # type: ignore[arg-type]
            template=template.code,
            names=template.names,
            kind=template.kind,
            value=template.value,
            currency=template.currency,
            min_spend_minor=template.min_spend_minor,
            member_number=details.member_number,
            source=coupon.source,
            issued_at=coupon.issued_at,
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            used_at=coupon.used_at,
            store=details.store_code,
            order_id=coupon.used_order_id,
            discount_minor=coupon.discount_minor,
            bonus_points=coupon.bonus_points,
        )


class CouponsPublic(BaseModel):
    data: list[CouponPublic] = Field(description="Newest first.")
    count: int


class CouponRedeem(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "CP-7KQ4-M9XD-2HPA",
                    "store": "S001",
                    "order_id": "S001-20261124-0042",
                    "amount_minor": 12800,
                    "currency": "CNY",
                    "member": "4260185626",
                }
            ]
        },
    )

    code: SingleLine = Field(description="The code the member shows, in any case, with or without dashes.")
    store: SingleLine = Field(description="Code of the store redeeming it; its time zone decides the day.")
    order_id: SingleLine = Field(description="The till's order id, 1-64 printable characters without spaces.")
    amount_minor: StrictInt = Field(description="The order's amount before the coupon, in minor units.")
    currency: SingleLine = Field(description="The program's currency.", examples=["CNY"])
    member: CardQrStr | None = Field(
        default=None,
        description="The member card shown with it, if any (its number, or the Mini App card's token): "
        "the coupon must be theirs.",
    )


class RedeemedPublic(BaseModel):
    discount_minor: int = Field(description="Take this off the order, in minor units.")
    bonus_points: int = Field(description="Points credited to the member (a points multiplier).")
    replayed: bool = Field(description="This order had already redeemed it: this is that first answer again.")
    coupon: CouponPublic
