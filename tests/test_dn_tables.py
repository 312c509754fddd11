"""The byte-shuffle recipe of the AVX2 D_n decode (hwq.codegen.dn_tables, used by
codegen/include/hwq_avx2_dn.h): exact on every code of every D_n config with 1-byte codes and with 2-byte
codes up to 12 bits and q <= 8, absent where it does not apply, and each of its rules needed (a changed table,
step or quotient disagrees with the codebook)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwq.codegen.dn_tables import decode_like_c, dn_tables
from hwq.config import HwqConfig
from hwq.voronoi import codebook

BYTE_CONFIGS = [("D3", q) for q in range(2, 9)] + [("D4", q) for q in range(2, 9)]


def _dim(lattice: str) -> int:
    return int(lattice[1])


@pytest.mark.parametrize(("lattice", "q"), BYTE_CONFIGS)
def test_every_code_decodes_to_its_codeword(lattice, q):
    d = _dim(lattice)
    bits = HwqConfig(lattice=lattice, q=q).code_bits
    t = dn_tables(lattice, q, d, bits)
    assert t is not None
    assert bool(t.mag) == (bits > 8)  # 2-byte codes: int16 quotients instead of nibble tables
    got = decode_like_c(t, d, q, np.arange(q**d, dtype=np.int64))
    assert np.array_equal(got, np.asarray(codebook(lattice, q), dtype=np.int64))
    assert all(len(row) == 16 and all(0 <= v < 256 for v in row) for row in t.rows())
    assert len(t.rows()) == 2 * d + 3


@pytest.mark.parametrize(("lattice", "q", "dim", "bits"),
                         [("E8", 7, 8, 23), ("Z", 8, 1, 3), ("D3", 9, 3, 10), ("D3", 11, 3, 11),
                          ("D4", 9, 4, 13)])
def test_no_tables_where_the_recipe_does_not_apply(lattice, q, dim, bits):
    assert dn_tables(lattice, q, dim, bits) is None


def _mutants(t, q):
    """Tables with one rule changed: the fix's direction at e = 0 (the SPEC moves toward x: +1 step of f,
    so e - q), one parity entry, the h_0 reduction, one digit of a nibble table."""
    e0 = [h for h in range(2 * q) if t.err[h] == 0]
    alt = list(t.alt)
    for h in e0:
        alt[h] = q  # e + q instead of e - q
    yield "direction at a tie", dataclasses.replace(t, alt=tuple(alt))
    odd = list(t.odd)
    odd[1] ^= 0xFF
    yield "parity", dataclasses.replace(t, odd=tuple(odd))
    yield "h0 reduction", dataclasses.replace(t, h0_reductions=0)
    if t.mag:  # 2-byte codes: a quotient one off
        yield "quotient", dataclasses.replace(t, mag=(t.mag[0] - 1, *t.mag[1:]))
    else:
        nb = [list(r) for r in t.nib_b]
        nb[-1][5] = (nb[-1][5] + 1) % q
        yield "digit", dataclasses.replace(t, nib_b=tuple(tuple(r) for r in nb))


# even q: with q odd no block has all |e_i| = 0 and an odd sum (g = q f would have an odd sum), so the
# direction at e = 0 never matters there
@pytest.mark.parametrize(("lattice", "q"), [("D3", 6), ("D3", 4), ("D4", 4), ("D3", 8), ("D4", 6)])
def test_each_rule_is_needed(lattice, q):
    d = _dim(lattice)
    t = dn_tables(lattice, q, d, HwqConfig(lattice=lattice, q=q).code_bits)
    want = np.asarray(codebook(lattice, q), dtype=np.int64)
    codes = np.arange(q**d, dtype=np.int64)
    for what, bad in _mutants(t, q):
        try:
            got = decode_like_c(bad, d, q, codes)
        except AssertionError:  # a shuffle index left 0..15
            continue
        assert not np.array_equal(got, want), what
