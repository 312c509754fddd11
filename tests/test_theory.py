"""Gamma(R), f(R) and R* against the numbers of SPEC section 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.theory import R_STAR, f_rate, gamma, r_star


def test_spec_numbers() -> None:
    assert round(R_STAR, 5) == 0.90632
    assert round(f_rate(R_STAR), 5) == 0.48830
    assert round(gamma(3.015), 5) == 0.03037
    assert round(gamma(3.0), 5) == 0.03101
    assert gamma(3.015) == pytest.approx(0.0304, rel=0.01)


def test_r_star_solves_its_equation() -> None:
    r = r_star()
    assert r == pytest.approx(0.5 * math.log2(1 + 4 * r * math.log(2)), abs=1e-12)
    assert r == R_STAR


def test_gamma_shape() -> None:
    r = np.linspace(0, 6, 601)
    g = gamma(r)
    assert g[0] == pytest.approx(1.0)
    assert np.all(np.diff(g) < 0)  # strictly decreasing
    assert gamma(R_STAR) == pytest.approx(f_rate(R_STAR))  # continuous at R*
    below = r[r < R_STAR]
    np.testing.assert_allclose(gamma(below), 1 - (1 - f_rate(R_STAR)) * below / R_STAR)
    above = r[r >= R_STAR]
    np.testing.assert_allclose(gamma(above), 2 * 2.0 ** (-2 * above) - 2.0 ** (-4 * above))
    # the time-sharing line lies below f on (0, R*): the line is the better scheme there
    assert np.all(gamma(below[1:]) <= f_rate(below[1:]) + 1e-12)
    assert isinstance(gamma(3.0), float) and isinstance(f_rate(1.0), float)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_rate(bad: float) -> None:
    with pytest.raises(HwqError, match="rate"):
        gamma(bad)
