"""Tests of time-sharing below R* (hwq.quant.timeshare)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.quant.timeshare import TimeShare, kept_rows


def test_kept_rows_are_blocks_of_every_segment() -> None:
    rows = kept_rows(768, 0.25, 8)
    assert len(rows) % 8 == 0 and len(set(rows.tolist())) == len(rows)
    assert len(rows) / 768 == pytest.approx(0.25, abs=0.02)
    assert {int(r) // 256 for r in rows} == {0, 1, 2}  # spread over all Hadamard segments
    with pytest.raises(HwqError, match="fraction"):
        kept_rows(768, 0.0, 8)


@pytest.mark.parametrize("target", [0.25, 0.5, 1.0])
def test_timeshare_meets_its_rate_and_line(target: float) -> None:
    rng = np.random.default_rng(1)
    n, c = 768, 64
    a, b = rng.standard_normal((n, c)), rng.standard_normal((n, c))
    qz = TimeShare.at_rate(target)
    ea, eb = qz.encode(a, 0), qz.encode(b, 1)
    side = 32 / n
    assert target - 0.05 <= ea.rate <= target + side + 0.01  # side info (norms) included
    d = np.sum((qz.estimate_product(ea, eb) - a.T @ b) ** 2) / (n * c * c)
    # D = (1 - p) + p * D_base, D_base ~ 0.27 for the E8 q=3 base (sampling noise ~0.03 at this size)
    p = ea.data["kept"]
    assert abs(d - (1 - 0.73 * p)) < 0.05
    full = TimeShare(1.0).encode(a)
    assert full.rate > ea.rate


def test_rate_above_base_is_rejected() -> None:
    with pytest.raises(HwqError, match="out of range"):
        TimeShare.at_rate(3.0)
