"""Non-dominated sorting with objective directions (the fronts of ``hwq explore``).

A point a dominates b when it is at least as good in every objective and strictly better in one ("good":
smaller for ``min``, larger for ``max``). Rank 0 is the Pareto front; rank r the front of what remains once
ranks < r are removed (Deb et al.'s non-dominated sort, the one NSGA-II uses). Points missing an objective
(None or NaN) are not ranked.
"""

from __future__ import annotations

import math
from typing import Sequence

from hwq.errors import HwqError

__all__ = ["DIRECTIONS", "dominates", "front", "nondominated_sort"]

DIRECTIONS = ("min", "max")


def _check(directions: Sequence[str]) -> None:
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad or not directions:
        raise HwqError(f"objective directions must be 'min' or 'max', got {list(directions)!r}")


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """True when ``a`` dominates ``b`` under ``directions``."""
    _check(directions)
    if not len(a) == len(b) == len(directions):
        raise HwqError(f"objective vectors of lengths {len(a)} and {len(b)} for {len(directions)} directions")
    better = False
    for x, y, d in zip(a, b, directions):
        if d == "max":
            x, y = -x, -y
        if x > y:
            return False
        if x < y:
            better = True
    return better


def _usable(v: Sequence[float | None]) -> bool:
    return all(x is not None and isinstance(x, (int, float)) and not math.isnan(x) for x in v)


def nondominated_sort(values: Sequence[Sequence[float | None]],
                      directions: Sequence[str]) -> list[int | None]:
    """The rank of every vector (0 = the Pareto front); None for a vector with a missing objective.
    Duplicates share their rank."""
    _check(directions)
    idx = [i for i, v in enumerate(values) if _usable(v)]
    ranks: list[int | None] = [None] * len(values)
    dominated_by = {i: 0 for i in idx}
    dominates_list: dict[int, list[int]] = {i: [] for i in idx}
    for i in idx:
        for j in idx:
            if i != j and dominates(values[i], values[j], directions):
                dominates_list[i].append(j)
                dominated_by[j] += 1
    current = [i for i in idx if dominated_by[i] == 0]
    r = 0
    while current:
        nxt = []
        for i in current:
            ranks[i] = r
            for j in dominates_list[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        current, r = nxt, r + 1
    return ranks


def front(values: Sequence[Sequence[float | None]], directions: Sequence[str]) -> list[int]:
    """Indices of the Pareto front (rank 0), in input order."""
    return [i for i, r in enumerate(nondominated_sort(values, directions)) if r == 0]
