"""Voronoi codes: codebook order, coset leaders, index/codeword inverse pair, pairwise LUT, table limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.lattice import get_lattice
from hwq.voronoi import (codebook, codeword_of, digits_to_row, index_of, num_codewords, pair_lut,
                         row_to_digits)

CODES = [("Z", 4), ("Z", 8), ("D3", 6), ("D3", 3), ("D4", 4), ("E8", 2), ("E8", 3)]


@pytest.mark.parametrize("name, q", CODES)
def test_codebook_rows_distinct_and_indexed_first_digit_slowest(name: str, q: int) -> None:
    lat = get_lattice(name)
    cb = codebook(name, q)
    assert cb.dtype == np.int16 and cb.shape == (q ** lat.dim, lat.dim) == (num_codewords(name, q), lat.dim)
    assert len({tuple(r) for r in cb.tolist()}) == q ** lat.dim
    k = index_of(lat, q, cb.astype(np.int64))
    r = np.arange(q ** lat.dim)
    # digits of row r, first digit slowest, computed independently of row_to_digits
    want = np.array([[(int(v) // q ** (lat.dim - 1 - j)) % q for j in range(lat.dim)] for v in r])
    np.testing.assert_array_equal(k, want)
    np.testing.assert_array_equal(digits_to_row(k, q), r)
    np.testing.assert_array_equal(row_to_digits(r, q, lat.dim), want)
    assert not cb.flags.writeable


@pytest.mark.parametrize("name, q", CODES)
def test_codewords_are_coset_leaders_in_q_vor(name: str, q: int) -> None:
    lat = get_lattice(name)
    cs = lat.coord_scale
    cb = codebook(name, q).astype(np.int64)
    # every codeword is a lattice point whose closest coarse point (of q Lambda) is 0
    np.testing.assert_array_equal(lat.closest_rational(cb, cs), cb)
    np.testing.assert_array_equal(lat.closest_rational(cb, q * cs), np.zeros_like(cb))
    # idempotent: the codeword of a codeword's index is the codeword
    np.testing.assert_array_equal(codeword_of(lat, q, index_of(lat, q, cb)), cb)
    # minimum norm in its coset: no c - q*v with v a small lattice vector is shorter
    g = lat.generator_int
    shifts = np.concatenate([g.T, -g.T, (g[:, :1] + g[:, 1:]).T if lat.dim > 1 else g.T])
    n0 = np.sum(cb * cb, axis=1)
    for v in shifts:
        other = cb - q * v
        assert np.all(np.sum(other * other, axis=1) >= n0)


@pytest.mark.parametrize("name, q", [("D3", 6), ("E8", 7), ("D4", 5), ("Z", 9)])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_index_of_codeword_of_roundtrip(name: str, q: int, data) -> None:
    lat = get_lattice(name)
    k = np.array(data.draw(st.lists(st.integers(0, q - 1), min_size=lat.dim, max_size=lat.dim)),
                 dtype=np.int64)
    c = codeword_of(lat, q, k[None])
    np.testing.assert_array_equal(index_of(lat, q, c)[0], k)
    np.testing.assert_array_equal(lat.closest_rational(c, q * lat.coord_scale), np.zeros_like(c))
    # a lattice point and its shift by a coarse point have the same index
    lam = lat.generator_int @ np.array(data.draw(st.lists(st.integers(-9, 9), min_size=lat.dim,
                                                          max_size=lat.dim)), dtype=np.int64)
    shift = q * (lat.generator_int @ np.array(data.draw(st.lists(st.integers(-3, 3), min_size=lat.dim,
                                                                 max_size=lat.dim)), dtype=np.int64))
    np.testing.assert_array_equal(index_of(lat, q, lam[None]), index_of(lat, q, (lam + shift)[None]))


def test_z_q4_codebook() -> None:
    assert codebook("Z", 4).ravel().tolist() == [0, 1, -2, -1]
    assert codebook("Z", 3).ravel().tolist() == [0, 1, -1]


def test_d3_q6_codebook_symmetric_and_bounded() -> None:
    cb = codebook("D3", 6).astype(np.int64)
    assert np.all(np.sum(cb, axis=1) % 2 == 0)
    assert np.max(np.abs(cb)) <= 6  # q * coord_max
    assert np.sum(cb * cb, axis=1).max() <= (6 * 1.0) ** 2  # q * covering radius


@pytest.mark.parametrize("name, q", [("Z", 8), ("D3", 6), ("D4", 4), ("E8", 2)])
def test_pair_lut_is_brute_force_inner_products(name: str, q: int) -> None:
    lat = get_lattice(name)
    lut = pair_lut(name, q)
    cb = codebook(name, q).tolist()
    s2 = lat.coord_scale ** 2
    assert lut.dtype == np.int32 and lut.shape == (len(cb), len(cb))
    rng = np.random.default_rng(0)
    for r, s in rng.integers(0, len(cb), (300, 2)):
        ip = sum(a * b for a, b in zip(cb[r], cb[s]))
        assert ip % s2 == 0
        assert int(lut[r, s]) == ip // s2
    np.testing.assert_array_equal(lut, lut.T)
    np.testing.assert_array_equal(np.diag(lut), [sum(a * a for a in row) // s2 for row in cb])


def test_table_size_and_q_errors() -> None:
    with pytest.raises(HwqError, match="arithmetic decoder"):
        codebook("E8", 7)  # 5.7M rows
    with pytest.raises(HwqError, match="4096"):
        pair_lut("D3", 17)  # 4913 rows
    with pytest.raises(HwqError, match="q must be an integer >= 2"):
        codebook("D3", 1)
    with pytest.raises(HwqError, match="q must be an integer >= 2"):
        codeword_of(get_lattice("D3"), 1, np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(HwqError, match="unknown lattice"):
        codebook("A2", 4)
    with pytest.raises(HwqError, match="not lattice points"):
        index_of(get_lattice("D3"), 6, np.array([[1, 0, 0]]))
