"""Nested-lattice (Voronoi code) quantization of d-dimensional blocks with the overload ladder.

For a block x, scale beta and dither z (z = 0 without dither), SPEC section 2:

    lam = Q(x / beta + z);  k = k(lam);  overload iff c(k) != lam;  decode xhat = beta * (c(k) - z)

The ladder tries beta_t = ``betas[t]`` for t = 0, 1, ... and a block keeps the first t without overload
(T = t; ``select="first"``), or, with ``select="best"`` (the offline weight encoder under
``HwqConfig.ladder_select = "best"``), the t with the smallest squared error ||x - xhat_t||^2 among the
rungs without overload (lowest t on ties), which is never worse than the first one. If even the last rung
overloads, the block is counted as overloaded and clipped: it stores the
codeword nearest to x / beta_last + z among those the decoder can produce (inside the coarse cell),
instead of the wrapped codeword c(k), which can land on the far side of the cell. Only blocks that
overload the top rung change; the decoders are untouched.

Everything is vectorised over blocks; codes are codebook rows (int64), ladder indices uint8.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from hwq.errors import HwqError
from hwq.lattice import Lattice
from hwq.voronoi import MAX_CODEBOOK_ROWS, codebook, codeword_of, digits_to_row, index_of, row_to_digits

__all__ = ["BlockCodes", "OverloadWarning", "codewords_for_rows", "decode_blocks", "quantize_blocks"]

#: tabulate c(k) for fast encoding when the codebook has at most this many rows
_TABLE_ROWS = 1 << 16
#: clip overloaded blocks by exhaustive search up to this many codebook rows (memory and time per block)
_EXACT_CLIP_ROWS = 1 << 18


class OverloadWarning(UserWarning):
    """Blocks overloaded the top ladder rung and were clipped (:func:`hwq.matmul.encode_matrix` says how
    many); the CLI prints it on stderr."""


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
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= q ** lat.dim):
        bad = int(rows.min()) if int(rows.min()) < 0 else int(rows.max())
        raise HwqError(f"codebook row {bad} is out of range [0, {q ** lat.dim}) for {lat.name} q={q}")
    table = _table(lat, q)
    if table is not None:
        return table[rows].astype(np.int64)
    return codeword_of(lat, q, row_to_digits(rows, q, lat.dim))


def _in_codebook(lat: Lattice, q: int, lam: np.ndarray, table: np.ndarray | None) -> tuple[np.ndarray,
                                                                                           np.ndarray]:
    """(inside, rows): whether scaled lattice points are codewords (c(k(lam)) == lam), and their rows."""
    k = index_of(lat, q, lam)
    r = digits_to_row(k, q)
    c = table[r] if table is not None else codeword_of(lat, q, k)
    return np.all(c == lam, axis=1), r


@cache
def _short_vectors(name: str) -> np.ndarray:
    """Minimal vectors (scaled coordinates) among the {-1, 0, 1} combinations of the basis."""
    from hwq.lattice import get_lattice

    lat = get_lattice(name)
    g = lat.generator_int
    combos = np.array(list(itertools.product((-1, 0, 1), repeat=lat.dim)), dtype=np.int64)
    v = combos @ g.T
    nrm = np.sum(v * v, axis=1)
    nz = nrm > 0
    return np.unique(v[nz & (nrm == nrm[nz].min())], axis=0)


def _clip_rows(lat: Lattice, q: int, y: np.ndarray, table: np.ndarray | None) -> np.ndarray:
    """Codebook rows of the codeword nearest to each overloaded point ``y`` (unscaled, (M, d)).

    Codebooks up to ``_EXACT_CLIP_ROWS`` (2**18) rows are searched exhaustively: the exact nearest
    codeword, ties to the lowest row. Larger ones (D3 q >= 65, D4 q >= 23, E8 q >= 5): the largest radial
    shrink t*y (bisection, t in [0, 1]) whose closest lattice point is a codeword, then steepest descent over
    the lattice's minimal vectors while a neighbour is a codeword and nearer to y (nearest in practice; not
    proven for every point).
    """
    ys = y * lat.coord_scale
    if table is None and q ** lat.dim <= _EXACT_CLIP_ROWS:
        table = codebook(lat.name, q)
    if table is not None:
        out = np.empty(len(y), dtype=np.int64)
        tab = table.astype(np.float64)
        step = max(1, (1 << 20) // len(tab))
        for i in range(0, len(y), step):
            d2 = ((ys[i:i + step, None, :] - tab[None, :, :]) ** 2).sum(axis=2)
            out[i:i + step] = np.argmin(d2, axis=1)
        return out
    lo = np.zeros(len(y))
    hi = np.ones(len(y))
    for _ in range(40):
        mid = (lo + hi) / 2
        inside, _ = _in_codebook(lat, q, lat.closest(y * mid[:, None]), None)
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    lam = lat.closest(y * lo[:, None])
    inside, rows = _in_codebook(lat, q, lam, None)
    lam = np.where(inside[:, None], lam, 0)
    rows = np.where(inside, rows, 0)  # row 0 is the zero codeword: always inside
    best = ((ys - lam) ** 2).sum(axis=1)
    vecs = _short_vectors(lat.name)
    active = np.arange(len(y))
    for _ in range(4 * q * lat.dim):
        if active.size == 0:
            break
        moved = np.zeros(len(y), dtype=bool)
        for v in vecs:
            cand = lam[active] + v
            d2 = ((ys[active] - cand) ** 2).sum(axis=1)
            better = d2 < best[active]
            if not better.any():
                continue
            ins, r = _in_codebook(lat, q, cand[better], None)
            idx = active[better][ins]
            lam[idx] = cand[better][ins]
            rows[idx] = r[ins]
            best[idx] = d2[better][ins]
            moved[idx] = True
        active = np.nonzero(moved)[0]
    return rows


def quantize_blocks(lat: Lattice, q: int, x: np.ndarray, betas: tuple[float, ...] | list[float],
                    dither: np.ndarray | None = None, select: str = "first") -> BlockCodes:
    """Nested-lattice encode of blocks with the overload ladder.

    Parameters
    ----------
    lat : Lattice
    q : int
    x : ndarray of float64, shape (N, d)
    betas : sequence of float
        Ladder rungs beta_0 < beta_1 < ...
    dither : ndarray of float64, shape (N, d), optional
    select : {"first", "best"}
        Rung choice (module docstring). Blocks that overload every rung are clipped at the top rung
        either way, so ``overload`` does not depend on it.

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
    if select == "best":
        return _quantize_best(lat, q, x, betas, dither)
    if select != "first":
        raise HwqError(f"select must be 'first' or 'best', got {select!r}")
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
        if t == last and not ok.all():
            bad = ~ok
            overload[pending[bad]] = True
            r[bad] = _clip_rows(lat, q, xs[bad], table)
            ok[:] = True
        done = pending[ok]
        rows[done] = r[ok]
        ladder[done] = t
        pending = pending[~ok]
    return BlockCodes(rows=rows, ladder=ladder, overload=overload)


