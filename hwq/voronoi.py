"""Voronoi codes Lambda / q Lambda: index, codeword, codebook order and the pairwise inner-product LUT.

Conventions (SPEC section 2), with ``G`` the generator and ``Q`` the closest point of :mod:`hwq.lattice`:

* index ``k(lam) = (G^-1 lam) mod q`` in ``Z_q^d``;
* codeword ``c(k) = G k - q Q(G k / q)`` (the coset leader in ``q Vor(Lambda)``), computed exactly;
* codebook row ``r`` <-> ``k = (r // q^(d-1), ..., r mod q)`` (first digit slowest).

All point arrays are integer "scaled coordinates" (``coord_scale`` times the coordinates; 2 for E8).
The tables (:func:`codebook`, :func:`pair_lut`) are computed once per (lattice, q) and cached; the RTL
ROMs and the C/CUDA tables are rendered from these same functions.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from hwq.errors import HwqError
from hwq.lattice import Lattice, get_lattice

__all__ = [
    "index_of", "codeword_of", "digits_to_row", "row_to_digits", "codebook", "pair_lut",
    "num_codewords", "MAX_CODEBOOK_ROWS", "MAX_LUT_ROWS",
]

#: Largest codebook that :func:`codebook` will tabulate (rows); beyond it decode arithmetically.
MAX_CODEBOOK_ROWS = 1 << 22
#: Largest codebook whose pairwise LUT :func:`pair_lut` will build (rows).
MAX_LUT_ROWS = 4096


def _check_q(q: int) -> int:
    if not isinstance(q, (int, np.integer)) or isinstance(q, bool) or q < 2:
        raise HwqError(f"q must be an integer >= 2 (the nesting ratio), got {q!r}")
    return int(q)


def _table_rows(lattice: str, q: int, limit: int, refusal: str) -> tuple[Lattice, int, int]:
    """(lattice, q, q**d) of a table with one row per codeword, refused above ``limit`` rows with
    ``refusal`` (formatted with lattice, q, rows and limit)."""
    lat = get_lattice(lattice)
    q = _check_q(q)
    rows = q ** lat.dim
    if rows > limit:
        raise HwqError(refusal.format(lattice=lattice, q=q, rows=rows, limit=limit))
    return lat, q, rows


def num_codewords(lattice: str, q: int) -> int:
    """Number of codewords q**d of the Voronoi code."""
    return _check_q(q) ** get_lattice(lattice).dim


def _small_matmul(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``p @ m.T`` for int64 p (..., d) and a small constant int matrix m (d, d), column by column
    (skipping zero entries: generators are sparse); much faster than numpy's integer matmul."""
    shape = p.shape
    p2 = p.reshape(-1, shape[-1])
    out = np.zeros((p2.shape[0], m.shape[0]), dtype=np.int64)
    for j in range(m.shape[0]):
        col = out[:, j]
        for i in range(m.shape[1]):
            c = int(m[j, i])
            if c == 1:
                col += p2[:, i]
            elif c == -1:
                col -= p2[:, i]
            elif c:
                col += c * p2[:, i]
    return out.reshape(shape[:-1] + (m.shape[0],))


def index_of(lat: Lattice, q: int, points: np.ndarray) -> np.ndarray:
    """Voronoi index ``k = (G^-1 lam) mod q`` of lattice points given in scaled coordinates.

    Parameters
    ----------
    lat : Lattice
    q : int
    points : ndarray of int, shape (..., d)
        Scaled lattice points (``coord_scale * lam``); must be lattice points.

    Returns
    -------
    ndarray of int64, shape (..., d), entries in [0, q).
    """
    q = _check_q(q)
    m, den = lat.inverse_int
    v = _small_matmul(points.astype(np.int64), m)  # = den * G^-1 lam
    v = np.mod(v, q * den)
    if den != 1:
        if np.any(v % den):
            raise HwqError("points passed to index_of are not lattice points")
        v //= den
    return v


