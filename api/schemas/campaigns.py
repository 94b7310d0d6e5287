"""Campaigns: what a merchant sends to broadcast to a segment, what the API shows of one while
it sends, and its report (targeted against hold-out).

Input models declare shapes only; loyalty/campaigns/service.py checks the values (texts and
their placeholders, codes of tiers, stores and coupon templates, the image URL, send time,
hold-out share), so there is one place that decides and the answer names the field either way.
Money is `{amount_minor, currency}`; times are ISO 8601 with their zone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import LocalisedNames, LocalisedTexts, SingleLine
from db.models import Campaign
from loyalty.campaigns.audience import Audience
from loyalty.campaigns.messages import VARIABLES
from loyalty.campaigns.power import READABLE_MDE
from loyalty.campaigns.report import GroupEffect, Report
from loyalty.campaigns.service import HOLDOUT_MAX_PCT, Progress
from loyalty.config import SUPPORTED_LOCALES

Day = date  # a field below is called `date`
CampaignStatus = Literal["scheduled", "sending", "paused", "cancelled", "done"]

_TEXTS = (
    f"The message per locale ({', '.join(SUPPORTED_LOCALES)}); each member gets theirs, else the "
    "program's default language, else any given. Plain text (sent escaped) with the member's "
    f"own values as Jinja placeholders: {', '.join('{{ ' + name + ' }}' for name in VARIABLES)}. "
    "An unknown placeholder is refused. Up to 4096 characters, 1024 with an image."
)
_AUDIENCE = (
    "Who it is for; every filter given narrows it, `{}` is every member. `tiers`: tier codes; "
    "`cities`: the member's city, any case; `near_store`: a store code (bought there in the last "
    "365 days, or lives in its city); `rfm`: segments champions, loyal, potential, new, at_risk, "
    "hibernating (see `GET /api/v1/segments/rfm`); `tags`: member tags; `last_purchase_before` / "
    "`last_purchase_after`: times with a zone; `birthday_month`: 1-12; `has_unused_coupon`: "
    "true / false. Unknown codes are refused, naming the field."
)
_EXAMPLE: JsonDict = {
    "name": "Member day, December",
    "texts": {
        "en": "It's member day! {{ tier }} members get 20% off today. You have {{ points }} points.",
        "zh_CN": "会员日！{{ tier }}会员今日八折。您有 {{ points }} 积分。",
    },
    "audience": {"tiers": ["gold", "silver"], "rfm": ["at_risk", "hibernating"]},
    "image_url": "https://shop.example.com/img/member-day.jpg",
    "coupon_template": "MEMBERDAY20",
    "buttons": [{"texts": {"en": "Our menu", "zh_CN": "菜单"}, "url": "https://shop.example.com/menu"}],
    "local": {"date": "2026-12-08", "time": "10:00"},
    "recurrence": "monthly",
    "holdout_pct": 10,
    "attribution_days": 7,
}


class Money(BaseModel):
    amount_minor: int = Field(description="In minor units (fen, cents).", examples=[12800])
    currency: str = Field(description="ISO 4217: the program's currency.", examples=["CNY"])


class ButtonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: LocalisedNames = Field(description="The button's label per locale.", examples=[{"en": "Our menu"}])
    url: SingleLine = Field(description="An https:// link opened by the button.", examples=["https://shop.example.com/menu"])


class LocalSendTime(BaseModel):
    """A day and a wall-clock time read in each member's own time zone."""

    model_config = ConfigDict(extra="forbid")

    date: Day = Field(description="The day, e.g. `2026-12-08`.")
    time: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="`HH:MM`, 24-hour, e.g. `10:00`: ten in the morning wherever each member is.",
        examples=["10:00"],
    )


