"""WaterSIC: weight-only quantization given an activation covariance (SPEC section 5).

Setting: W is K x M (columns are output units), activations x have covariance Sigma (K x K), and the
distortion is the output error per entry  D = tr(E^T Sigma E) / (K M),  E = What - W.

With the LDL factorisation Sigma = L diag(d) L^T (L unit lower triangular, from the Cholesky factor),
e^T Sigma e = sum_i d_i ((L^T e)_i)^2. Successive interference cancellation (SIC, the GPTQ-like error
feedback) quantizes the rows from last to first, each to a scalar grid of step s_i, after subtracting
the already-made errors:

    t_i = w_i - sum_{j > i} L[j, i] e_j;   what_i = s_i rnd(t_i / s_i);   (L^T e)_i = what_i - t_i

so every row contributes d_i * s_i^2 / 12 independently. Waterfilling sets s_i so that the row
distortions are equal (d_i s_i^2 = const) for rows whose "level" v_i d_i (v_i the row variance) is above
the water level theta, and gives zero rate (what_i = 0... after feedback) to the rest: the planned rates

    r_i = max(0, 1/2 log2(v_i d_i / theta)),   sum_i r_i = K R.

Indices are entropy coded (one code per row when M >= 1024, else one shared code: the pooled entropy,
an upper bound; plus a float32 step per row = 32/M bits/entry); a common factor on all steps is tuned (secant,
a few SIC passes) so that the measured entropy rate hits R. At high rate this is within 2 pi e / 12 (0.254
bit/entry) of the Gaussian waterfilling bound  D_wf(R) = 1/K sum_i min(theta, v lambda_i)  over the
eigenvalues lambda_i of Sigma, for any Sigma (det Sigma = prod d_i: basis independent).

"GPTQ after a random rotation" is the same SIC with one common step for all rows (no waterfilling) after
rotating W and Sigma by a random orthogonal matrix (``allocation="uniform", rotate=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwq.errors import HwqError
from hwq.quant.base import Encoded, Quantizer, _check_matrix, _fmt, _offset_pack, check_rate, index_entropy

__all__ = ["check_covariance", "ldl", "waterfill", "waterfill_bound", "rate_for_distortion", "sic_quantize",
           "WaterSICResult", "watersic", "WaterSIC", "seed_sigma", "long_tail_sigma", "random_orthogonal"]

_BLOCK = 64
#: rows at least this long get their own entropy code (see :func:`_rate`)
PER_ROW_MIN = 1024


def check_covariance(sigma: np.ndarray, damp: float = 0.0) -> np.ndarray:
    """Validate an activation covariance; optionally add ``damp * mean(diag) * I`` (as GPTQ does).

    Raises
    ------
    HwqError
        Not square, not finite, not symmetric, not positive semidefinite, or singular.
    """
    s = np.asarray(sigma, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
        raise HwqError(f"Sigma_X must be a square K x K matrix, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise HwqError("Sigma_X contains NaN or Inf")
    scale = float(np.max(np.abs(s))) or 1.0
    if np.max(np.abs(s - s.T)) > 1e-8 * scale:
        raise HwqError("Sigma_X is not symmetric; pass (S + S.T) / 2 of a covariance estimate")
    if damp:
        if not 0 < damp < 1e3:
            raise HwqError(f"damp must be in (0, 1000), got {damp}")
        s = s + damp * float(np.mean(np.diag(s))) * np.eye(s.shape[0])
    ev = np.linalg.eigvalsh(s)
    if ev[0] < -1e-10 * max(ev[-1], 1e-300):
        raise HwqError(f"Sigma_X is not positive semidefinite (smallest eigenvalue {ev[0]:.3g}); it must be "
                       "a covariance, e.g. X X^T / T of calibration activations")
    if ev[-1] <= 0 or ev[0] <= 1e-12 * ev[-1]:
        raise HwqError(f"Sigma_X is singular (eigenvalues {ev[0]:.3g} .. {ev[-1]:.3g}); add damping "
                       "(damp=0.01 adds 1% of the mean diagonal) or use more calibration samples")
    return s


def ldl(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L unit lower triangular, d) with Sigma = L diag(d) L^T (from the Cholesky factor)."""
    c = np.linalg.cholesky(check_covariance(sigma))
    dg = np.diag(c)
    return c / dg[None, :], dg * dg


