"""Counter-based PRNG: an independent pure-Python hash32 agrees with numpy; streams, dither, signs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.lattice import get_lattice
from hwq.prng import dither_for, fmix32, hadamard_signs, hash32, uniform01

M32 = 0xFFFFFFFF
U32 = st.integers(0, M32)


def _fmix32_py(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def _hash32_py(seed: int, *words: int) -> int:
    """The documented chain: h = fmix32(seed ^ 0x9E3779B9); h = fmix32(h ^ (w * 0x9E3779B1 mod 2**32))."""
    h = _fmix32_py(seed ^ 0x9E3779B9)
    for w in words:
        h = _fmix32_py(h ^ ((w * 0x9E3779B1) & M32))
    return h


def test_fmix32_known_values() -> None:
    # murmur3 fmix32 fixed points and a reference value computed by hand from the definition
    assert int(fmix32(np.uint32(0))) == 0
    assert int(fmix32(np.uint32(1))) == _fmix32_py(1) == 0x514E28B7


@settings(max_examples=100, deadline=None)
@given(seed=U32, words=st.lists(U32, min_size=0, max_size=6))
def test_hash32_matches_independent_python(seed: int, words: list[int]) -> None:
    assert int(hash32(seed, *words)) == _hash32_py(seed, *words)
    assert int(hash32(seed, *words)) == int(hash32(seed, *words))  # deterministic


def test_hash32_broadcasts_like_scalar_calls() -> None:
    cols = np.arange(5, dtype=np.int64)
    blocks = np.arange(7, dtype=np.int64)
    h = hash32(123, 1, 4, cols[:, None], blocks[None, :])
    assert h.shape == (5, 7) and h.dtype == np.uint32
    for c in range(5):
        for b in range(7):
            assert int(h[c, b]) == _hash32_py(123, 1, 4, c, b)
    assert len(np.unique(h)) == 35


def test_uniform01_range_and_moments() -> None:
    u = uniform01(7, 1, 0, np.arange(200_000, dtype=np.int64))
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(u.var() - 1 / 12) < 0.002
    # neighbouring counters are not correlated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    assert float(uniform01(7, 1, 0, 5)) == _hash32_py(7, 1, 0, 5) / 2**32


def test_hadamard_signs() -> None:
    s = hadamard_signs(2, 100_000)
    assert s.dtype == np.int8 and set(np.unique(s).tolist()) == {-1, 1}
    assert abs(float(s.mean())) < 0.02
    np.testing.assert_array_equal(s, hadamard_signs(2, 100_000))
    np.testing.assert_array_equal(hadamard_signs(2, 10), s[:10])  # prefix-stable (counter based)
    want = [1 if (_hash32_py(2, 2, i) >> 31) == 0 else -1 for i in range(64)]
    assert s[:64].tolist() == want
    assert not np.array_equal(hadamard_signs(3, 1000), s[:1000])


@pytest.mark.parametrize("name", ["Z", "D3", "D4", "E8"])
def test_dither_in_voronoi_cell_and_reproducible(name: str) -> None:
    lat = get_lattice(name)
    n = 4000
    col = np.repeat(np.arange(4), n // 4)
    blk = np.tile(np.arange(n // 4), 4)
    z = dither_for(lat, 11, 0, col, blk)
    assert z.shape == (n, lat.dim)
    # in the Voronoi cell: its closest lattice point is 0
    np.testing.assert_array_equal(lat.closest(z), np.zeros((n, lat.dim), dtype=np.int64))
    np.testing.assert_array_equal(z, dither_for(lat, 11, 0, col, blk))
    # uniform on the cell: mean ~ 0 and second moment per dimension ~ the lattice's
    assert np.all(np.abs(z.mean(axis=0)) < 0.05)
    assert float(np.mean(np.sum(z * z, axis=1)) / lat.dim) == pytest.approx(lat.second_moment, rel=0.08)
    # the matrix id and the seed select different streams
    assert not np.array_equal(z, dither_for(lat, 11, 1, col, blk))
    assert not np.array_equal(z, dither_for(lat, 12, 0, col, blk))
    # the j-th coordinate of block (c, b) comes from hash32(seed, 1, matrix, c, b, j)
    u = np.array([_hash32_py(11, 1, 0, int(col[5]), int(blk[5]), j) / 2**32 for j in range(lat.dim)])
    p = lat.generator_float @ u
    np.testing.assert_allclose(z[5], p - lat.closest(p) / lat.coord_scale, atol=1e-15)


def test_bad_words_raise_hwq_error() -> None:
    with pytest.raises(HwqError, match="must be in"):
        hash32(2**32, 1)
    with pytest.raises(HwqError, match="must be in"):
        hash32(1, -1)
    with pytest.raises(HwqError, match="integer"):
        hash32(1, 0.5)
