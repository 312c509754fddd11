"""Voronoi reduction ``c = y - q Q(y / q)`` for numerators of small range, from per-coordinate tables.

The arithmetic decoder reduces ``y = G k`` (scaled coordinates, digits ``0 <= k_j < q``) to its Voronoi
codeword.  ``y`` has a tiny range (E8 q=7: every coordinate lies in [-12, 30]), so everything the SPEC's
closest-point rules need from one coordinate is a constant table of ``y_i``, built from the reference
model's own rounding (:meth:`hwq.lattice.Lattice.closest_rational` of the integer lattice):

* coset A (every lattice): ``f = rnd(y / den)``, candidate coordinate ``a = y - den f`` and the parity
  bit of ``f`` (``den = q * coord_scale``);
* coset B (E8 only, the ``D8 + 1/2`` coset): ``f' = rnd((2y - den) / (2 den))``, ``b = y - den f' - q``
  and the parity bit of ``f'``.

The tables are addressed by the raw (two's complement) bits of ``y_i``, with no adder in front; the
magnitudes and squares are computed one stage later from the small candidates.

``a`` (``b``) is the codeword coordinate that the coset's unfixed point gives, so the rest needs no
division and only small numbers:

* D_n parity fix (SPEC section 2): when the coset's ``sum f`` is odd, the coordinate with the largest
  ``|a_i|`` (lowest index on ties; the reference's residual is ``a`` for coset A and ``2b`` for coset B,
  same order) is rounded the other way: ``a_i -= den`` if ``a_i >= 0`` else ``a_i += den``;
* E8 coset choice: ``|x - Y/2|^2`` is proportional to ``sum c_i^2``; after the fix that sum is
  ``S + parity (den^2 - 2 den max|a|)`` (``|a_i| <= den/2``); coset B wins only when strictly smaller
  (ties keep coset A, as the reference's ``diff < 0``).

Cost (E8 q=7, one lane): the tables are 6-input functions (one LUT6 per output bit), the tournaments
compare 3-bit magnitudes, and the sums of squares are 9-bit adds, instead of the general exact
closest point (:func:`hwq.rtl.closest.closest_rational`, reciprocal divisions of wide numerators), which
the activation encoder still uses.  Exactness over the whole input range is a property of the tables
(checked exhaustively in the tests against :func:`hwq.voronoi.codeword_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Value

from hwq.config import HwqConfig
from hwq.lattice import get_lattice

from .adders import pipe_tree_sum
from .pipe import Pipe

__all__ = ["CoordTable", "coord_tables", "gk_ranges", "voronoi_reduce", "reduce_model"]


def _rnd(num: np.ndarray, den: int) -> np.ndarray:
    """The reference's rounding rule (SPEC: rnd(x) = floor(x + 1/2)) of ``num / den``, via the Z lattice."""
    return get_lattice("Z").closest_rational(np.asarray(num, dtype=np.int64)[:, None], den)[:, 0]


@dataclass(frozen=True)
class CoordTable:
    """Constant table of one coordinate over ``y in [lo, hi]`` (see module docstring).

    Attributes
    ----------
    lo, hi : int
        Range of the coordinate's numerator.
    a, pa : ndarray
        Coset A candidate coordinate and the parity bit of its ``f``.
    b, pb : ndarray or None
        Coset B (E8) candidate coordinate and parity bit.
    """

    lo: int
    hi: int
    a: np.ndarray
    pa: np.ndarray
    b: np.ndarray | None
    pb: np.ndarray | None


def gk_ranges(cfg: HwqConfig) -> tuple[list[int], list[int]]:
    """Per-coordinate range [lo_i, hi_i] of ``G k`` (scaled generator, digits ``0 <= k_j < q``)."""
    g = cfg.lat.generator_int
    lo = [int(np.minimum(g[i], 0).sum()) * (cfg.q - 1) for i in range(cfg.dim)]
    hi = [int(np.maximum(g[i], 0).sum()) * (cfg.q - 1) for i in range(cfg.dim)]
    return lo, hi


