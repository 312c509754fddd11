"""Tests of WaterSIC (hwq.quant.watersic)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.quant.watersic import (WaterSIC, check_covariance, ldl, long_tail_sigma, seed_sigma, waterfill,
                          waterfill_bound, watersic)


def test_waterfill_sums_to_budget_and_has_the_waterfilling_shape() -> None:
    levels = np.array([8.0, 4.0, 1.0, 0.01, 0.5])
    rates, theta = waterfill(levels, 5.0)
    assert rates.sum() == pytest.approx(5.0)
    active = rates > 0
    assert np.all(levels[~active] <= theta + 1e-12)
    np.testing.assert_allclose(rates[active], 0.5 * np.log2(levels[active] / theta))
    # rate differences follow half the log-ratio of the levels
    assert rates[0] - rates[1] == pytest.approx(0.5)


def test_planned_allocation_of_watersic_sums_to_budget() -> None:
    rng = np.random.default_rng(0)
    sig = long_tail_sigma(32, 2.0)
    res = watersic(rng.standard_normal((32, 1024)), sig, 2.0)
    assert res.planned_rates.sum() == pytest.approx(2.0 * 32)
    assert res.rate == pytest.approx(2.0, abs=0.01)  # measured entropy rate hits the budget
    _, d = ldl(sig)
    act = res.planned_rates > 0
    # equal row distortions d_i s_i^2 on the active rows
    prod = d[act] * res.steps[act] ** 2
    np.testing.assert_allclose(prod, prod[0], rtol=1e-9)


def test_ldl_reconstructs_sigma() -> None:
    sig = long_tail_sigma(16, 1.0)
    lo, d = ldl(sig)
    np.testing.assert_allclose(lo @ np.diag(d) @ lo.T, sig, atol=1e-12)
    np.testing.assert_allclose(np.diag(lo), 1.0)
    assert np.prod(d) == pytest.approx(np.linalg.det(sig))


def test_seed_sigma_within_026_bit_of_the_bound_at_high_rate() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 20000))
    res = watersic(w, seed_sigma(), 6.0)
    assert 0.0 < res.gap_bits <= 0.26
    assert res.distortion >= res.bound  # the bound is a bound


def test_long_tail_beats_gptq_after_rotation() -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((64, 1024))
    sig = long_tail_sigma(64, 2.0)
    ws = watersic(w, sig, 4.0)
    gp = watersic(w, sig, 4.0, allocation="uniform", rotate=True)
    assert ws.distortion < 0.8 * gp.distortion
    assert ws.gap_bits < 0.3
    assert ws.distortion >= waterfill_bound(np.linalg.eigvalsh(sig), float(np.mean(w * w)), ws.rate)


def test_bad_sigma_errors() -> None:
    with pytest.raises(HwqError, match="singular"):
        check_covariance(np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(HwqError, match="positive semidefinite"):
        check_covariance(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(HwqError, match="symmetric"):
        check_covariance(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(HwqError, match="square"):
        check_covariance(np.ones((2, 3)))
    # damping repairs a singular covariance
    check_covariance(np.array([[1.0, 1.0], [1.0, 1.0]]), damp=0.01)
    with pytest.raises(HwqError, match="K = 3"):
        watersic(np.ones((3, 4)), np.eye(2), 2.0)
    with pytest.raises(HwqError, match="rate"):
        WaterSIC(0.0)
    with pytest.raises(HwqError, match="singular"):
        WaterSIC(2.0).fit(np.ones((4, 10)))  # rank-1 calibration activations


def test_fit_from_activations() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4000)) * np.linspace(0.1, 2.0, 16)[:, None]
    qz = WaterSIC(3.0).fit(x)
    enc = qz.encode(rng.standard_normal((16, 64)))
    assert enc.decode().shape == (16, 64)
    assert enc.rate == pytest.approx(3.0 + 32 / 64, abs=0.02)
