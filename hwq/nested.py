"""Nested-lattice (Voronoi code) quantization of d-dimensional blocks with the overload ladder.

For a block x, scale beta and dither z (z = 0 without dither), SPEC section 2:

    lam = Q(x / beta + z);  k = k(lam);  overload iff c(k) != lam;  decode xhat = beta * (c(k) - z)

The ladder tries beta_t = ``betas[t]`` for t = 0, 1, ... and a block keeps the first t without overload
(T = t). If even the last rung overloads, the block keeps the last rung's code and is counted as
overloaded (its decode is the wrapped codeword): the capped, fixed-width format accepts that rare loss.

Everything is vectorised over blocks; codes are codebook rows (int64), ladder indices uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.errors import HwqError
from hwq.lattice import Lattice
from hwq.voronoi import MAX_CODEBOOK_ROWS, codebook, codeword_of, digits_to_row, index_of, row_to_digits

__all__ = ["BlockCodes", "quantize_blocks", "decode_blocks", "codewords_for_rows"]

#: tabulate c(k) for fast encoding when the codebook has at most this many rows
_TABLE_ROWS = 1 << 16


@dataclass(frozen=True)
class BlockCodes:
    """Result of :func:`quantize_blocks`.

    Attributes
    ----------
    rows : ndarray of int64, shape (N,)
        Codebook rows (the packed code).
    ladder : ndarray of uint8, shape (N,)
        Ladder index T per block.
    overload : ndarray of bool, shape (N,)
        True where even the last rung overloaded.
    """

    rows: np.ndarray
    ladder: np.ndarray
    overload: np.ndarray


def _table(lat: Lattice, q: int) -> np.ndarray | None:
    rows = q ** lat.dim
    if rows <= min(_TABLE_ROWS, MAX_CODEBOOK_ROWS):
        return codebook(lat.name, q)
    return None


def codewords_for_rows(lat: Lattice, q: int, rows: np.ndarray) -> np.ndarray:
    """Scaled codewords (int64, (N, d)) of codebook rows: table lookup when small, else arithmetic."""
    rows = np.asarray(rows, dtype=np.int64)
    table = _table(lat, q)
    if table is not None:
        return table[rows].astype(np.int64)
    return codeword_of(lat, q, row_to_digits(rows, q, lat.dim))


def quantize_blocks(lat: Lattice, q: int, x: np.ndarray, betas: tuple[float, ...] | list[float],
                    dither: np.ndarray | None = None) -> BlockCodes:
    """Nested-lattice encode of blocks with the overload ladder.

    Parameters
    ----------
    lat : Lattice
    q : int
    x : ndarray of float64, shape (N, d)
    betas : sequence of float
        Ladder rungs beta_0 < beta_1 < ...
    dither : ndarray of float64, shape (N, d), optional

    Returns
    -------
    BlockCodes
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != lat.dim:
        raise HwqError(f"blocks must have shape (N, {lat.dim}) for {lat.name}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise HwqError("input contains NaN or Inf; remove or replace them before quantizing")
    if dither is not None and dither.shape != x.shape:
        raise HwqError(f"dither shape {dither.shape} does not match blocks {x.shape}")
    if len(betas) < 1:
        raise HwqError("the ladder needs at least one rung")
    n = x.shape[0]
    rows = np.zeros(n, dtype=np.int64)
    ladder = np.zeros(n, dtype=np.uint8)
    overload = np.zeros(n, dtype=bool)
    table = _table(lat, q)
    pending = np.arange(n)
    last = len(betas) - 1
    for t, beta in enumerate(betas):
        if pending.size == 0:
            break
        full = pending.size == n
        xs = (x if full else x[pending]) * (1.0 / beta)
        if dither is not None:
            xs += dither if full else dither[pending]
        lam = lat.closest(xs)
        k = index_of(lat, q, lam)
        r = digits_to_row(k, q)
        c = table[r] if table is not None else codeword_of(lat, q, k)
        ok = c[:, 0] == lam[:, 0]
        for j in range(1, lat.dim):
            ok &= c[:, j] == lam[:, j]
        if t == last:
            overload[pending[~ok]] = True
            ok[:] = True
        done = pending[ok]
        rows[done] = r[ok]
        ladder[done] = t
        pending = pending[~ok]
    return BlockCodes(rows=rows, ladder=ladder, overload=overload)


def decode_blocks(lat: Lattice, q: int, rows: np.ndarray, ladder: np.ndarray,
                  betas: tuple[float, ...] | list[float], dither: np.ndarray | None = None) -> np.ndarray:
    """Decode ``xhat = beta_T * (c(rows) - z)`` (float64, (N, d))."""
    c = codewords_for_rows(lat, q, rows).astype(np.float64) / lat.coord_scale
    ladder = np.asarray(ladder)
    if ladder.size and int(ladder.max()) >= len(betas):
        raise HwqError(f"ladder index {int(ladder.max())} out of range for a {len(betas)}-rung ladder")
    beta = np.asarray(betas, dtype=np.float64)[ladder]
    if dither is not None:
        c = c - dither
    return c * beta[:, None]