def codeword_of(lat: Lattice, q: int, k: np.ndarray) -> np.ndarray:
    """Coset leader ``c(k) = G k - q Q(G k / q)`` in scaled coordinates (exact integer arithmetic).

    Parameters
    ----------
    lat : Lattice
    q : int
    k : ndarray of int, shape (..., d), entries in [0, q)

    Returns
    -------
    ndarray of int64, shape (..., d)
    """
    q = _check_q(q)
    gk = _small_matmul(k.astype(np.int64), lat.generator_int)  # coord_scale * G k
    # G k / q in real coordinates is gk / (q * coord_scale)
    coarse = lat.closest_rational(gk, q * lat.coord_scale)  # coord_scale * Q(G k / q)
    return gk - q * coarse


def digits_to_row(k: np.ndarray, q: int) -> np.ndarray:
    """Codebook row ``r = sum_j k_j q^(d-1-j)`` (first digit slowest), as int64."""
    k = k.astype(np.int64)
    r = np.zeros(k.shape[:-1], dtype=np.int64)
    for j in range(k.shape[-1]):
        r = r * q + k[..., j]
    return r


def row_to_digits(r: np.ndarray, q: int, d: int) -> np.ndarray:
    """Inverse of :func:`digits_to_row`: rows (...) -> digits (..., d)."""
    r = np.asarray(r).astype(np.int64)
    out = np.empty(r.shape + (d,), dtype=np.int64)
    for j in range(d - 1, -1, -1):
        out[..., j] = r % q
        r = r // q
    return out


@cache
def codebook(lattice: str, q: int) -> np.ndarray:
    """Codebook table: row r -> codeword of index digits(r), scaled integer coordinates.

    Parameters
    ----------
    lattice : str
        Registry name ("Z", "D3", "D4", "E8").
    q : int
        Nesting ratio (>= 2).

    Returns
    -------
    ndarray of int16, shape (q**d, d), read-only
        ``coord_scale * c(k(r))``. E8 half-integers are stored doubled.

    Raises
    ------
    HwqError
        Unknown lattice, invalid q, or more than :data:`MAX_CODEBOOK_ROWS` rows (use
        :func:`codeword_of`, the arithmetic decoder, instead).

    Examples
    --------
    >>> codebook("Z", 4).ravel().tolist()
    [0, 1, -2, -1]
    """
    lat, q, rows = _table_rows(lattice, q, MAX_CODEBOOK_ROWS,
                               "codebook of {lattice} with q={q} has {rows} rows, above the table limit "
                               "{limit}; use the arithmetic decoder (hwq.voronoi.codeword_of)")
    k = row_to_digits(np.arange(rows, dtype=np.int64), q, lat.dim)
    table = codeword_of(lat, q, k).astype(np.int16)
    table.setflags(write=False)
    return table


@cache
def pair_lut(lattice: str, q: int) -> np.ndarray:
    """Pairwise inner-product table ``LUT[r, s] = <c_r, c_s>`` in real (unscaled) coordinates.

    The inner products of points of Z^n, D_n and E8 are integers, so the table is exact.

    Returns
    -------
    ndarray of int32, shape (q**d, q**d), read-only

    Raises
    ------
    HwqError
        If q**d exceeds :data:`MAX_LUT_ROWS` (the table would not fit any on-chip memory).
    """
    lat, q, rows = _table_rows(lattice, q, MAX_LUT_ROWS,
                               "pairwise LUT of {lattice} with q={q} would be {rows}x{rows}; the limit is "
                               "{limit} rows (use a smaller q, a two-layer code, or the weight-only "
                               "datapath)")
    c = codebook(lattice, q).astype(np.int64)
    g = c @ c.T
    s2 = lat.coord_scale ** 2
    if np.any(g % s2):
        raise AssertionError("inner products of lattice points must be integers")
    lut = (g // s2).astype(np.int32)
    lut.setflags(write=False)
    return lut
