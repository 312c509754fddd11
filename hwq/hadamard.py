"""Walsh-Hadamard rotation: exact integer transform and the normalised float rotation.

The Sylvester matrix H_1 = [1], H_2m = [[H_m, H_m], [H_m, -H_m]] is applied to consecutive segments
of length ``h`` (a power of two) along axis 0, after multiplying row i by the seeded sign
``hwq.prng.hadamard_signs(sign_seed, n)[i]``:

* :func:`fwht` is the unnormalised transform (integer in, integer out: one bit of growth per stage);
* :func:`rotate` / :func:`unrotate` are the orthonormal rotation ``x -> H diag(s) x / sqrt(h)`` and its
  inverse, used offline on floats;
* :func:`rotate_int` is the integer rotation of the hardware datapath (``H diag(s) x``, unnormalised;
  the factor ``2**(-log2(h)/2)`` is folded into the output scale).
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.prng import hadamard_signs

__all__ = ["fwht", "rotate", "unrotate", "rotate_int", "hadamard_matrix", "check_segment"]


def check_segment(n: int, h: int) -> None:
    """Raise HwqError unless h is a power of two dividing n."""
    if not isinstance(h, (int, np.integer)) or h < 1 or h & (h - 1):
        raise HwqError(f"Hadamard size must be a positive power of two, got {h!r}")
    if n % h:
        raise HwqError(f"vector length {n} is not a multiple of the Hadamard size {h}; pad the input to a "
                       f"multiple of {h} or choose a smaller power of two")


def fwht(x: np.ndarray, h: int) -> np.ndarray:
    """Unnormalised fast Walsh-Hadamard transform on consecutive length-h segments of axis 0.

    Parameters
    ----------
    x : ndarray, shape (n, ...)
        Integer or float; integers stay exact (int64 result).
    h : int
        Segment length, a power of two dividing n.

    Returns
    -------
    ndarray, shape (n, ...)

    Examples
    --------
    >>> fwht(np.array([1, 0, 0, 0]), 4).tolist()
    [1, 1, 1, 1]
    """
    x = np.asarray(x)
    n = x.shape[0]
    check_segment(n, h)
    if x.dtype.kind in "iub":
        x = x.astype(np.int64)
    elif x.dtype.kind == "f":
        x = x.astype(np.float64, copy=False)
    else:
        raise HwqError(f"fwht needs an integer or float array, got dtype {x.dtype}")
    rest = x.shape[1:]
    y = x.reshape(n // h, h, -1)
    if h == 1:
        return y.reshape((n,) + rest).copy()
    bufs = (np.empty_like(y), np.empty_like(y))  # ping-pong: the input is never written
    m = 1
    stage = 0
    while m < h:
        src = y.reshape(n // h, h // (2 * m), 2, m, -1)
        out = bufs[stage % 2]
        dst = out.reshape(n // h, h // (2 * m), 2, m, -1)
        np.add(src[:, :, 0], src[:, :, 1], out=dst[:, :, 0])
        np.subtract(src[:, :, 0], src[:, :, 1], out=dst[:, :, 1])
        y = out
        m *= 2
        stage += 1
    return y.reshape((n,) + rest)


def hadamard_matrix(h: int) -> np.ndarray:
    """The Sylvester Hadamard matrix of order h (int64), for tests and small tables."""
    return fwht(np.eye(h, dtype=np.int64), h)


def _signed(x: np.ndarray, sign_seed: int) -> np.ndarray:
    s = hadamard_signs(sign_seed, x.shape[0])
    return x * s.reshape((-1,) + (1,) * (x.ndim - 1))


def rotate(x: np.ndarray, h: int, sign_seed: int) -> np.ndarray:
    """Orthonormal rotation ``H diag(s) x / sqrt(h)`` along axis 0 (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return fwht(_signed(x, sign_seed), h) * (1.0 / np.sqrt(h))


def unrotate(y: np.ndarray, h: int, sign_seed: int) -> np.ndarray:
    """Inverse of :func:`rotate`: ``diag(s) H y / sqrt(h)``."""
    y = np.asarray(y, dtype=np.float64)
    return _signed(fwht(y, h) * (1.0 / np.sqrt(h)), sign_seed)


def rotate_int(x: np.ndarray, h: int, sign_seed: int) -> np.ndarray:
    """Integer rotation of the datapath: ``H diag(s) x`` (unnormalised, exact int64)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise HwqError(f"rotate_int needs integer input (quantize activations first), got dtype {x.dtype}")
    return fwht(_signed(x.astype(np.int64), sign_seed), h)
