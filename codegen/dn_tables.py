"""Byte-shuffle tables of the D_n arithmetic decode on AVX2 (``codegen/include/hwq_avx2_dn.h``).

For D_n (D3, D4) with 1-byte codes the codeword of code ``r`` is ``c(k) = G k - q Q(G k / q)`` with
``k`` the base-``q`` digits of ``r`` (first digit slowest) and ``G k = (2 k_0 + k_1 + ... , k_1, ...)``.
Everything the AVX2 loop computes per code byte is a 16-entry ``vpshufb`` lookup or a byte add/compare:

* digits, 1-byte codes: ``r = 16 a + b``; the base-``q`` digits of ``16 a`` and of ``b`` are added digit by
  digit with carries (``nib_a[i][a] + nib_b[i][b]``; every sum below ``2 q``, so one conditional subtract per
  digit); 2-byte codes (up to 12 bits): in int16 lanes, ``k_i = (rest * mag[i]) >> (16 + shift[i])`` (a
  ``vpmulhuw`` and a shift: the quotient by ``q^(d-1-i)``, exact for every code, checked) and
  ``rest -= k_i q^(d-1-i)``, then packed to bytes;
* per coordinate ``h_i = g_i mod 2 q`` (``h_i = k_i`` for ``i >= 1``; ``h_0`` takes up to
  ``h0_reductions`` conditional subtracts of ``2 q``) selects, in 16-entry tables:
  ``e`` = g - q rnd(g / q) (rnd half up), the parity of rnd(g / q) (0 / 0xFF) and the coordinate after
  the D_n fix ``alt`` = e - q if e >= 0 else e + q (f_i moves one step toward x_i);
* if the rounded point has odd sum, the coordinate of largest |e| (lowest index on ties) takes ``alt``.

:func:`dn_tables` builds the tables and checks the whole recipe, byte for byte as the C code does it,
against :func:`hwq.voronoi.codebook` on every code; it returns ``None`` where the recipe does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.voronoi import codebook

__all__ = ["DnTables", "dn_tables", "decode_like_c"]


@dataclass(frozen=True)
class DnTables:
    """The tables of one D_n config (each a 16-entry byte row, as ``vpshufb`` reads it)."""

    nib_a: tuple[tuple[int, ...], ...]  # [digit][a]: digit i of 16 a in base q (digit 0 unreduced)
    nib_b: tuple[tuple[int, ...], ...]  # [digit][b]: digit i of b
    err: tuple[int, ...]  # [h]: e = h - q rnd(h / q), as a signed byte
    odd: tuple[int, ...]  # [h]: 0xFF if rnd(h / q) is odd, else 0
    alt: tuple[int, ...]  # [h]: e - q if e >= 0 else e + q
    h0_reductions: int  # conditional subtracts of 2 q that bring h_0 below 2 q
    mag: tuple[int, ...] = ()  # 2-byte codes: [i] the multiplier of the quotient by q^(d-1-i), i < d - 1
    shift: tuple[int, ...] = ()  # 2-byte codes: [i] its extra right shift

    def rows(self) -> list[tuple[int, ...]]:
        """All rows in the order the C header indexes them: nib_a[0..d), nib_b[0..d), err, odd, alt."""
        return [*self.nib_a, *self.nib_b, self.err, self.odd, self.alt]


def _rnd(num: int, q: int) -> int:
    """floor(num / q + 1/2) (the SPEC's round half up)."""
    return (2 * num + q) // (2 * q)


def _digits(v: int, q: int, d: int) -> list[int]:
    """Base-q digits of v, first slowest; the first digit takes what is left (it may reach q or more)."""
    out = []
    for _ in range(d - 1):
        out.append(v % q)
        v //= q
    out.append(v)
    return out[::-1]


def _s8(v: int) -> int:
    return ((v + 128) & 0xFF) - 128


def _digits_like_c(t: DnTables, d: int, q: int, r: np.ndarray) -> list[np.ndarray]:
    """The base-q digits of ``r`` as the C loop computes them (nibble tables, or int16 quotients)."""
    k: list[np.ndarray] = [np.zeros_like(r)] * d
    if t.mag:
        rest = r.copy()
        for i in range(d - 1):
            k[i] = ((rest * t.mag[i]) >> 16) >> t.shift[i]  # vpmulhuw, then vpsrlw
            if int(k[i].max()) > 255 or int(rest.max()) > 0xFFFF:
                raise AssertionError("a digit or rest left its lane")
            rest = rest - k[i] * q ** (d - 1 - i)
        k[d - 1] = rest
        return k
    a, b = r >> 4, r & 15
    na, nb = np.array(t.nib_a), np.array(t.nib_b)
    carry = np.zeros_like(r)
    for i in range(d - 1, -1, -1):
        s = na[i][a] + nb[i][b] + carry
        if i > 0:
            carry = (s > q - 1).astype(np.int64)
            s = s - q * carry
        k[i] = s
    return k


def decode_like_c(t: DnTables, d: int, q: int, codes: np.ndarray) -> np.ndarray:
    """The recipe of the C loop on ``codes`` (all below q^d), with int8 wrap-around like the SIMD lanes:
    the codewords (len(codes) x d)."""
    r = codes.astype(np.int64)
    k = _digits_like_c(t, d, q, r)
    h = [None] * d
    h0 = 2 * k[0] + sum(k[1:])
    for _ in range(t.h0_reductions):  # min over unsigned bytes of h0 and h0 - 2q
        h0 = np.minimum(h0, (h0 - 2 * q) & 0xFF)
    h[0] = h0
    h[1:] = k[1:]
    if any(int(v.max()) > 15 or int(v.min()) < 0 for v in h):
        raise AssertionError("a shuffle index left 0..15")
    err, odd, alt = (np.array([_s8(v) for v in x]) for x in (t.err, t.odd, t.alt))
    e = [err[hi] for hi in h]
    par = np.zeros_like(r)
    for hi in h:
        par ^= (odd[hi] != 0).astype(np.int64)
    ae = [np.abs(x) for x in e]
    mx = np.maximum.reduce(ae)
    free = par == 1  # the first coordinate of largest |e| (the last: whatever is left) takes alt
    out = np.zeros((len(r), d), dtype=np.int64)
    for i in range(d):
        sel = free & (ae[i] == mx) if i < d - 1 else free
        free = free & ~sel
        out[:, i] = np.where(sel, alt[h[i]], e[i])
    return out


def _quotient(divisor: int, nmax: int) -> tuple[int, int] | None:
    """(mag, shift) with (r * mag) >> (16 + shift) = r // divisor for every r < nmax, mag < 2^16."""
    r = np.arange(nmax, dtype=np.int64)
    for shift in range(16):
        mag = -(-(1 << (16 + shift)) // divisor)
        if mag >= 1 << 16:
            return None
        if np.array_equal((r * mag) >> (16 + shift), r // divisor):
            return mag, shift
    return None


def dn_tables(lattice: str, q: int, dim: int, code_bits: int) -> DnTables | None:
    """The tables of D_n with nesting ratio ``q`` (None unless the lattice is D_n, codes take 1 byte, or 2
    bytes below 2^12, and every shuffle index stays in 0..15); checked on every code against the
    codebook."""
    if lattice not in ("D3", "D4") or code_bits > 12 or 2 * q > 16:
        return None
    d = dim
    nc = q ** d
    mag: tuple[int, ...] = ()
    shift: tuple[int, ...] = ()
    if code_bits <= 8:
        nib_a = tuple(tuple(_digits(16 * a, q, d)[i] for a in range(16)) for i in range(d))
        nib_b = tuple(tuple(_digits(b, q, d)[i] for b in range(16)) for i in range(d))
        if max(max(row) for row in nib_a) > 127:
            return None
    else:
        nib_a = nib_b = tuple(tuple([0] * 16) for _ in range(d))
        qs = [_quotient(q ** (d - 1 - i), nc) for i in range(d - 1)]
        if any(x is None for x in qs):
            return None
        mag = tuple(x[0] for x in qs)  # type: ignore[index]
        shift = tuple(x[1] for x in qs)  # type: ignore[index]
    err = tuple((h - q * _rnd(h, q)) & 0xFF if h < 2 * q else 0 for h in range(16))
    odd = tuple(0xFF if h < 2 * q and _rnd(h, q) % 2 else 0 for h in range(16))
    alt = tuple(((e - q if e >= 0 else e + q) & 0xFF) if h < 2 * q else 0
                for h, e in ((h, h - q * _rnd(h, q)) for h in range(16)))
    h0_max = 2 * (q - 1) + (d - 1) * (q - 1)
    red = 0
    while h0_max - 2 * q * red > 2 * q - 1:
        red += 1
    t = DnTables(nib_a=nib_a, nib_b=nib_b, err=err, odd=odd, alt=alt, h0_reductions=red, mag=mag, shift=shift)
    got = decode_like_c(t, d, q, np.arange(nc, dtype=np.int64))
    want = np.asarray(codebook(lattice, q), dtype=np.int64)
    if got.shape != want.shape or not np.array_equal(got, want):
        raise AssertionError(f"D_n byte decode disagrees with the codebook of {lattice} q={q}")
    return t