def waterfill(levels: np.ndarray, total_rate: float) -> tuple[np.ndarray, float]:
    """Reverse waterfilling: rates r_i = max(0, 1/2 log2(levels_i / theta)) with sum r_i = total_rate.

    Returns
    -------
    rates : ndarray (K,)
    theta : float
        The water level.
    """
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size == 0 or np.any(lv <= 0) or not np.all(np.isfinite(lv)):
        raise HwqError("waterfilling levels must be a non-empty vector of positive finite numbers")
    if not total_rate > 0:
        raise HwqError(f"the total rate must be > 0 bits, got {total_rate}")
    logs = np.sort(np.log2(lv))[::-1]
    # active set = the k largest levels: log theta = (sum_{i<k} logs_i - 2 total) / k, first k with
    # log theta >= logs_k (or k = K)
    ks = np.arange(1, lv.size + 1)
    lts = (np.cumsum(logs) - 2.0 * total_rate) / ks
    ok = np.append(lts[:-1] >= logs[1:], True)
    lt = float(lts[int(np.argmax(ok))])
    theta = 2.0 ** lt
    return np.maximum(0.0, 0.5 * (np.log2(lv) - lt)), float(theta)


def waterfill_bound(eigs: np.ndarray, variance: float, rate: float) -> float:
    """Gaussian waterfilling bound per entry: (1/K) sum_i min(theta, v lambda_i) at ``rate`` bits/entry."""
    lv = variance * np.asarray(eigs, dtype=np.float64)
    _, theta = waterfill(lv, rate * lv.size)
    return float(np.mean(np.minimum(theta, lv)))


