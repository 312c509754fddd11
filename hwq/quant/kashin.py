"""Kashin decomposition and Kashin quantization (SPEC section 5).

x ~= u + Q v with Q orthogonal (a randomized Hadamard: Q^T x = H diag(s) x / sqrt(h) on segments of h,
the largest power of two dividing n) and both ||u||_inf and ||v||_inf small, by the greedy algorithm:

    r = x;  while ||r||_2 > tol ||x||_2 and it < max_iter:
        if ||r||_1 > ||Q^T r||_1:  pi = proj_r(sign(r));        u += pi
        else:                      pi = proj_r(Q sign(Q^T r));  vhat += pi   (v = Q^T vhat)
        r -= pi                    (proj_r(y) = (r.y / ||y||^2) y)

Each step removes ||r||_1^2 / n (or ||Q^T r||_1^2 / n) of ||r||^2, so ||r|| never grows; convergence is
geometric in practice but not guaranteed in a fixed number of steps, so the iteration cap is a parameter
and :class:`KashinResult` reports ``converged`` and the final relative residual (never a hang).
The matrix version decomposes W ~= U + Q1 V Q2^T with Q1 on rows and Q2 on columns.

Kashin quantization then clusters the values of u and v (1-D k-means, k = 4 by default, i.e. 2 bits
each) and replaces each by its cluster mean; indices are entropy coded (rate = empirical entropy of
the u and v indices, two per entry, plus the float32 centroids).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from hwq.errors import HwqError
from hwq.hadamard import hadamard_matrix
from hwq.packing import pack_bits
from hwq.prng import hadamard_signs
from hwq.quant.base import Encoded, Quantizer, _check_matrix, check_rate, index_entropy
from hwq.quant.scalar import pow2_segment

__all__ = ["MIN_SEGMENT", "Kashin", "KashinResult", "kashin_matrix", "kashin_vector", "kmeans_1d"]

#: smallest Hadamard segment accepted (a smaller one barely mixes the coordinates)
MIN_SEGMENT = 8


@dataclass
class KashinResult:
    """u, v with x ~= u + Q v (vector: columns; matrix: U + Q1 V Q2^T), and convergence facts."""

    u: np.ndarray
    v: np.ndarray
    iterations: int
    residual: float       # max over columns of ||r|| / ||x|| at the end
    converged: bool
    history: list[float]  # relative residual after each iteration (max over columns)

    def message(self) -> str:
        if self.converged:
            return f"converged in {self.iterations} iterations (residual {self.residual:.2e})"
        return (f"did NOT converge: residual {self.residual:.2e} after {self.iterations} iterations "
                "(raise max_iter or tol)")


def _segment(n: int, name: str) -> int:
    h = pow2_segment(n)
    if h < MIN_SEGMENT:
        raise HwqError(f"{name} = {n} has no power-of-two factor >= {MIN_SEGMENT} for the randomized "
                       f"Hadamard; pad it to a multiple of {MIN_SEGMENT}")
    return min(h, 4096)


@cache
def _factors(h: int) -> tuple[np.ndarray, np.ndarray]:
    """Sylvester H_h = H_a (x) H_b with a * b = h (a <= b), each factor scaled by 1/sqrt(its order)."""
    a = 1 << (h.bit_length() - 1) // 2
    b = h // a
    return (hadamard_matrix(a).astype(np.float64) / np.sqrt(a),
            hadamard_matrix(b).astype(np.float64) / np.sqrt(b))


def _hadamard(x: np.ndarray, h: int) -> np.ndarray:
    """Orthonormal Sylvester transform H_h / sqrt(h) on length-h segments of axis 0 of x (n, c), as two
    small dense products (H_a (x) H_b) = two BLAS calls instead of log2(h) butterfly passes."""
    n, c = x.shape
    fa, fb = _factors(h)
    a, b = fa.shape[0], fb.shape[0]
    y = np.matmul(fb, x.reshape(n // h, a, b, c))                       # contract the fast index
    y = np.matmul(fa, y.reshape(n // h, a, b * c))                      # contract the slow index
    return y.reshape(n, c)


def _rot(x: np.ndarray, h: int, seed: int) -> np.ndarray:
    """Same as :func:`hwq.hadamard.rotate` on a 2-D array (H diag(s) x / sqrt(h)), up to rounding."""
    return _hadamard(x * hadamard_signs(seed, x.shape[0]).astype(np.float64)[:, None], h)


def _unrot(y: np.ndarray, h: int, seed: int) -> np.ndarray:
    """Same as :func:`hwq.hadamard.unrotate` on a 2-D array (diag(s) H y / sqrt(h)), up to rounding."""
    return _hadamard(y, h) * hadamard_signs(seed, y.shape[0]).astype(np.float64)[:, None]


def _check_params(max_iter: int, tol: float) -> None:
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise HwqError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise HwqError(f"tol must be in (0, 1), got {tol!r}")


def _greedy(x: np.ndarray, qt, q, max_iter: int, tol: float) -> KashinResult:
    """Greedy Kashin on the columns of x (vector version) or on x as a whole (qt/q act on matrices)."""
    _check_params(max_iter, tol)
    norm0 = np.sqrt(np.sum(x * x, axis=0, keepdims=True))
    norm0 = np.where(norm0 > 0, norm0, 1.0)
    r = x.copy()
    u = np.zeros_like(x)
    vh = np.zeros_like(x)
    hist: list[float] = []
    it = 0
    rel = float(np.max(np.sqrt(np.sum(r * r, axis=0, keepdims=True)) / norm0))
    qr = qt(r) if rel > tol and max_iter > 0 else None
    while rel > tol and it < max_iter:
        # one transform per iteration: Q^T r is carried over a v step (Q^T Q sign = sign), recomputed
        # after a u step; only the branch a column takes is evaluated
        use_u = np.sum(np.abs(r), axis=0, keepdims=True) > np.sum(np.abs(qr), axis=0, keepdims=True)
        all_u, all_v = bool(use_u.all()), not bool(use_u.any())
        sq = None if all_u else np.sign(qr)
        if all_u:
            y = np.sign(r)
        elif all_v:
            y = q(sq)
        else:
            y = np.where(use_u, np.sign(r), q(sq))
        yy = np.sum(y * y, axis=0, keepdims=True)
        coef = np.sum(r * y, axis=0, keepdims=True) / np.where(yy > 0, yy, 1.0)
        pi = y * coef
        if all_u:
            u += pi
        elif all_v:
            vh += pi
        else:
            u += np.where(use_u, pi, 0.0)
            vh += np.where(use_u, 0.0, pi)
        r -= pi
        it += 1
        rel = float(np.max(np.sqrt(np.sum(r * r, axis=0, keepdims=True)) / norm0))
        hist.append(rel)
        if rel > tol and it < max_iter:
            qr = qr - sq * coef if all_v else qt(r)
    return KashinResult(u, qt(vh), it, rel, rel <= tol, hist)


def kashin_vector(x: np.ndarray, sign_seed: int = 13, max_iter: int = 200, tol: float = 1e-6) -> KashinResult:
    """Kashin decomposition of each column of x (n,) or (n, cols): x = u + Q v + r, ||r|| <= tol ||x||.

    Raises
    ------
    HwqError
        Non-finite input, n without a power-of-two factor >= 8, bad max_iter/tol.
    """
    x = np.asarray(x, dtype=np.float64)
    vec = x.ndim == 1
    x2 = _check_matrix(x[:, None] if vec else x, "x")
    h = _segment(x2.shape[0], "n")
    res = _greedy(x2, lambda z: _rot(z, h, sign_seed), lambda z: _unrot(z, h, sign_seed), max_iter, tol)
    if vec:
        res.u, res.v = res.u[:, 0], res.v[:, 0]
    return res


def kashin_matrix(w: np.ndarray, seeds: tuple[int, int] = (13, 17), max_iter: int = 200,
                  tol: float = 1e-6) -> KashinResult:
    """Matrix Kashin decomposition W = U + Q1 V Q2^T + R, ||R||_F <= tol ||W||_F."""
    w = _check_matrix(w, "W")
    h1, h2 = _segment(w.shape[0], "rows"), _segment(w.shape[1], "cols")

    def qt(z: np.ndarray) -> np.ndarray:  # Q1^T Z Q2
        return _rot(_rot(z.reshape(w.shape), h1, seeds[0]).T, h2, seeds[1]).T.reshape(-1, 1)

    def q(z: np.ndarray) -> np.ndarray:   # Q1 Z Q2^T
        return _unrot(_unrot(z.reshape(w.shape), h1, seeds[0]).T, h2, seeds[1]).T.reshape(-1, 1)

    res = _greedy(w.reshape(-1, 1), qt, q, max_iter, tol)
    res.u, res.v = res.u.reshape(w.shape), res.v.reshape(w.shape)
    return res


def kmeans_1d(values: np.ndarray, k: int, iters: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's 1-D k-means per column of ``values`` (n, cols), quantile initialisation.

    Returns
    -------
    idx : ndarray of int64 (n, cols), sorted-centroid indices
    centroids : ndarray (k, cols), increasing
    """
    if not isinstance(k, (int, np.integer)) or not 2 <= k <= 256:
        raise HwqError(f"k (clusters) must be an integer in [2, 256], got {k!r}")
    v = np.asarray(values, dtype=np.float64)
    c = np.quantile(v, (np.arange(k) + 0.5) / k, axis=0)  # (k, cols)
    if v.ndim == 2 and v.shape[1] == 1 and v.shape[0] > 4 * k:
        return _kmeans_sorted(v[:, 0], c[:, 0], iters)
    for _ in range(iters):
        idx = np.argmin(np.abs(v[None, :, :] - c[:, None, :]), axis=0)
        for j in range(k):
            m = idx == j
            cnt = m.sum(axis=0)
            c[j] = np.where(cnt > 0, (v * m).sum(axis=0) / np.maximum(cnt, 1), c[j])
        c = np.sort(c, axis=0)
    idx = np.argmin(np.abs(v[None, :, :] - c[:, None, :]), axis=0)
    return idx.astype(np.int64), c