def coord_tables(cfg: HwqConfig, lo: list[int], hi: list[int]) -> list[CoordTable]:
    """Per-coordinate tables of the reduction for numerators ``y_i in [lo_i, hi_i]`` (denominator
    ``q * coord_scale``)."""
    den = cfg.q * cfg.coord_scale
    out = []
    for lo_i, hi_i in zip(lo, hi):
        y = np.arange(lo_i, hi_i + 1, dtype=np.int64)
        f = _rnd(y, den)
        a, pa = y - den * f, f & 1
        b = pb = None
        if cfg.lattice == "E8":
            f1 = _rnd(2 * y - den, 2 * den)
            b, pb = y - den * f1 - cfg.q, f1 & 1
        out.append(CoordTable(lo_i, hi_i, a, pa, b, pb))
    return out


def reduce_model(cfg: HwqConfig, y: np.ndarray, lo: list[int], hi: list[int]) -> np.ndarray:
    """NumPy model of :func:`voronoi_reduce` (the same tables and steps), ``y`` of shape (N, d)."""
    den, d = cfg.q * cfg.coord_scale, cfg.dim
    tabs = coord_tables(cfg, lo, hi)
    y = np.asarray(y, dtype=np.int64)
    idx = [y[:, i] - tabs[i].lo for i in range(d)]

    def coset(vals, pars):
        c = np.stack([v[ix] for v, ix in zip(vals, idx)], axis=1)
        if cfg.lattice == "Z":
            return c, np.zeros(len(c), dtype=np.int64)
        par = np.bitwise_xor.reduce(np.stack([p[ix] for p, ix in zip(pars, idx)], axis=1), axis=1)
        mag = np.abs(c)
        best = np.argmax(mag, axis=1)  # lowest index on ties
        m = mag[np.arange(len(c)), best]
        rows = np.flatnonzero(par)
        c = c.copy()
        c[rows, best[rows]] -= np.where(c[rows, best[rows]] >= 0, den, -den)
        return c, np.sum(np.stack([v[ix] for v, ix in zip(vals, idx)], axis=1) ** 2, axis=1) + par * (
            den * den - 2 * den * m)

    ca, da = coset([t.a for t in tabs], [t.pa for t in tabs])
    if cfg.lattice != "E8":
        return ca
    cb, db = coset([t.b for t in tabs], [t.pb for t in tabs])
    return np.where((db < da)[:, None], cb, ca)


def _table(values: np.ndarray, idx: Value, width: int) -> Value:
    """Constant lookup ``values[idx]`` (two's complement fields of ``width`` bits; LUT logic)."""
    mask = (1 << width) - 1
    return Array([Const(int(v) & mask, width) for v in values])[idx]


def _index_bits(y: Value, lo: int, hi: int) -> tuple[Value, np.ndarray]:
    """The raw bits of ``y`` that address a table over [lo, hi] (no subtraction in front of the table:
    two's complement bits when lo < 0) and, per address, the value of y it stands for (-1 where unused)."""
    if lo >= 0:
        w = max(1, hi.bit_length())
        vals = np.arange(1 << w)
    else:
        w = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        vals = np.arange(1 << w)
        vals = np.where(vals >= 1 << (w - 1), vals - (1 << w), vals)
    return Value.cast(y)[:w], vals


def _spread(table: np.ndarray, lo: int, hi: int, vals: np.ndarray) -> np.ndarray:
    """``table`` (indexed by y - lo) laid out over the raw addresses of :func:`_index_bits`."""
    ok = (vals >= lo) & (vals <= hi)
    return np.where(ok, table[np.clip(vals - lo, 0, hi - lo)], 0)


def _of_signed(c: Value, width: int, fn, out_width: int) -> Value:
    """``fn(c)`` of a small signed value as a constant table over its bit patterns (a LUT per output bit:
    no carry chain for ``|c|``, no DSP block for ``c * c``)."""
    pats = np.arange(1 << width)
    return _table(fn(np.where(pats >= 1 << (width - 1), pats - (1 << width), pats)), c.as_unsigned()[:width],
                  out_width)


def _bits_signed(v: np.ndarray) -> int:
    return max(int(np.max(np.abs(v))).bit_length() + 1, 2)


