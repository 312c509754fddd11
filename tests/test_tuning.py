"""beta0 tuning: the entropy-coded rate is hit, the paper's ladder histogram, the MSE minimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.lattice import get_lattice
from hwq.nested import quantize_blocks
from hwq.prng import dither_for
from hwq.tuning import MAX_TUNED_OVERLOAD, beta0_for_rate, ladder_stats, tuned_beta0

STEP = 2 ** (1 / 3)


def _fresh_rate(lattice: str, q: int, beta0: float, dither: bool, n: int = 20000) -> tuple[float, np.ndarray]:
    """Entropy-coded rate on data the tuner never saw (other seed, other dither stream)."""
    lat = get_lattice(lattice)
    x = np.random.default_rng(2024).standard_normal((n, lat.dim))
    z = dither_for(lat, 99, 5, np.ones(n, dtype=np.int64), np.arange(n)) if dither else None
    bc = quantize_blocks(lat, q, x, [beta0 * STEP ** t for t in range(16)], z)
    p = np.bincount(bc.ladder, minlength=16) / n
    nz = p[p > 0]
    return math.log2(q) - float(np.sum(nz * np.log2(nz))) / lat.dim, p


@pytest.mark.parametrize("lattice, q, dither, rate", [("D3", 6, True, 3.0098), ("Z", 7, True, 3.0098),
                                                      ("D4", 6, False, 2.7)])
def test_beta0_for_rate_hits_the_rate(lattice: str, q: int, dither: bool, rate: float) -> None:
    b = beta0_for_rate(lattice, q, dither, rate)
    assert ladder_stats(lattice, q, b, dither, 16, STEP, 4 * 8192)["rate"] == pytest.approx(rate, abs=0.01)
    got, _ = _fresh_rate(lattice, q, b, dither)
    # on unseen data the Monte Carlo spread adds about 0.006 bit (Z: H(T) is not divided by d)
    assert got == pytest.approx(rate, abs=0.02)


def test_d3_ladder_histogram_matches_paper() -> None:
    b = beta0_for_rate("D3", 6, True, 3.015 - 32 / 6144)
    _, p = _fresh_rate("D3", 6, b, True)
    assert p[0] == pytest.approx(0.71, abs=0.03)
    assert p[1] == pytest.approx(0.16, abs=0.03)
    assert p[2] == pytest.approx(0.09, abs=0.03)


def test_beta0_for_rate_errors() -> None:
    with pytest.raises(HwqError, match="not above log2"):
        beta0_for_rate("D3", 6, True, 2.5)
    with pytest.raises(HwqError, match="out of reach"):
        beta0_for_rate("D3", 6, True, 5.0)


def test_tuned_beta0_is_an_mse_minimum() -> None:
    # the minimum among beta0 whose top rung never overloads on the tuning sample: a smaller beta0
    # either overloads (infeasible) or has a larger MSE
    b = tuned_beta0("D3", 6, False, 4, 2 ** 0.5)

    def st(v):
        return ladder_stats("D3", 6, v, False, 4, 2 ** 0.5)

    assert st(b)["overload"] <= MAX_TUNED_OVERLOAD
    assert st(b)["mse"] <= st(1.15 * b)["mse"]
    assert st(0.85 * b)["overload"] > MAX_TUNED_OVERLOAD or st(b)["mse"] <= st(0.85 * b)["mse"]
    assert st(b)["mse"] < 0.05  # about 3.3 bits per entry packed
    with pytest.raises(HwqError, match="q must be"):
        tuned_beta0("D3", 1, False)


#: the stated top-rung overload rate of the tuned configs on fresh data
FRESH_OVERLOAD_RATE = 1e-3


@pytest.mark.parametrize("lattice, q", [("Z", 64), ("Z", 65), ("Z", 256), ("D3", 6), ("D3", 64), ("D3", 65),
                                        ("D3", 256)])
def test_tuned_beta0_keeps_top_rung_overloads_rare(lattice: str, q: int) -> None:
    b = tuned_beta0(lattice, q, False, 4, 2 ** 0.5)
    lat = get_lattice(lattice)
    x = np.random.default_rng(777).standard_normal((32768, lat.dim))  # not the tuning sample
    bc = quantize_blocks(lat, q, x, [b * 2 ** (t / 2) for t in range(4)])
    assert bc.overload.mean() <= FRESH_OVERLOAD_RATE, (lattice, q, b, bc.overload.mean())