class CampaignCreate(BaseModel):
    """A campaign to send, or to preview: `POST /api/v1/campaigns/preview` takes the same body."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: SingleLine = Field(min_length=1, max_length=120, description="For the merchant's lists; members never see it.")
    texts: LocalisedTexts = Field(description=_TEXTS)
    audience: Audience = Field(description=_AUDIENCE)
    image_url: SingleLine | None = Field(
        default=None, description="An https:// image sent with the text (which then becomes its caption)."
    )
    coupon_template: SingleLine | None = Field(
        default=None,
        description="Code of a coupon template: every member the message goes to gets a coupon of it.",
    )
    buttons: list[ButtonIn] = Field(default_factory=list, description="Link buttons under the message.")
    send_at: AwareDatetime | None = Field(
        default=None,
        description="One moment for everyone, with its zone; not in the past. Neither this nor `local`: now.",
    )
    local: LocalSendTime | None = Field(
        default=None,
        description="A local date and time in each member's own zone, instead of `send_at` (never both).",
    )
    recurrence: Literal["monthly", "quarterly"] | None = Field(
        default=None,
        description="Send again on the same day of the month every month or every quarter (a member day).",
    )
    holdout_pct: int | None = Field(
        default=None,
        description="Percent of the audience (0-50) held out at random, reproducibly: they get nothing, "
        "and the report compares them with the rest. Default: the program's setting (10).",
    )
    attribution_days: int | None = Field(
        default=None,
        description="Days after the start in which purchases count for the report (1-90). Default: 7.",
    )


class ButtonPublic(BaseModel):
    texts: dict[str, str]
    url: str


class ProgressPublic(BaseModel):
    """Where the campaign's delivery stands: recipients by outcome, the sending rate and ETA."""

    total: int = Field(description="Recipients chosen when it started, the hold-out included.")
    pending: int = Field(description="Still to send (including those waiting for their local time).")
    sending: int = Field(description="Being sent right now.")
    sent: int
    failed: int = Field(description="Telegram refused them after retries.")
    skipped: int = Field(description="Not sent: opted_out + unreachable.")
    opted_out: int = Field(description="Muted offers.")
    unreachable: int = Field(description="No chat with the bot, or blocked it.")
    held_out: int = Field(description="The hold-out group: sent nothing on purpose.")
    cancelled: int = Field(description="Not sent because the campaign was cancelled.")
    deferred: int = Field(description="Held by quiet hours at the send time, sent (or to be sent) at their end.")
    done: int = Field(description="sent + failed + skipped + cancelled.")
    rate: float = Field(description="Messages per second over the last 10 seconds.")
    eta_seconds: float | None = Field(description="Seconds until what is pending is sent at this rate; null at rate 0.")
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_progress(cls, progress: Progress) -> ProgressPublic:
        return cls(
            total=progress.total,
            pending=progress.pending,
            sending=progress.sending,
            sent=progress.sent,
            failed=progress.failed,
            skipped=progress.skipped,
            opted_out=progress.opted_out,
            unreachable=progress.unreachable,
            held_out=progress.held_out,
            cancelled=progress.cancelled,
            deferred=progress.deferred,
            done=progress.done,
            rate=progress.rate,
            eta_seconds=progress.eta_seconds,
            started_at=progress.started_at,
            finished_at=progress.finished_at,
        )


