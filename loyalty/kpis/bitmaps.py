"""Sets of member ids as roaring bitmaps: how a distinct count over any run of days stays exact
when only one bitmap per day is stored (the union of the days' sets is the period's set)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyroaring import BitMap


def serialize(members: BitMap) -> bytes:
    members.run_optimize()
    return bytes(members.serialize())


def deserialize(data: bytes) -> BitMap:
    return BitMap.deserialize(data)


def union(days: Iterable[BitMap]) -> BitMap:
    return BitMap.union(BitMap(), *days)


def repeat_buyers(days: Sequence[tuple[BitMap, BitMap]]) -> BitMap:
    """Members who bought at least twice over the days: (buyers, bought twice that day) per day,
    in the order of the days. A member counts once they appear on a second day, or twice on one."""
    seen, repeat = BitMap(), BitMap()
    for buyers, twice in days:
        repeat |= (seen & buyers) | twice
        seen |= buyers
    return repeat