def rate_for_distortion(eigs: np.ndarray, variance: float, dist: float) -> float:
    """Inverse of :func:`waterfill_bound`: bits/entry the bound needs for distortion ``dist``."""
    lo, hi = 1e-6, 40.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if waterfill_bound(eigs, variance, mid) > dist:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def sic_quantize(w: np.ndarray, lower: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SIC with scalar grids: rows processed last to first (blocked, GPTQ-style lazy updates).

    Parameters
    ----------
    w : ndarray (K, M)
    lower : ndarray (K, K)
        Unit lower triangular L of Sigma = L diag(d) L^T.
    steps : ndarray (K,)
        Grid step per row; ``inf`` means rate 0 (the row is reconstructed as 0).

    Returns
    -------
    idx : ndarray of int64 (K, M)
    what : ndarray (K, M)
    """
    k = w.shape[0]
    ut = lower.T  # unit upper
    err = np.zeros_like(w)
    idx = np.zeros(w.shape, dtype=np.int64)
    what = np.zeros_like(w)
    for e in range(k, 0, -_BLOCK):
        s = max(0, e - _BLOCK)
        corr = ut[s:e, e:] @ err[e:] if e < k else np.zeros((e - s, w.shape[1]))
        for i in range(e - 1, s - 1, -1):
            t = w[i] - corr[i - s] - ut[i, i + 1:e] @ err[i + 1:e]
            if np.isfinite(steps[i]):
                idx[i] = np.floor(t / steps[i] + 0.5).astype(np.int64)
                what[i] = idx[i] * steps[i]
            err[i] = what[i] - w[i]
    return idx, what


def _rate(idx: np.ndarray) -> float:
    """Entropy rate of the indices: one adaptive code per row when rows are long (M >= 1024: the plug-in
    estimate is then accurate), else one code shared by the whole matrix (pooled entropy, an upper bound)."""
    return index_entropy(idx, axis=0) if idx.shape[1] >= PER_ROW_MIN else index_entropy(idx)


def random_orthogonal(k: int, seed: int) -> np.ndarray:
    """Haar-random K x K orthogonal matrix (QR of a seeded Gaussian, sign-fixed)."""
    g = np.random.default_rng(seed).standard_normal((k, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))[None, :]


@dataclass
class WaterSICResult:
    """Outcome of :func:`watersic` (all rates in bits/entry)."""

    what: np.ndarray
    idx: np.ndarray
    steps: np.ndarray
    planned_rates: np.ndarray
    rate: float           # measured entropy rate (payload)
    side_rate: float      # float32 steps
    distortion: float     # tr(E^T Sigma E) / (K M)
    bound: float          # waterfilling bound at the measured payload rate
    gap_bits: float       # rate - rate_for_distortion(bound curve, distortion)


def watersic(w: np.ndarray, sigma: np.ndarray, rate: float, allocation: str = "waterfill",
             rotate: bool = False, seed: int = 5, damp: float = 0.0, iters: int = 5,
             tol: float = 0.004) -> WaterSICResult:
    """Quantize W (K x M) for activations of covariance Sigma at ``rate`` bits/entry (payload).

    Parameters
    ----------
    allocation : {"waterfill", "uniform"}
        Waterfilling steps (WaterSIC) or one common step (GPTQ-like).
    rotate : bool
        Rotate W and Sigma by a random orthogonal matrix first (seeded).
    damp : float
        Relative diagonal damping of Sigma (0: Sigma must be nonsingular).
    iters, tol : int, float
        Secant passes tuning the common step factor, and the rate tolerance.

    Raises
    ------
    HwqError
        Bad Sigma (see :func:`check_covariance`), mismatched shapes, rate out of (0, 16].
    """
    w = _check_matrix(w, "W")
    k, m = w.shape
    sig = check_covariance(sigma, damp)
    if sig.shape[0] != k:
        raise HwqError(f"Sigma_X is {sig.shape[0]} x {sig.shape[0]} but W has K = {k} rows")
    check_rate(rate, 0.05, 16, "watersic")
    if allocation not in ("waterfill", "uniform"):
        raise HwqError(f"allocation must be 'waterfill' or 'uniform', got {allocation!r}")
    q = random_orthogonal(k, seed) if rotate else None
    wr, sr = (q.T @ w, q.T @ sig @ q) if q is not None else (w, sig)
    lower, dd = ldl(sr)
    v = np.maximum(np.mean(wr * wr, axis=1), 1e-300)
    if allocation == "waterfill":
        planned, theta = waterfill(v * dd, rate * k)
        base = np.where(planned > 0, np.sqrt(12.0 * theta / dd), np.inf)
    else:
        planned = np.full(k, float(rate))
        base = np.full(k, math.sqrt(2 * math.pi * math.e * np.mean(v)) * 2.0 ** -rate)
    logc, hist = 0.0, []
    for _ in range(max(1, iters)):
        idx, what = sic_quantize(wr, lower, base * 2.0 ** logc)
        r = _rate(idx)
        hist.append((logc, r))
        if abs(r - rate) <= tol:
            break
        if len(hist) >= 2 and hist[-1][1] != hist[-2][1]:
            slope = (hist[-1][1] - hist[-2][1]) / (hist[-1][0] - hist[-2][0])
            slope = min(max(slope, -2.0), -0.05)
        else:
            slope = -max(float(np.mean(planned > 0)), 0.05)
        logc += float(np.clip((rate - r) / slope, -3.0, 3.0))
    steps = base * 2.0 ** logc
    idx, what = sic_quantize(wr, lower, steps) if hist[-1][0] != logc else (idx, what)
    r = _rate(idx)
    what_out = q @ what if q is not None else what
    e = what_out - w
    dist = float(np.sum(e * (sig @ e)) / (k * m))
    eig = np.linalg.eigvalsh(sig)
    var = float(np.mean(w * w))
    bound = waterfill_bound(eig, var, max(r, 1e-6))
    gap = r - rate_for_distortion(eig, var, dist)
    return WaterSICResult(what_out, idx, steps, planned, r, 32.0 / m, dist, bound, gap)


class WaterSIC(Quantizer):
    """WaterSIC (or GPTQ-like SIC) behind the :class:`hwq.quant.base.Quantizer` interface.

    ``fit(x)`` takes calibration activations X (K x T) and sets Sigma = X X^T / T; without fit,
    ``sigma`` given at construction is used, else the identity (iid activations).
    """

    family = "watersic"

    def __init__(self, rate: float, sigma: np.ndarray | None = None, allocation: str = "waterfill",
                 rotate: bool = False, damp: float = 0.0, seed: int = 5):
        self.rate = check_rate(rate, 0.05, 16, "watersic")
        self.sigma = None if sigma is None else check_covariance(sigma, damp)
        self.allocation, self.rotate, self.damp, self.seed = allocation, rotate, damp, seed

    @property
    def slug(self) -> str:
        kind = "watersic" if self.allocation == "waterfill" else "sic_uniform"
        return f"{kind}{'_rot' if self.rotate else ''}_r{_fmt(self.rate)}"

    @classmethod
    def at_rate(cls, rate: float, **kw: Any) -> "WaterSIC":
        return cls(rate, **kw)

    def fit(self, calib: np.ndarray | None = None) -> "WaterSIC":
        if calib is not None:
            x = _check_matrix(calib, "calibration activations")
            self.sigma = check_covariance(x @ x.T / x.shape[1], self.damp)
        return self

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        sig = np.eye(a.shape[0]) if self.sigma is None else self.sigma
        res = watersic(a, sig, self.rate, self.allocation, self.rotate, self.seed)
        packed, _, lo = _offset_pack(res.idx.T)
        payload = {"codes": packed, "offsets": lo, "steps": np.where(np.isfinite(res.steps), res.steps,
                                                                     0.0).astype(np.float32)}
        return Encoded(self, a.shape[0], a.shape[1], self.slug, payload, res.rate + res.side_rate,
                       {"result": res})

    def decode(self, enc: Encoded) -> np.ndarray:
        return enc.data["result"].what


def seed_sigma() -> np.ndarray:
    """The seed's example Sigma_X = V diag(3, 1) V^T, V = [[1, 1], [1, -1]] / sqrt(2)."""
    v = np.array([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2.0)
    return v @ np.diag([3.0, 1.0]) @ v.T


def long_tail_sigma(k: int = 64, power: float = 2.0, seed: int = 3) -> np.ndarray:
    """Covariance with eigenvalues i**-power (i = 1..K, a long tail) in a random basis."""
    q = random_orthogonal(k, seed)
    return (q * (np.arange(1, k + 1, dtype=np.float64) ** -power)[None, :]) @ q.T
