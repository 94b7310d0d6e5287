"""Key performance indicators: the numbers that say whether the program, and each promotion,
is worth what it costs.

- model.py: the shapes (Period, Figure, Series, CohortRow, CampaignRow, Dashboard);
- definitions.py: what each figure counts, one definition per key;
- days.py: one local day's numbers built from the raw tables;
- rollup.py: the job that stores past days; source.py: stored or live, per day;
- bitmaps.py: distinct members as roaring bitmaps;
- dashboard.py: a period's dashboard; sales.py: anonymous sales reported by tills.
"""

from loyalty.kpis.dashboard import dashboard
from loyalty.kpis.definitions import FIGURES, Totals, definition
from loyalty.kpis.model import (
    MAX_PERIOD_DAYS,
    PERIOD_PRESETS,
    CampaignRow,
    CohortRow,
    Dashboard,
    Figure,
    Period,
    Series,
    Unit,
)
from loyalty.kpis.rollup import build_rollups

__all__ = [
    "FIGURES",
    "MAX_PERIOD_DAYS",
    "PERIOD_PRESETS",
    "CampaignRow",
    "CohortRow",
    "Dashboard",
    "Figure",
    "Period",
    "Series",
    "Totals",
    "Unit",
    "build_rollups",
    "dashboard",
    "definition",
]
