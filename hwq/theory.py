"""Information-theoretic curves of SPEC section 1 (iid Gaussian A, B; distortion per product entry / n).

* ``f(R) = 2 * 2**(-2R) - 2**(-4R)``;
* ``R*`` solves ``R = 1/2 log2(1 + 4 R ln 2)`` (R* = 0.90632, f(R*) = 0.48830);
* ``Gamma(R) = f(R)`` for R >= R*, else the time-sharing line ``1 - (1 - f(R*)) R / R*``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["f_rate", "gamma", "R_STAR", "r_star"]


def f_rate(rate):
    """f(R) = 2 * 2**(-2R) - 2**(-4R) (elementwise)."""
    r = np.asarray(rate, dtype=np.float64)
    out = 2.0 * 2.0 ** (-2.0 * r) - 2.0 ** (-4.0 * r)
    return float(out) if out.ndim == 0 else out


def r_star(tol: float = 1e-14) -> float:
    """Solve R = 1/2 log2(1 + 4 R ln 2) for the nonzero root by bisection."""
    g = lambda r: r - 0.5 * math.log2(1.0 + 4.0 * r * math.log(2.0))  # noqa: E731
    lo, hi = 0.5, 2.0  # g(0.5) < 0 < g(2)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if g(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


R_STAR = r_star()


def gamma(rate):
    """Gamma(R): the smallest achievable distortion at R bits/entry (elementwise, R >= 0)."""
    r = np.asarray(rate, dtype=np.float64)
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        from hwq.errors import HwqError

        raise HwqError("rate must be finite and >= 0 bits per entry")
    fs = 2.0 * 2.0 ** (-2.0 * R_STAR) - 2.0 ** (-4.0 * R_STAR)
    out = np.where(r >= R_STAR, 2.0 * 2.0 ** (-2.0 * r) - 2.0 ** (-4.0 * r), 1.0 - (1.0 - fs) * r / R_STAR)
    return float(out) if out.ndim == 0 else out
