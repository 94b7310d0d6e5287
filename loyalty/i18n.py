"""Names merchants give things (tiers, rewards) in several languages."""

from __future__ import annotations


def localized(names: dict[str, str], locale: str) -> str:
    """The name in `locale`, else English, else any: a merchant may not translate everything."""
    return names.get(locale) or names.get("en") or next(iter(names.values()), "")
