"""Scalar baselines: absmax INT-k, per column or per group of g rows (SPEC sections 4 and 5).

Mid-rise absmax quantizer with 2**bits levels on [-M, M], M = max |a| over the group:

    delta = 2 M / 2**bits;  i = clip(floor(a / delta), -2**(bits-1), 2**(bits-1) - 1);  ahat = (i + 1/2) delta

(the "standard 3-bit scalar quantizer" of the paper's table is bits = 3, one group per column). The
mid-tread variant (symmetric, levels i * delta with delta = M / (2**(bits-1) - 1), i in
[-(2**(bits-1) - 1), 2**(bits-1) - 1]) is what integer kernels use (INT4/INT8 absmax).

Also here: the entropy-coded subtractive-dither uniform scalar quantizer (ECDQ) of the quantizer zoo
(:func:`dithered_quantize`, :func:`dithered_step_for_rate`) and :func:`pow2_segment`.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from hwq.errors import HwqError

__all__ = ["absmax_quantize", "absmax_dequantize", "absmax_roundtrip", "absmax_rate", "dithered_quantize",
           "dithered_dequantize", "dithered_step_for_rate", "pow2_segment"]


def _groups(a: np.ndarray, group: int | None) -> tuple[np.ndarray, int]:
    a = np.asarray(a)
    if a.ndim != 2:
        raise HwqError(f"absmax quantizer expects a 2-D matrix (n x cols), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise HwqError("input contains NaN or Inf")
    n = a.shape[0]
    g = n if group is None else int(group)
    if g < 1 or n % g:
        raise HwqError(f"group size {group} must be a positive divisor of the column length {n}")
    return a.astype(np.float64).reshape(n // g, g, a.shape[1]), g


def absmax_quantize(a: np.ndarray, bits: int, group: int | None = None, midrise: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Quantize columns (or groups of ``group`` rows of each column) of ``a``.

    Parameters
    ----------
    a : ndarray, shape (n, cols)
    bits : int
        Bits per entry, 1..16 (mid-tread needs >= 2).
    group : int, optional
        Rows per scale; None = one scale per column.
    midrise : bool
        Mid-rise levels (i + 1/2) delta (the paper's) or symmetric mid-tread i * delta.

    Returns
    -------
    codes : ndarray of int32, shape (n, cols)
        Signed level indices.
    scales : ndarray of float32, shape (n // group, cols)
        delta per group.
    """
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16 or (not midrise and bits < 2):
        raise HwqError(f"bits must be an integer in [1, 16] ([2, 16] for mid-tread), got {bits!r}")
    x, _ = _groups(a, group)
    m = np.max(np.abs(x), axis=1, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    if midrise:
        delta = (2.0 * m / 2**bits).astype(np.float32).astype(np.float64)
        i = np.clip(np.floor(x / delta), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    else:
        top = 2 ** (bits - 1) - 1
        delta = (m / top).astype(np.float32).astype(np.float64)
        i = np.clip(np.floor(x / delta + 0.5), -top, top)
    return i.reshape(np.shape(a)).astype(np.int32), delta[:, 0, :].astype(np.float32)


def absmax_dequantize(codes: np.ndarray, scales: np.ndarray, midrise: bool = True) -> np.ndarray:
    """Inverse of :func:`absmax_quantize` (float64, (n, cols))."""
    n, cols = codes.shape
    groups = scales.shape[0]
    if groups < 1 or n % groups or scales.shape[1] != cols:
        raise HwqError(f"scales shape {scales.shape} does not fit codes {codes.shape}")
    g = n // groups
    c = codes.astype(np.float64).reshape(groups, g, cols)
    off = 0.5 if midrise else 0.0
    return ((c + off) * scales.astype(np.float64)[:, None, :]).reshape(n, cols)


def absmax_roundtrip(a: np.ndarray, bits: int, group: int | None = None, midrise: bool = True) -> np.ndarray:
    """Quantize and dequantize."""
    codes, scales = absmax_quantize(a, bits, group, midrise)
    return absmax_dequantize(codes, scales, midrise)


def absmax_rate(bits: int, n: int, group: int | None = None, scale_bits: int = 32) -> float:
    """Bits per entry including the scales."""
    g = n if group is None else group
    return bits + scale_bits / g


# ----------------------------------------------------------------------------------------------------
# additions for the quantizer zoo (hwq.quant): dithered uniform scalar (ECDQ) and helpers
# ----------------------------------------------------------------------------------------------------

def pow2_segment(n: int) -> int:
    """Largest power of two dividing ``n`` (the Hadamard segment of SPEC section 2)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise HwqError(f"n must be a positive integer, got {n!r}")
    return int(n) & -int(n)


def _unit_columns(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = a.shape[0]
    rho = np.sqrt(np.sum(a * a, axis=0)).astype(np.float32)
    safe = np.where(rho > 0, rho, 1.0).astype(np.float64)
    return a * (np.sqrt(n) / safe), rho


def _dither(shape: tuple[int, int], seed: int, matrix_id: int) -> np.ndarray:
    return np.random.default_rng([int(seed), int(matrix_id)]).random(shape) - 0.5


def dithered_quantize(a: np.ndarray, step: float, seed: int = 7, matrix_id: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Subtractive-dither uniform scalar quantizer per column (ECDQ).

    Each column is normalised to unit variance, x = sqrt(n) a / rho, then i = rnd(x / step + u) with
    u ~ U[-1/2, 1/2) regenerated by the decoder from (seed, matrix_id).

    Parameters
    ----------
    a : ndarray, shape (n, cols)
    step : float
        Quantizer step (in units of the column's RMS).
    seed, matrix_id : int
        Dither stream.

    Returns
    -------
    idx : ndarray of int64, shape (n, cols)
    rho : ndarray of float32, shape (cols,)
        Column norms (side information).
    """
    x, _ = _groups(a, None)
    x = x[0]
    if not np.isfinite(step) or step <= 0:
        raise HwqError(f"step must be a finite number > 0, got {step!r}")
    xs, rho = _unit_columns(x)
    u = _dither(xs.shape, seed, matrix_id)
    return np.floor(xs / step + u + 0.5).astype(np.int64), rho


def dithered_dequantize(idx: np.ndarray, rho: np.ndarray, step: float, seed: int = 7,
                        matrix_id: int = 0) -> np.ndarray:
    """Inverse of :func:`dithered_quantize` with the MMSE (Wiener) gain g = 1 / (1 + step**2 / 12):
    g (i - u) step rho / sqrt(n), float64 (n, cols). (The gain matters at low rate, where the dither
    noise step**2/12 exceeds the unit signal variance.)"""
    n = idx.shape[0]
    u = _dither(idx.shape, seed, matrix_id)
    gain = 1.0 / (1.0 + step * step / 12.0)
    return (idx - u) * (gain * step) * (rho.astype(np.float64) / np.sqrt(n))


def _ecdq_entropy(step: float) -> float:
    """Entropy (bits) of rnd(x/step + u) for x ~ N(0, 1), u ~ U[-1/2, 1/2): P(i = k) = E tri(x/step - k)."""
    if step < 0.05:  # high-rate limit, accurate to < 1e-4 bit here
        return 0.5 * math.log2(2 * math.pi * math.e) - math.log2(step)
    kmax = int(10 / step) + 2
    k = np.arange(-kmax, kmax + 1)
    x = np.linspace(-10, 10, 40001)
    w = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * (x[1] - x[0])
    p = np.array([np.sum(w * np.maximum(0.0, 1.0 - np.abs(x / step - kk))) for kk in k])
    p = p[p > 1e-300] / p.sum()
    return float(-(p * np.log2(p)).sum())


@cache
def dithered_step_for_rate(rate: float) -> float:
    """Step of the ECDQ whose index entropy on unit Gaussian input is ``rate`` bits (bisection)."""
    if not 0 < rate <= 24:
        raise HwqError(f"rate must be in (0, 24] bits per entry, got {rate!r}")
    lo, hi = math.log(2.0 ** -rate / 8), math.log(64.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        if _ecdq_entropy(math.exp(mid)) > rate:
            lo = mid
        else:
            hi = mid
    return float(f"{math.exp((lo + hi) / 2):.6g}")
