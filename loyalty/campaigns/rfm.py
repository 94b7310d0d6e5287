"""RFM: who buys recently, often and much, scored from purchases, and the segments named by it.

Over the members who bought in the last RFM_WINDOW (365 days), each gets a score 1..5 per
measure by quintile (NTILE(5) in SQL, db/repositories/campaigns.py), 5 being the best fifth:

- R, recency: days since the last purchase (the most recent fifth scores 5);
- F, frequency: purchases in the window;
- M, monetary: net spend in the window (purchases less refunds).

Quintiles, not fixed thresholds, because a coffee chain's "often" is a grocery brand's
"rarely": the scores rank members against each other. Ties are split by member id, so a score
is the same every time it is computed. Members who bought nothing in the window have no
scores and are in no segment.

Ranking needs a crowd: among a shop's first few buyers, a quintile says only who came a day
later (one buyer with two purchases today would be the bottom fifth, "hibernating"). Below
`quintiles_from` buyers (100), R and F use fixed cut-offs instead, set for a shop visited
weekly to monthly:

| score | R: last purchase within | F: purchases in the window |
| ----- | ----------------------- | -------------------------- |
| 5     | 14 days                 | 12 or more                 |
| 4     | 30 days                 | 6 to 11                    |
| 3     | 60 days                 | 3 to 5                     |
| 2     | 120 days                | 2                          |
| 1     | longer                  | 1                          |

M stays a rank at every size: no spend scale fits every currency and trade, and M names no
segment.

The segment is read from R and F, the first rule that holds:

| segment     | rule             |
| ----------- | ---------------- |
| champions   | R >= 4, F >= 4   |
| loyal       | R >= 3, F >= 3   |
| new         | R >= 4, F = 1    |
| potential   | any other R >= 3 |
| at_risk     | R <= 2, F >= 3   |
| hibernating | R <= 2, F <= 2   |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.repositories.campaigns import RfmCutoffs
from db.uow import UnitOfWork

RFM_SEGMENTS: tuple[str, ...] = ("champions", "loyal", "potential", "new", "at_risk", "hibernating")
RFM_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class RfmScale:
    """When scores are ranks and, below that, the fixed cut-offs (the table above)."""

    quintiles_from: int = 100
    recency_days: tuple[int, ...] = (14, 30, 60, 120)  # within the first: R 5, the next: R 4, ...
    frequency: tuple[int, ...] = (12, 6, 3, 2)  # at least the first: F 5, the next: F 4, ...

    def cutoffs(self, now: datetime) -> RfmCutoffs:
        return RfmCutoffs(
            since=now - RFM_WINDOW,
            quintiles_from=self.quintiles_from,
            recent_after=tuple(now - timedelta(days=days) for days in self.recency_days),
            frequent_from=self.frequency,
        )


RFM_SCALE = RfmScale()


@dataclass(frozen=True)
class RfmScore:
    recency: int
    frequency: int
    monetary: int
    segment: str


async def rfm_counts(uow: UnitOfWork, *, now: datetime, scale: RfmScale = RFM_SCALE) -> dict[str, int]:
    """Members per segment now, every segment present (0 when empty), in RFM_SEGMENTS order."""
    counts = await uow.campaigns.rfm_counts(scale.cutoffs(now), now=now)
    return {segment: counts.get(segment, 0) for segment in RFM_SEGMENTS}


async def rfm_scores(
    uow: UnitOfWork, member_ids: list[int], *, now: datetime, scale: RfmScale = RFM_SCALE
) -> dict[int, RfmScore]:
    """The scores of these members (absent: no purchase in the window)."""
    scores = await uow.campaigns.rfm_scores(member_ids, scale.cutoffs(now), now=now)
    return {member_id: RfmScore(*values) for member_id, values in scores.items()}
