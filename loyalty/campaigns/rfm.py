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

from db.uow import UnitOfWork

RFM_SEGMENTS: tuple[str, ...] = ("champions", "loyal", "potential", "new", "at_risk", "hibernating")
RFM_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class RfmScore:
    recency: int
    frequency: int
    monetary: int
    segment: str


async def rfm_counts(uow: UnitOfWork, *, now: datetime) -> dict[str, int]:
    """Members per segment now, every segment present (0 when empty), in RFM_SEGMENTS order."""
    counts = await uow.campaigns.rfm_counts(since=now - RFM_WINDOW, now=now)
    return {segment: counts.get(segment, 0) for segment in RFM_SEGMENTS}


async def rfm_scores(uow: UnitOfWork, member_ids: list[int], *, now: datetime) -> dict[int, RfmScore]:
    """The scores of these members (absent: no purchase in the window)."""
    scores = await uow.campaigns.rfm_scores(member_ids, since=now - RFM_WINDOW, now=now)
    return {member_id: RfmScore(*values) for member_id, values in scores.items()}