def _nearest_sorted(v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """argmin_j |v - c_j| for increasing centroids c (first index on ties), via the midpoints."""
    first = np.searchsorted(c, c, side="left")  # equal centroids: the lowest index wins, as argmin
    near = np.searchsorted((c[:-1] + c[1:]) / 2.0, v, side="left")
    return first[near]


def _kmeans_sorted(v: np.ndarray, c: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's 1-D k-means of one column in O(n log n + iters k log n): the values are sorted once and
    every cluster is a contiguous run, so assignment is a midpoint search and the means are run sums
    (the same fixed point as the dense argmin version)."""
    k = c.size
    vs = np.sort(v)
    c = c.copy()
    for _ in range(iters):
        # runs of the sorted values between the midpoints; a run whose centroid repeats a lower one
        # belongs to that lower cluster (argmin's first index), leaving the repeat empty (kept as is)
        cuts = np.concatenate(([0], np.searchsorted(vs, (c[:-1] + c[1:]) / 2.0, side="right"), [vs.size]))
        first = np.searchsorted(c, c, side="left")
        for j in range(k):
            runs = np.flatnonzero(first == j)
            if runs.size:
                a, b = cuts[runs[0]], cuts[runs[-1] + 1]
                if b > a:
                    c[j] = vs[a:b].sum() / (b - a)
        c = np.sort(c)
    return _nearest_sorted(v, c).astype(np.int64)[:, None], c[:, None]


class Kashin(Quantizer):
    """Kashin quantization: decompose (vector per column, or matrix), then k-means the values of u and
    v (per column for the vector version, globally for the matrix version)."""

    family = "kashin"

    def __init__(self, k: int = 4, matrix: bool = True, max_iter: int = 100, tol: float = 1e-3,
                 require_convergence: bool = False):
        if not isinstance(k, (int, np.integer)) or not 2 <= k <= 256:
            raise HwqError(f"kashin: k must be an integer in [2, 256], got {k!r}")
        _check_params(max_iter, tol)
        self.k, self.matrix, self.max_iter, self.tol = int(k), matrix, max_iter, tol
        self.require_convergence = require_convergence

    @property
    def slug(self) -> str:
        return f"kashin_{'mat' if self.matrix else 'vec'}_k{self.k}"

    @classmethod
    def at_rate(cls, rate: float, **kw: Any) -> "Kashin":
        """k = round(2**(rate/2)) clusters (two indices per entry: u and v)."""
        rate = check_rate(rate, 2, 16, "kashin (2 log2 k bits/entry)")
        return cls(k=max(2, int(round(2 ** (rate / 2)))), **kw)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        res = kashin_matrix(a, max_iter=self.max_iter, tol=self.tol) if self.matrix else \
            kashin_vector(a, max_iter=self.max_iter, tol=self.tol)
        if self.require_convergence and not res.converged:
            raise HwqError(f"Kashin decomposition {res.message()}")
        if self.matrix:
            iu, cu = kmeans_1d(res.u.reshape(-1, 1), self.k)
            iv, cv = kmeans_1d(res.v.reshape(-1, 1), self.k)
            iu, iv = iu.reshape(n, cols), iv.reshape(n, cols)
            side = 2 * self.k * 32 / (n * cols)
        else:
            iu, cu = kmeans_1d(res.u, self.k)
            iv, cv = kmeans_1d(res.v, self.k)
            side = 2 * self.k * 32 / n
        width = (self.k - 1).bit_length()
        payload = {"u_codes": pack_bits(iu.T, width), "v_codes": pack_bits(iv.T, width),
                   "u_centroids": cu.astype(np.float32), "v_centroids": cv.astype(np.float32)}
        rate = index_entropy(iu) + index_entropy(iv) + side
        return Encoded(self, n, cols, self.slug, payload, rate,
                       {"iu": iu, "iv": iv, "cu": cu, "cv": cv, "result": res})

    def decode(self, enc: Encoded) -> np.ndarray:
        d = enc.data
        cu, cv = d["cu"].astype(np.float32).astype(np.float64), d["cv"].astype(np.float32).astype(np.float64)
        uh = np.take_along_axis(cu, d["iu"], axis=0) if not self.matrix else cu[d["iu"], 0]
        vh = np.take_along_axis(cv, d["iv"], axis=0) if not self.matrix else cv[d["iv"], 0]
        n, cols = enc.n, enc.cols
        if self.matrix:
            h1, h2 = _segment(n, "rows"), _segment(cols, "cols")
            return uh + _unrot(_unrot(vh, h1, 13).T, h2, 17).T
        return uh + _unrot(vh, _segment(n, "n"), 13)
