"""Every figure of the dashboard, defined once: what it counts, from the totals of one period
(`Totals`, gathered by loyalty/kpis/dashboard.py from the daily roll-ups and today's live values).

Conventions shared by every figure:
- A period is a run of local days in the program's TIMEZONE, both ends included. "At period
  end" is as the last day ended (now, for today); "at the start" is as the day before it ended.
- Money is in minor units of the program's CURRENCY; purchases and refunds in another currency
  are left out of every figure. Money figures are integers, rounded half to even.
- A purchase counts on the local day it was made, a refund on the day it was made (not on the
  day of the purchase it refunds): a past day's numbers never change, except within the
  PURCHASE_BACKDATE_DAYS a till may post late, which the roll-up job rebuilds every night.
- With a store chosen, only members.active and the spend.* figures are that store's (its
  purchases and refunds, its anonymous sales). Members, points, tiers, segments and cohorts are
  the program's: a member and their points belong to no one store.
- Points: `issued` counts every credit (earn, bonus, a positive adjustment) less the claw-backs of
  refunds, on the day of the refund, as revenue is net of refunds: points a refund took back
  were never really given. `redeemed` is rewards taken (less reversals of them), `expired` what
  the expiry sweep took. A negative adjustment and a forfeit at erasure lower the outstanding
  points but are none of the three.
- A ratio is a fraction (0.25 reads 25 %); it is None where its denominator is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from loyalty.kpis.model import Unit


@dataclass(frozen=True)
class Totals:
    """One period's totals, in one scope (every store, or one store)."""

    members_at_start: int  # enrolled and not erased as the day before the period ended
    members_at_end: int
    new_members: int
    active_members: int  # distinct members who bought in the scope
    repeat_buyers: int  # distinct members with two purchases or more in the scope
    purchases: int
    revenue_minor: int  # purchases made in the period
    refunds_minor: int  # refunds made in the period
    anonymous_minor: int
    anonymous_reports: int  # (till, day) reports of anonymous sales in the period
    points_credited: int  # earn, bonus, positive adjustments
    points_clawed_back: int
    points_redeemed: int  # redeem entries
    points_reversed: int  # reversal entries: redemptions given back
    points_expired: int
    points_outstanding: int  # at period end
    point_cost_minor: Decimal


def _ratio(numerator: int | float, denominator: int | float) -> float | None:
    return numerator / denominator if denominator else None


def round_money(amount: Decimal | float) -> int:
    """Minor units, half to even (banker's rounding: no drift when many amounts are added)."""
    return int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# --- members --------------------------------------------------------------------------------------


def members_total(t: Totals) -> int:
    """Members enrolled and not erased at period end."""
    return t.members_at_end


def members_new(t: Totals) -> int:
    """Members who enrolled in the period (erased since or not)."""
    return t.new_members


def members_active(t: Totals) -> int:
    """Members who bought in the period (at the store, with a store chosen): each counted once."""
    return t.active_members


def members_growth_rate(t: Totals) -> float | None:
    """New members over the members there were at the start of the period."""
    return _ratio(t.new_members, t.members_at_start)


# --- spend ----------------------------------------------------------------------------------------


def spend_revenue(t: Totals) -> int:
    """Members' purchases made in the period, less the refunds made in the period."""
    return t.revenue_minor - t.refunds_minor


def spend_frequency(t: Totals) -> float | None:
    """Purchases per active member in the period."""
    return _ratio(t.purchases, t.active_members)


def spend_aov(t: Totals) -> int | None:
    """Average order value: revenue (net of refunds) per purchase."""
    average = _ratio(spend_revenue(t), t.purchases)
    return None if average is None else round_money(average)


def spend_repeat_rate(t: Totals) -> float | None:
    """Share of the active members who bought at least twice in the period."""
    return _ratio(t.repeat_buyers, t.active_members)


def spend_contribution(t: Totals) -> float | None:
    """Members' share of sales: member revenue over member revenue plus the anonymous sales
    tills reported for the same days (and store). None when no till reported any."""
    if not t.anonymous_reports:
        return None
    revenue = spend_revenue(t)
    return _ratio(revenue, revenue + t.anonymous_minor)


# --- points ---------------------------------------------------------------------------------------


def points_issued(t: Totals) -> int:
    """Points credited in the period (earned, bonuses, positive adjustments), less those refunds
    took back in the period."""
    return t.points_credited - t.points_clawed_back


def points_redeemed(t: Totals) -> int:
    """Points spent on rewards in the period, less redemptions given back."""
    return t.points_redeemed - t.points_reversed


def points_expired(t: Totals) -> int:
    """Points that expired in the period."""
    return t.points_expired


def points_outstanding(t: Totals) -> int:
    """Points members held at period end (the sum of their balances)."""
    return t.points_outstanding


def points_redemption_rate(t: Totals) -> float | None:
    """Points redeemed over points issued in the period."""
    issued = points_issued(t)
    return _ratio(points_redeemed(t), issued) if issued > 0 else None


def points_liability(t: Totals) -> int:
    """What the outstanding points would cost if all were redeemed: outstanding points times
    POINT_COST_MINOR (minor units a point costs the merchant)."""
    return round_money(t.points_outstanding * t.point_cost_minor)


Definition = Callable[[Totals], int | float | None]

FIGURES: dict[str, tuple[Unit, Definition]] = {
    "members.total": (Unit.COUNT, members_total),
    "members.new": (Unit.COUNT, members_new),
    "members.active": (Unit.COUNT, members_active),
    "members.growth_rate": (Unit.RATIO, members_growth_rate),
    "spend.revenue": (Unit.MONEY, spend_revenue),
    "spend.frequency": (Unit.COUNT, spend_frequency),
    "spend.aov": (Unit.MONEY, spend_aov),
    "spend.repeat_rate": (Unit.RATIO, spend_repeat_rate),
    "spend.contribution": (Unit.RATIO, spend_contribution),
    "points.issued": (Unit.POINTS, points_issued),
    "points.redeemed": (Unit.POINTS, points_redeemed),
    "points.expired": (Unit.POINTS, points_expired),
    "points.outstanding": (Unit.POINTS, points_outstanding),
    "points.redemption_rate": (Unit.RATIO, points_redemption_rate),
    "points.liability": (Unit.MONEY, points_liability),
}


def definition(key: str) -> str:
    """The definition of a figure, as its docstring says it."""
    return " ".join((FIGURES[key][1].__doc__ or "").split())


# What a chart shows, for the same reader.
CHARTS: dict[str, str] = {
    "members": "New members per day (per week over periods longer than 90 days) and members at "
    "the end of each day (week).",
    "points": "Points issued, redeemed and expired per day (week), and points outstanding at "
    "the end of each day (week).",
    "revenue": "Revenue per day (week): purchases less refunds made that day.",
    "tier_moves": "Members moving up and down a tier, per calendar month of the period.",
    "breakage": "Per month points were earned in: the share of those points that expired so far.",
}