def _tournament(pipe: Pipe, mags: list[Value], tag: str, carry: list[Value], need_max: bool
                ) -> tuple[list[Value], Value | None, list[Value], int]:
    """One-hot argmax (lowest index on ties) of small unsigned magnitudes; ``carry`` values travel
    alongside. Stage 1: every pairwise ``mag_i >= mag_j`` (i < j; one LUT6 each for 3-bit magnitudes);
    stage 2: ``onehot_i`` = the AND of its comparisons; stage 3 (``need_max``): the maximum, an AND-OR of
    the magnitudes. Shallow stages: a comparator tree's compare-then-select steps measured 123.5 MHz in the
    8-lane E8 MAC. Returns (onehot, max or None, carried, stages)."""
    n = len(mags)
    ge = {(i, j): pipe.reg(mags[i] >= mags[j], f"{tag}ge{i}_{j}_") for i in range(n) for j in range(i + 1, n)}
    mags = pipe.regs(mags, f"{tag}tm")
    carry = pipe.regs(carry, f"{tag}tc")
    terms = [[ge[i, j] for j in range(i + 1, n)] + [~ge[j, i] for j in range(i)] for i in range(n)]
    onehot = [pipe.reg(Cat(*t).all() if t else Const(1), f"{tag}oh{i}_") for i, t in enumerate(terms)]
    mags = pipe.regs(mags, f"{tag}tm")
    carry = pipe.regs(carry, f"{tag}tc")
    if not need_max:
        return onehot, None, carry, 2
    w = mags[0].shape().width
    mx = pipe.reg(Cat(*[Cat(*[oh & mg[b] for oh, mg in zip(onehot, mags)]).any() for b in range(w)]),
                  f"{tag}mx")
    onehot = pipe.regs(onehot, f"{tag}oh")
    carry = pipe.regs(carry, f"{tag}tc")
    return onehot, mx, carry, 3