class CampaignPublic(BaseModel):
    id: int
    name: str
    status: CampaignStatus = Field(
        description="scheduled → sending → done; paused and back; cancelled. A campaign with "
        "nothing to send goes straight to done."
    )
    texts: dict[str, str]
    audience: Audience
    audience_description: str = Field(description="The audience in words, e.g. `tier gold · RFM at_risk`.")
    image_url: str | None
    coupon_template: str | None = Field(description="Code of the coupon template attached, if any.")
    buttons: list[ButtonPublic]
    send_at: datetime | None = Field(description="The moment for everyone; null with `local`.")
    local: LocalSendTime | None = Field(description="The local date and time in each member's zone, if so.")
    recurrence: Literal["monthly", "quarterly"] | None
    parent_id: int | None = Field(description="The occurrence of a recurring campaign this one follows.")
    holdout_pct: int
    attribution_days: int
    audience_size: int | None = Field(description="Recipients chosen when it started; null before.")
    created_by: str = Field(description="`apikey:<id>` or `staff:<telegram id>`.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, campaign: Campaign, *, coupon_template: str | None) -> dict[str, object]:
        audience = Audience.model_validate(campaign.audience)
        return {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status,
            "texts": campaign.texts,
            "audience": audience,
            "audience_description": audience.describe(),
            "image_url": campaign.image_url,
            "coupon_template": coupon_template,
            "buttons": [ButtonPublic(texts=button["texts"], url=button["url"]) for button in campaign.buttons],
            "send_at": campaign.send_at,
            "local": (
                LocalSendTime(date=campaign.local_date, time=campaign.local_time)
                if campaign.local_date is not None and campaign.local_time is not None
                else None
            ),
            "recurrence": campaign.recurrence,
            "parent_id": campaign.parent_id,
            "holdout_pct": campaign.holdout_pct,
            "attribution_days": campaign.attribution_days,
            "audience_size": campaign.audience_size,
            "created_by": campaign.created_by,
            "created_at": campaign.created_at,
            "started_at": campaign.started_at,
            "finished_at": campaign.finished_at,
        }

    @classmethod
    def from_campaign(cls, campaign: Campaign, *, coupon_template: str | None) -> CampaignPublic:
        return cls.model_validate(cls.fields_of(campaign, coupon_template=coupon_template))


class CampaignDetailPublic(CampaignPublic):
    progress: ProgressPublic

    @classmethod
    def from_campaign_progress(
        cls, campaign: Campaign, progress: Progress, *, coupon_template: str | None
    ) -> CampaignDetailPublic:
        fields = cls.fields_of(campaign, coupon_template=coupon_template)
        return cls.model_validate(fields | {"progress": ProgressPublic.from_progress(progress)})


class CampaignsPublic(BaseModel):
    data: list[CampaignPublic] = Field(description="Newest first.")
    count: int


class AudienceSizePublic(BaseModel):
    total: int = Field(description="Members the audience holds now: reachable + opted_out + unreachable.")
    reachable: int = Field(description="Would be sent the message (before the hold-out).")
    opted_out: int = Field(description="Muted offers: skipped.")
    unreachable: int = Field(description="No chat with the bot, or blocked it: skipped.")


class SamplePublic(BaseModel):
    member_number: str
    locale: str
    text: str = Field(description="The message as this member would get it (HTML-escaped, as sent).")


class ExpectedPublic(BaseModel):
    """What starting now would most likely do: the hold-out is drawn from the whole audience first,
    then the rest are sent to or skipped, as the campaign's report will count them."""

    sent: int
    held_out: int
    opted_out: int
    unreachable: int


class PreviewPublic(BaseModel):
    audience: AudienceSizePublic
    holdout: int = Field(description="About how many members of the audience the hold-out would keep back.")
    expected: ExpectedPublic = Field(
        description="The audience split as the report will count it; adds up to its total."
    )
    coupon_rules_not_applied: list[Literal["min_tier", "per_member_limit"]] = Field(
        description="Rules of the attached coupon template a campaign does not apply: everyone it is "
        "sent to gets the coupon, once per occurrence, whatever their tier or the coupons they have."
    )
    samples: list[SamplePublic] = Field(description="The text rendered for a few members of the audience.")
    baseline_conversion: float | None = Field(
        description="The audience's usual conversion: the share of it who bought in the last "
        "`attribution_days` (in the program's currency, not refunded in full), what the hold-out is "
        "expected to show. Null for an empty audience."
    )
    minimum_detectable_lift: float | None = Field(
        description="The smallest relative lift (as the report's `lift.relative`: 0.25 is +25 %) the "
        "hold-out comparison would detect 80 % of the time at a two-sided 5 % level, with this "
        "audience, hold-out share and baseline conversion: (1.96 + 0.84) x sqrt(p(1-p)(1/n_t + 1/n_h)) "
        "/ p. Null when it cannot be computed (no hold-out, no baseline, an empty group)."
    )
    suggested_holdout_pct: int | None = Field(
        description=f"The smallest hold-out share (whole percent, up to {HOLDOUT_MAX_PCT}) whose minimum "
        f"detectable lift is at most {READABLE_MDE:.0%}: the test can then be read. Null when no share "
        "would do (the audience is too small, or nobody in it bought lately)."
    )
    holdout_warning: Literal["no_holdout", "no_baseline", "holdout_too_small", "audience_too_small"] | None = Field(
        description=f"Why the test could not be read with the chosen share (a lift below {READABLE_MDE:.0%} "
        "would not show): `no_holdout` (0 %), `no_baseline` (nobody in the audience bought lately), "
        "`holdout_too_small` (`suggested_holdout_pct` would do), `audience_too_small` (no share would). "
        "Null: it can be read."
    )


class GroupEffectPublic(BaseModel):
    members: int
    buyers: int = Field(description="Members with at least one purchase in the window (not refunded in full).")
    conversion: float = Field(description="buyers / members; 0 for an empty group.")
    purchases: int
    revenue: Money = Field(description="Net of refunds, in the program's currency.")
    revenue_per_member: float = Field(description="Revenue / members, in minor units.")
    coupons_redeemed: int = Field(description="Coupons of any kind the group's members used in the window.")

    @classmethod
    def from_effect(cls, effect: GroupEffect, currency: str) -> GroupEffectPublic:
        return cls(
            members=effect.members,
            buyers=effect.buyers,
            conversion=effect.conversion,
            purchases=effect.purchases,
            revenue=Money(amount_minor=effect.revenue_minor, currency=currency),
            revenue_per_member=effect.revenue_per_member_minor,
            coupons_redeemed=effect.coupons_redeemed,
        )


class DeliveryPublic(BaseModel):
    sent: int
    failed: int
    skipped: dict[str, int] = Field(description="Not sent, by reason: opted_out, unreachable.")
    deferred: int = Field(description="Held by quiet hours, sent at their end.")
    held_out: int
    cancelled: int
    pending: int = Field(description="Still to send (pending + being sent).")


class WindowPublic(BaseModel):
    start: datetime | None = Field(description="When the campaign started; null: it never did.")
    end: datetime | None = Field(
        description="start + attribution_days; for a recurring campaign, just before its next occurrence "
        "started, if that came sooner (a purchase counts for one occurrence only)."
    )
    measured_until: datetime | None = Field(description="The end, or now while the window is open.")
    open: bool = Field(description="Purchases may still come in: the figures will change.")


class LiftPublic(BaseModel):
    relative: float | None = Field(
        description="conversion targeted / conversion hold-out - 1 (0.5: half as many again bought). "
        "Null when a group is empty or has no buyer: not enough data."
    )
    low: float | None = Field(description="95% confidence interval, lower end (Katz log method).")
    high: float | None = Field(description="95% confidence interval, upper end.")
    significant: bool = Field(description="The interval leaves out 0: the difference is unlikely to be chance.")
    note: str | None = Field(description="Why there is no lift, in words.")


class ReportPublic(BaseModel):
    """What the campaign reached and what it changed. Targeted is every recipient not held out
    (intent-to-treat: messages that were skipped or failed count too), so it compares fairly
    with the randomly chosen hold-out."""

    campaign_id: int
    status: CampaignStatus
    delivery: DeliveryPublic
    window: WindowPublic
    targeted: GroupEffectPublic
    holdout: GroupEffectPublic
    lift: LiftPublic
    incremental_revenue: Money | None = Field(
        description="(revenue per targeted member - per held-out member) x targeted members; "
        "null while a group is empty."
    )
    coupon_cost: Money = Field(description="Money off given by this campaign's coupons used in the window.")
    coupons_redeemed: int = Field(description="This campaign's coupons used in the window.")
    coupon_bonus_points: int = Field(description="Points its coupons added: not money, so not in the cost.")
    roi: float | None = Field(description="(incremental revenue - coupon cost) / coupon cost; null without a cost.")
    purchases_in_other_currencies: int = Field(
        description="Recipients' purchases in the window in another currency: left out of the figures."
    )

    @classmethod
    def from_report(cls, report: Report) -> ReportPublic:
        progress, currency = report.progress, report.currency
        enough = report.lift is not None
        return cls(
            campaign_id=report.campaign_id,
            status=progress.status,  # type: ignore[arg-type]
            delivery=DeliveryPublic(
                sent=progress.sent,
                failed=progress.failed,
                skipped={"opted_out": progress.opted_out, "unreachable": progress.unreachable},
                deferred=progress.deferred,
                held_out=progress.held_out,
                cancelled=progress.cancelled,
                pending=progress.pending + progress.sending,
            ),
            window=WindowPublic(
                start=report.window_start,
                end=report.window_end,
                measured_until=report.measured_until,
                open=report.window_open,
            ),
            targeted=GroupEffectPublic.from_effect(report.targeted, currency),
            holdout=GroupEffectPublic.from_effect(report.holdout, currency),
            lift=LiftPublic(
                relative=report.lift,
                low=report.lift_low,
                high=report.lift_high,
                significant=enough and ((report.lift_low or 0) > 0 or (report.lift_high or 0) < 0),
                note=None if enough else "not enough data: a group is empty or has no buyer",
            ),
            incremental_revenue=(
                Money(amount_minor=report.incremental_revenue_minor, currency=currency)
                if report.incremental_revenue_minor is not None
                else None
            ),
            coupon_cost=Money(amount_minor=report.coupon_cost_minor, currency=currency),
            coupons_redeemed=report.campaign_coupons_redeemed,
            coupon_bonus_points=report.coupon_bonus_points,
            roi=report.roi,
            purchases_in_other_currencies=report.other_currency_purchases,
        )


class RfmSegmentPublic(BaseModel):
    segment: str
    members: int


class RfmSegmentsPublic(BaseModel):
    """Members who bought in the last 365 days, by segment. Scores 1-5 by quintile of recency,
    frequency and net spend; champions R≥4 F≥4, loyal R≥3 F≥3, new R≥4 F=1, potential other
    R≥3, at_risk R≤2 F≥3, hibernating R≤2 F≤2."""

    as_of: datetime
    data: list[RfmSegmentPublic]
    total: int = Field(description="Members in a segment (those who bought in the last 365 days).")
