"""Key performance indicators: the numbers that say whether the program, and each promotion,
is worth what it costs."""

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

__all__ = [
    "MAX_PERIOD_DAYS",
    "PERIOD_PRESETS",
    "CampaignRow",
    "CohortRow",
    "Dashboard",
    "Figure",
    "Period",
    "Series",
    "Unit",
]
