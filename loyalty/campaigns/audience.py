"""Who a campaign is for: filters over members, every one ANDed, any value of a list matching.

The audience is a query, never a list: its size is one counting statement, and starting a
campaign streams its members in chunks (db/repositories/campaigns.py), so a million members
cost no more memory than a thousand. Codes (tiers, a store) are checked and resolved to ids
here, so a misspelt code is refused when the campaign is written, not found by nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from db.repositories.campaigns import MemberFilter
from db.uow import UnitOfWork
from loyalty.campaigns.rfm import RFM_SCALE, RfmScale
from loyalty.errors import InvalidCampaign
from loyalty.text import SingleLine

RfmSegment = Literal["champions", "loyal", "potential", "new", "at_risk", "hibernating"]
# "Near a store": members who bought there within this many days (or live in its city).
NEAR_STORE_WINDOW = timedelta(days=365)
MAX_VALUES = 100  # codes, cities or tags one filter may list


class Audience(BaseModel):
    """Every filter narrows the audience; empty: every member."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: list[SingleLine] = Field(default=[], max_length=MAX_VALUES)  # tier codes
    cities: list[SingleLine] = Field(default=[], max_length=MAX_VALUES)  # member city, case-insensitive
    near_store: SingleLine | None = None  # store code: bought there in the last 365 days, or lives in its city
    rfm: list[RfmSegment] = []
    tags: list[SingleLine] = Field(default=[], max_length=MAX_VALUES)
    last_purchase_before: AwareDatetime | None = None  # bought, but not since
    last_purchase_after: AwareDatetime | None = None  # bought at or after
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    has_unused_coupon: bool | None = None  # an issued coupon not yet over (None: either)

    def describe(self) -> str:
        """A short English summary for logs and lists: "tier gold · RFM at_risk"."""
        parts = []
        if self.tiers:
            parts.append(f"tier {', '.join(self.tiers)}")
        if self.cities:
            parts.append(f"city {', '.join(self.cities)}")
        if self.near_store:
            parts.append(f"near {self.near_store}")
        if self.rfm:
            parts.append(f"RFM {', '.join(self.rfm)}")
        if self.tags:
            parts.append(f"tag {', '.join(self.tags)}")
        if self.last_purchase_after:
            parts.append(f"bought since {self.last_purchase_after:%Y-%m-%d}")
        if self.last_purchase_before:
            parts.append(f"last bought before {self.last_purchase_before:%Y-%m-%d}")
        if self.birthday_month:
            parts.append(f"birthday month {self.birthday_month}")
        if self.has_unused_coupon is not None:
            parts.append("with an unused coupon" if self.has_unused_coupon else "without an unused coupon")
        return " · ".join(parts) or "every member"


@dataclass(frozen=True)
class AudienceSize:
    """total = reachable + opted_out + unreachable."""

    total: int
    reachable: int
    opted_out: int  # muted offers
    unreachable: int  # no chat, or blocked the bot


async def audience_size(
    uow: UnitOfWork, audience: Audience, *, now: datetime, zone: ZoneInfo | None = None
) -> AudienceSize:
    """How many members the audience holds now. `zone`: the program's (settings.zone), which
    decides the day a coupon is "unused" until; UTC when not given."""
    members = await member_filter(uow, audience, now=now, zone=zone)
    total, opted_out, unreachable = await uow.campaigns.audience_counts(members)
    return AudienceSize(total, total - opted_out - unreachable, opted_out, unreachable)


async def check_audience(uow: UnitOfWork, audience: Audience) -> None:
    """Refuse an audience naming a tier or store that does not exist (InvalidCampaign)."""
    await _resolved(uow, audience)


async def member_filter(
    uow: UnitOfWork, audience: Audience, *, now: datetime, zone: ZoneInfo | None, rfm_scale: RfmScale = RFM_SCALE
) -> MemberFilter:
    """The audience as the repository's filter: codes resolved, cities lower-cased."""
    tier_ids, store_id, store_city = await _resolved(uow, audience)
    return MemberFilter(
        now=now,
        today=now.astimezone(zone or UTC).date(),
        rfm=rfm_scale.cutoffs(now),
        near_since=now - NEAR_STORE_WINDOW,
        tier_ids=tier_ids,
        cities=tuple(dict.fromkeys(city.strip().lower() for city in audience.cities if city.strip())),
        near_store_id=store_id,
        near_store_city=store_city,
        segments=tuple(audience.rfm),
        tags=tuple(audience.tags),
        last_purchase_before=audience.last_purchase_before,
        last_purchase_after=audience.last_purchase_after,
        birthday_month=audience.birthday_month,
        has_unused_coupon=audience.has_unused_coupon,
    )


async def _resolved(uow: UnitOfWork, audience: Audience) -> tuple[tuple[int, ...], int | None, str | None]:
    """(tier ids, near store's id, its city in lower case) of the codes the audience names."""
    tiers = {tier.code: tier.id for tier in await uow.program.tiers()}
    unknown = [code for code in audience.tiers if code not in tiers]
    if unknown:
        raise InvalidCampaign(
            f"no tier {unknown[0]!r}; tiers are {', '.join(tiers)}", field="audience.tiers", problem="unknown_tier"
        )
    if audience.near_store is None:
        return tuple(tiers[code] for code in audience.tiers), None, None
    store = await uow.program.store_by_code(audience.near_store)
    if store is None:
        raise InvalidCampaign(
            f"no store {audience.near_store!r}", field="audience.near_store", problem="unknown_store"
        )
    return tuple(tiers[code] for code in audience.tiers), store.id, (store.city or "").strip().lower() or None
