"""Whether a campaign's hold-out test can be read: the smallest lift its audience and hold-out
share could detect, and the hold-out share that would make it readable.

The report (loyalty/campaigns/report.py) compares the share of buyers in the targeted group
(n_t members) with the hold-out's (n_h) over the attribution window. Before it goes out, the
merchant should know whether a difference of the size a campaign usually makes could show at
all, or would drown in chance: a test that cannot be read is a hold-out given up for nothing.

Formulas (two proportions, two-sided test):

- p: the baseline conversion, the share of the audience who bought in the last
  `attribution_days` (what the hold-out is expected to show).
- z_a = Phi^-1(1 - ALPHA / 2) = 1.95996 (ALPHA = 0.05), z_b = Phi^-1(POWER) = 0.84162
  (POWER = 0.80), Phi^-1 the standard normal quantile (statistics.NormalDist).
- absolute MDE = (z_a + z_b) * sqrt(p * (1 - p) * (1 / n_t + 1 / n_h)): the smallest difference
  in conversion (targeted - hold-out, in fractions) that a test at ALPHA would find 80 % of the
  time. Both groups' variances are taken at the baseline p (the usual approximation for
  planning: the lift is small next to p), which makes it closed form; n_t = n_h = 1000 and
  p = 0.10 give 0.0376.
- relative MDE = absolute MDE / p: the same as a lift (conversion targeted / hold-out - 1),
  which is how the report states lift. 0.25 reads "a lift below +25 % would not show".
- None when it cannot be computed: p == 0 (nobody bought: no variance, nothing to scale by),
  p >= 1, or an empty group.

A test is readable when its relative MDE is at most READABLE_MDE. `suggest_holdout_pct` looks
for the smallest whole-percent hold-out share, 1 .. `max_pct` (the campaign's bound,
service.HOLDOUT_MAX_PCT, which the service passes in: it imports this module), that gets there: with the
audience fixed, 1 / n_t + 1 / n_h only falls as the hold-out grows towards half, so the first
share that is readable is the cheapest (fewest members kept from the offer), and every larger
one up to the maximum is readable too. None when even `max_pct` is not: the audience is too
small (or too rarely buys) for any hold-out to tell.

Group sizes are split as the preview expects them (service.Expected): n_h = round(total * share
/ 100), n_t = total - n_h, every member of the audience whether reachable or not, as the report
compares them (intent-to-treat).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.80
_Z = NormalDist().inv_cdf(1 - ALPHA / 2) + NormalDist().inv_cdf(POWER)  # 2.80158
# Most campaigns that work move conversion by a few tens of percent: a test that cannot see
# +20 % would call most of them "no effect". The merchant's target for a readable test.
READABLE_MDE = 0.20


@dataclass(frozen=True)
class Mde:
    absolute: float  # in conversion (fraction of members): 0.0376 is 3.76 points
    relative: float  # absolute / baseline: as a lift


def minimum_detectable_effect(baseline: float, n_targeted: int, n_holdout: int) -> Mde | None:
    """The MDE for these group sizes at baseline conversion `baseline` (see the module); None
    when it cannot be computed (no baseline, or an empty group)."""
    if n_targeted <= 0 or n_holdout <= 0 or not 0 < baseline < 1:
        return None
    absolute = _Z * math.sqrt(baseline * (1 - baseline) * (1 / n_targeted + 1 / n_holdout))
    return Mde(absolute=absolute, relative=absolute / baseline)


def split(total: int, holdout_pct: int) -> tuple[int, int]:
    """(n_t, n_h) of an audience of `total` with this hold-out share, as the preview expects."""
    held_out = round(total * holdout_pct / 100)
    return total - held_out, held_out


def mde_for_share(baseline: float, total: int, holdout_pct: int) -> Mde | None:
    return minimum_detectable_effect(baseline, *split(total, holdout_pct))


def is_readable(mde: Mde | None, target: float = READABLE_MDE) -> bool:
    return mde is not None and mde.relative <= target


def suggest_holdout_pct(
    baseline: float, total: int, *, max_pct: int, target: float = READABLE_MDE
) -> int | None:
    """The smallest whole-percent hold-out share (1 .. max_pct) whose relative MDE is at most
    `target`; None when no share is (the audience is too small, or nobody buys)."""
    for pct in range(1, max_pct + 1):
        if is_readable(mde_for_share(baseline, total, pct), target):
            return pct
    return None


class Unreadable(enum.StrEnum):
    """Why a test with the chosen share cannot be read (None when it can)."""

    NO_HOLDOUT = "no_holdout"  # a 0 % share: nothing to compare with
    NO_BASELINE = "no_baseline"  # nobody in the audience bought lately: no usual conversion
    HOLDOUT_TOO_SMALL = "holdout_too_small"  # a larger share (suggested_holdout_pct) would do
    AUDIENCE_TOO_SMALL = "audience_too_small"  # no share up to the maximum would do


@dataclass(frozen=True)
class Readability:
    """What the preview says about the test before it goes out."""

    baseline_conversion: float | None  # None: an empty audience
    mde: Mde | None  # at the chosen share
    suggested_holdout_pct: int | None
    warning: Unreadable | None

    @property
    def readable(self) -> bool:
        return self.warning is None


def readability(
    buyers: int, total: int, holdout_pct: int, *, max_pct: int, target: float = READABLE_MDE
) -> Readability:
    """The test of an audience of `total` members, `buyers` of whom bought lately, at this
    hold-out share (up to `max_pct`)."""
    baseline = buyers / total if total else None
    mde = mde_for_share(baseline, total, holdout_pct) if baseline is not None else None
    suggested = suggest_holdout_pct(baseline, total, max_pct=max_pct, target=target) if baseline is not None else None
    warning: Unreadable | None
    if holdout_pct == 0:
        warning = Unreadable.NO_HOLDOUT
    elif not baseline:
        warning = Unreadable.NO_BASELINE
    elif is_readable(mde, target):
        warning = None
    elif suggested is None:
        warning = Unreadable.AUDIENCE_TOO_SMALL
    else:
        warning = Unreadable.HOLDOUT_TOO_SMALL
    return Readability(baseline, mde, suggested, warning)
