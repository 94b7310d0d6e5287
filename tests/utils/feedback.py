"""NPS the textbook way, for checking loyalty.feedback against."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def reference_nps(scores: list[int]) -> tuple[float, float, float]:
    """NPS in points (% promoters - % detractors) and its 95 % interval, clipped to -100..100."""
    n = len(scores)
    promoters = sum(1 for s in scores if s >= 9) / n
    detractors = sum(1 for s in scores if s <= 6) / n
    nps = promoters - detractors
    variance = (promoters + detractors - nps**2) / n
    half = Z_95 * math.sqrt(variance)
    return 100 * nps, max(-100.0, 100 * (nps - half)), min(100.0, 100 * (nps + half))
