"""Counter-based integer PRNG shared bit for bit by the reference model, C, CUDA and RTL.

``hash32(seed, *words)`` is a chain of murmur3 ``fmix32`` finalisers over 32-bit words::

    h = fmix32(seed ^ 0x9E3779B9)
    for w in words:
        h = fmix32(h ^ (w * 0x9E3779B1 mod 2**32))

    fmix32(h): h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16   (mod 2**32)

Streams (first word after the seed):

* :data:`STREAM_DITHER` (1): ``u_j = hash32(dither_seed, 1, matrix, column, block, j) / 2**32`` is the
  j-th uniform coordinate of the dither of one block; the dither is ``z = G u - Q(G u)`` (uniform on the
  Voronoi cell, SPEC section 2).
* :data:`STREAM_SIGN` (2): the Hadamard sign of row i is ``+1`` if ``hash32(sign_seed, 2, i) >> 31 == 0``
  else ``-1``.

Every operation is on unsigned 32-bit integers with wrap-around, so a C ``uint32_t``, a CUDA
``unsigned int`` and an RTL 32-bit multiplier reproduce it exactly.
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.lattice import Lattice

__all__ = ["fmix32", "hash32", "uniform01", "hadamard_signs", "dither_for", "STREAM_DITHER", "STREAM_SIGN"]

STREAM_DITHER = 1
STREAM_SIGN = 2
_SEED_XOR = 0x9E3779B9
_WORD_MUL = 0x9E3779B1


def fmix32(h: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser, elementwise on uint32 arrays."""
    h = np.asarray(h, dtype=np.uint32)
    with np.errstate(over="ignore"):  # wrap-around mod 2**32 is the definition
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        h = h ^ (h >> np.uint32(16))
    return h


def _u32(v, name: str) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "iu":
        raise HwqError(f"PRNG word {name} must be integer, got dtype {a.dtype}")
    if a.size and (np.min(a) < 0 or np.max(a) >= 2**32):
        raise HwqError(f"PRNG word {name} must be in [0, 2**32)")
    return a.astype(np.uint32)


def hash32(seed, *words) -> np.ndarray:
    """Counter-based 32-bit hash; all arguments broadcast (integers or integer arrays).

    Examples
    --------
    >>> int(hash32(0, 1, 2))  # doctest: +SKIP
    """
    h = fmix32(_u32(seed, "seed") ^ np.uint32(_SEED_XOR))
    for i, w in enumerate(words):
        with np.errstate(over="ignore"):
            hw = _u32(w, f"#{i}") * np.uint32(_WORD_MUL)
        h = fmix32(h ^ hw)
    return h


def uniform01(seed, *words) -> np.ndarray:
    """``hash32(seed, *words) / 2**32`` as float64 in [0, 1)."""
    return hash32(seed, *words).astype(np.float64) * (1.0 / 4294967296.0)


def hadamard_signs(sign_seed: int, n: int) -> np.ndarray:
    """Rotation signs (+1/-1, int8) for rows 0..n-1."""
    h = hash32(sign_seed, STREAM_SIGN, np.arange(n, dtype=np.uint32))
    return (1 - 2 * (h >> np.uint32(31)).astype(np.int8)).astype(np.int8)


def dither_for(lat: Lattice, dither_seed: int, matrix: int, column: np.ndarray,
               block: np.ndarray) -> np.ndarray:
    """Dither vectors for blocks (column[i], block[i]) of one matrix, uniform on the Voronoi cell.

    Parameters
    ----------
    lat : Lattice
    dither_seed : int
    matrix : int
        Matrix id (0 for A, 1 for B, or a layer index).
    column, block : ndarray of int, shape (N,)

    Returns
    -------
    ndarray of float64, shape (N, d)
    """
    column = np.asarray(column)
    block = np.asarray(block)
    j = np.arange(lat.dim, dtype=np.uint32)
    u = uniform01(dither_seed, STREAM_DITHER, matrix, column[:, None], block[:, None], j[None, :])
    p = u @ lat.generator_float.T
    return p - lat.closest(p) / lat.coord_scale
