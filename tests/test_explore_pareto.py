"""Non-dominated sorting against hand-checked sets (hwq.explore.pareto)."""

from __future__ import annotations

import math

import pytest

from hwq.errors import HwqError
from hwq.explore.pareto import dominates, front, nondominated_sort


def test_dominates_directions():
    assert dominates([1, 1], [2, 2], ["min", "min"])
    assert dominates([1, 2], [1, 3], ["min", "min"])          # equal in one, better in the other
    assert not dominates([1, 2], [1, 2], ["min", "min"])      # equal: no domination
    assert not dominates([1, 3], [2, 2], ["min", "min"])      # a trade-off
    assert dominates([1, 5], [2, 2], ["min", "max"])          # larger is better in the second
    assert not dominates([1, 1], [2, 2], ["min", "max"])


def test_two_objectives_hand_checked():
    # (D, bits), both minimized. Hand ranks:
    #   a (0.10, 2.0) front; b (0.05, 3.0) front; c (0.02, 4.0) front;
    #   d (0.06, 3.5) dominated by b only -> rank 1; e (0.12, 2.5) dominated by a -> rank 1;
    #   f (0.07, 4.5) dominated by b, d (0.06 < 0.07, 3.5 < 4.5) -> rank 2; g duplicate of a -> rank 0
    pts = [(0.10, 2.0), (0.05, 3.0), (0.02, 4.0), (0.06, 3.5), (0.12, 2.5), (0.07, 4.5), (0.10, 2.0)]
    assert nondominated_sort(pts, ["min", "min"]) == [0, 0, 0, 1, 1, 2, 0]
    assert front(pts, ["min", "min"]) == [0, 1, 2, 6]


def test_mixed_directions_and_missing():
    # (LUTs min, weights/s max); None and NaN are unranked
    pts = [(100, 1.0), (200, 3.0), (150, 0.5), (None, 9.0), (300, 3.0), (50, math.nan)]
    assert nondominated_sort(pts, ["min", "max"]) == [0, 0, 1, None, 1, None]


def test_three_objectives():
    pts = [(1, 1, 3), (1, 2, 1), (2, 1, 1), (2, 2, 2), (1, 1, 1)]
    # (1,1,1) dominates every other point
    assert nondominated_sort(pts, ["min"] * 3) == [1, 1, 1, 2, 0]


def test_bad_directions_refused():
    with pytest.raises(HwqError, match="'min' or 'max'"):
        nondominated_sort([(1, 2)], ["min", "up"])
    with pytest.raises(HwqError, match="lengths"):
        dominates([1], [1, 2], ["min", "min"])