def voronoi_reduce(m: Module, pipe: Pipe, y: list[Value], cfg: HwqConfig, lo: list[int], hi: list[int],
                   tag: str = "vr") -> tuple[list[Value], int]:
    """Pipelined ``c = y - q Q(y / q)`` (scaled coordinates, SPEC tie rules) for ``y_i in [lo_i, hi_i]``.

    Stages: table lookup (candidate and parity bit per coset, addressed by the raw bits of ``y_i``);
    magnitude, square and parity; tournament and sum of squares; (E8) fix-up correction, distance,
    coset compare, select; fix.

    Returns
    -------
    (c, stages) : signed codeword coordinates (``cfg.coord_bits`` wide) and the latency in stages.
    """
    den, d = cfg.q * cfg.coord_scale, cfg.dim
    tabs = coord_tables(cfg, lo, hi)
    e8 = cfg.lattice == "E8"
    cw = _bits_signed(np.concatenate([t.a for t in tabs] + ([t.b for t in tabs] if e8 else [])))
    cosets = [("a", "pa")] + ([("b", "pb")] if e8 else [])
    # stage 1: table lookups (a 6-input function per output bit for E8 q=7, no adder in front)
    looked: dict[str, dict] = {}
    for name, pname in cosets:
        vals, pars = [], []
        for i, t in enumerate(tabs):
            ix, yv = _index_bits(y[i], t.lo, t.hi)
            vals.append(pipe.reg(_table(_spread(getattr(t, name), t.lo, t.hi, yv), ix, cw).as_signed(),
                                 f"{tag}{name}{i}_"))
            if cfg.lattice != "Z":
                pars.append(pipe.reg(_table(_spread(getattr(t, pname), t.lo, t.hi, yv), ix, 1),
                                     f"{tag}p{name}{i}_"))
        looked[name] = dict(c=vals, pars=pars)
    if cfg.lattice == "Z":
        return [v[:cfg.coord_bits].as_signed() for v in looked["a"]["c"]], 1
    # stage 2: magnitudes (and squares) of the candidates, parity of the coset
    for name, _ in cosets:
        lk = looked[name]
        lk["mag"] = pipe.regs([_of_signed(c, cw, np.abs, cw - 1) for c in lk["c"]], f"{tag}m{name}")
        lk["sq"] = pipe.regs([_of_signed(c, cw, np.square, 2 * cw - 2) for c in lk["c"]],
                             f"{tag}s{name}") if e8 else []
        lk["par"] = pipe.reg(Cat(*lk["pars"]).xor(), f"{tag}p{name}")
        lk["c"] = pipe.regs(lk["c"], f"{tag}c{name}")
    st = 2
    # stages 3..: per coset, argmax of |c| (candidates and parity ride along) and sum of squares
    res = {}
    for name, _ in cosets:
        lk = looked[name]
        onehot, mx, carry, s_t = _tournament(pipe, lk["mag"], f"{tag}{name}", lk["c"] + [lk["par"]], e8)
        res[name] = dict(onehot=onehot, mx=mx, c=carry[:d], par=carry[d], st=s_t)
        if e8:
            tot, s_s = pipe_tree_sum(pipe, lk["sq"], name=f"{tag}ss{name}_")
            res[name]["sq"], res[name]["s_sq"] = tot, s_s
    s_t = res["a"]["st"]
    if not e8:
        a = res["a"]
        out = [_fixed(pipe, c, a["par"] & oh, den, f"{tag}o{i}_") for i,
               (c, oh) in enumerate(zip(a["c"], a["onehot"]))]
        return [v[:cfg.coord_bits].as_signed() for v in out], st + s_t + 1
    # E8: D = S + par (den^2 - 2 den max) per coset; take B iff D_B < D_A
    s_sq = res["a"]["s_sq"]
    assert s_sq == res["b"]["s_sq"] and res["a"]["st"] == res["b"]["st"]
    s_al = max(s_t, s_sq)
    for r in res.values():
        for key in ("mx", "par"):
            r[key] = pipe.delay(r[key], s_al - s_t, f"{tag}al{key}")
        r["onehot"] = [pipe.delay(v, s_al - s_t, f"{tag}aloh") for v in r["onehot"]]
        r["c"] = [pipe.delay(v, s_al - s_t, f"{tag}alc") for v in r["c"]]
        r["sq"] = pipe.delay(r["sq"], s_al - s_sq, f"{tag}als")
    # stage: the fix-up correction of each coset as a constant table of (par, max), and the fix flags
    mxw = cw - 1
    corr_vals = [0] * (1 << mxw) + [den * den - 2 * den * mm for mm in range(1 << mxw)]
    cwid = max(abs(v) for v in corr_vals).bit_length() + 1
    for r in res.values():
        r["corr"] = pipe.reg(_table(np.array(corr_vals), Cat(r["mx"], r["par"]), cwid).as_signed(),
                             f"{tag}cr")
        r["sq"] = pipe.reg(r["sq"], f"{tag}sq")
        r["c"] = pipe.regs(r["c"], f"{tag}c1")
        r["fix"] = pipe.regs([r["par"] & oh for oh in r["onehot"]], f"{tag}fx")
    # stage: distances; stage: registered compare (ties keep coset A)
    for r in res.values():
        r["dist"] = pipe.reg(r["sq"] + r["corr"], f"{tag}dd")
        r["c"] = pipe.regs(r["c"], f"{tag}c2")
        r["fix"] = pipe.regs(r["fix"], f"{tag}fx2")
    take_b = pipe.reg(res["b"]["dist"] < res["a"]["dist"], f"{tag}tb")
    for r in res.values():
        r["c"] = pipe.regs(r["c"], f"{tag}c3")
        r["fix"] = pipe.regs(r["fix"], f"{tag}fx3")
    # stage: select the coset's candidate and fix flag; stage: apply the fix
    base = pipe.regs([Mux(take_b, cb, ca) for ca, cb in zip(res["a"]["c"], res["b"]["c"])], f"{tag}bs")
    fix = pipe.regs([Mux(take_b, fb, fa) for fa, fb in zip(res["a"]["fix"], res["b"]["fix"])], f"{tag}bf")
    out = [_fixed(pipe, c, f, den, f"{tag}o{i}_") for i, (c, f) in enumerate(zip(base, fix))]
    return [v[:cfg.coord_bits].as_signed() for v in out], st + s_al + 5


def _fixed(pipe: Pipe, c: Value, fix: Value, den: int, name: str) -> Value:
    """Registered ``c`` rounded to the other side when ``fix``: ``c - den`` if ``c >= 0`` else ``c + den``
    (a constant table of ``(c, fix)``: one LUT6 per output bit for 5-bit ``c``, no carry chain)."""
    w = c.shape().width
    pats = np.arange(1 << w)
    v = np.where(pats >= 1 << (w - 1), pats - (1 << w), pats)
    moved = np.where(v >= 0, v - den, v + den)
    ow = max(_bits_signed(moved), w)
    return pipe.reg(_table(np.concatenate([v, moved]), Cat(c.as_unsigned(), fix), ow).as_signed(), name)