def _quantize_best(lat: Lattice, q: int, x: np.ndarray, betas: tuple[float, ...] | list[float],
                   dither: np.ndarray | None) -> BlockCodes:
    """``select="best"`` of :func:`quantize_blocks`: every rung for every block; the squared error is that
    of :func:`decode_blocks`' reconstruction, computed with the same operations."""
    n = x.shape[0]
    rows = np.zeros(n, dtype=np.int64)
    ladder = np.zeros(n, dtype=np.uint8)
    best = np.full(n, np.inf)
    table = _table(lat, q)
    for t, beta in enumerate(betas):
        xs = x * (1.0 / beta)
        if dither is not None:
            xs += dither
        lam = lat.closest(xs)
        r = digits_to_row(index_of(lat, q, lam), q)
        c = table[r] if table is not None else codeword_of(lat, q, index_of(lat, q, lam))
        ok = np.all(c == lam, axis=1)
        xh = lam.astype(np.float64) / lat.coord_scale
        if dither is not None:
            xh = xh - dither
        err = np.sum((x - xh * beta) ** 2, axis=1)
        better = ok & (err < best)
        rows[better], ladder[better], best[better] = r[better], t, err[better]
    overload = ~np.isfinite(best)
    if overload.any():  # no rung fits: clip at the top rung, as select="first" does
        last = len(betas) - 1
        xs = x[overload] * (1.0 / betas[last])
        if dither is not None:
            xs += dither[overload]
        rows[overload] = _clip_rows(lat, q, xs, table)
        ladder[overload] = last
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
