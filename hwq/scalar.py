"""Scalar baselines: absmax INT-k, per column or per group of g rows (SPEC sections 4 and 5).

Mid-rise absmax quantizer with 2**bits levels on [-M, M], M = max |a| over the group:

    delta = 2 M / 2**bits;  i = clip(floor(a / delta), -2**(bits-1), 2**(bits-1) - 1);  ahat = (i + 1/2) delta

(the "standard 3-bit scalar quantizer" of the paper's table is bits = 3, one group per column). The
mid-tread variant (symmetric, levels i * delta with delta = M / (2**(bits-1) - 1), i in
[-(2**(bits-1) - 1), 2**(bits-1) - 1]) is what integer kernels use (INT4/INT8 absmax).
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError

__all__ = ["absmax_quantize", "absmax_dequantize", "absmax_roundtrip", "absmax_rate"]


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
