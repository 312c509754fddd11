"""Walsh-Hadamard transform: H H = n I, chunked == whole, exact integers, orthonormal rotation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.hadamard import check_segment, fwht, hadamard_matrix, rotate, rotate_int, unrotate
from hwq.prng import hadamard_signs

FAST = settings(max_examples=30, deadline=None)


def _sylvester(h: int) -> np.ndarray:
    """Independent Sylvester construction H_2m = [[H, H], [H, -H]]."""
    m = np.array([[1]], dtype=np.int64)
    while m.shape[0] < h:
        m = np.block([[m, m], [m, -m]])
    return m


@pytest.mark.parametrize("h", [1, 2, 4, 8, 16, 64, 256])
def test_h_times_h_is_n_identity(h: int) -> None:
    hm = hadamard_matrix(h)
    np.testing.assert_array_equal(hm, _sylvester(h))
    np.testing.assert_array_equal(hm @ hm, h * np.eye(h, dtype=np.int64))
    np.testing.assert_array_equal(hm, hm.T)


@FAST
@given(log_h=st.integers(0, 7), segs=st.integers(1, 5), cols=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_fwht_is_matrix_product_and_chunked_equals_whole(log_h: int, segs: int, cols: int, seed: int) -> None:
    h = 1 << log_h
    x = np.random.default_rng(seed).integers(-1000, 1000, (h * segs, cols))
    whole = fwht(x, h)
    assert whole.dtype == np.int64
    hm = _sylvester(h)
    for s in range(segs):
        part = x[s * h:(s + 1) * h]
        np.testing.assert_array_equal(whole[s * h:(s + 1) * h], hm @ part)
        np.testing.assert_array_equal(whole[s * h:(s + 1) * h], fwht(part, h))
    # columns are independent
    np.testing.assert_array_equal(whole[:, :1], fwht(x[:, :1], h))
    # applying it twice gives h * x (exact)
    np.testing.assert_array_equal(fwht(whole, h), h * x)


@FAST
@given(log_h=st.integers(1, 10), act_bits=st.integers(2, 12), seed=st.integers(0, 2**31))
def test_integer_growth_is_one_bit_per_stage(log_h: int, act_bits: int, seed: int) -> None:
    h = 1 << log_h
    amax = (1 << (act_bits - 1)) - 1
    rng = np.random.default_rng(seed)
    x = rng.integers(-amax, amax + 1, (h, 2))
    x[:, 1] = amax  # extreme: all equal gives the full growth h * amax at output 0
    y = rotate_int(x, h, seed % 2**32)
    assert y.dtype == np.int64
    assert int(np.max(np.abs(y))) <= amax * h
    s = hadamard_signs(seed % 2**32, h).astype(np.int64)
    yy = fwht(s[:, None] * np.full((h, 1), amax), h)
    assert int(yy[0, 0]) == int(np.sum(s)) * amax  # exact
    assert int(np.max(np.abs(fwht(np.full((h, 1), amax), h)))) == amax * h  # bound attained


@FAST
@given(log_h=st.integers(0, 8), segs=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_rotate_unrotate_inverse_and_orthonormal(log_h: int, segs: int, seed: int) -> None:
    h = 1 << log_h
    x = np.random.default_rng(seed).standard_normal((h * segs, 3))
    y = rotate(x, h, seed)
    np.testing.assert_allclose(unrotate(y, h, seed), x, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(y, axis=0), np.linalg.norm(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(y.T @ y, x.T @ x, atol=1e-9)
    # rotate = H diag(signs) x / sqrt(h) per segment
    s = hadamard_signs(seed, h * segs).astype(np.float64)
    hm = _sylvester(h)
    np.testing.assert_allclose(y[:h], hm @ (s[:h, None] * x[:h]) / np.sqrt(h), atol=1e-12)
    # the integer rotation scaled by 1/sqrt(h) equals the float one on integer input
    xi = np.round(x * 50).astype(np.int64)
    np.testing.assert_allclose(rotate_int(xi, h, seed) / np.sqrt(h), rotate(xi, h, seed), atol=1e-9)


@pytest.mark.parametrize("h", [3, 48, 0, -4, 6])
def test_non_power_of_two_is_rejected(h: int) -> None:
    with pytest.raises(HwqError, match="power of two"):
        fwht(np.zeros(96), h)
    with pytest.raises(HwqError, match="power of two"):
        check_segment(96, h)


def test_bad_lengths_and_dtypes() -> None:
    with pytest.raises(HwqError, match="multiple of the Hadamard size 64"):
        fwht(np.zeros(96), 64)
    with pytest.raises(HwqError, match="integer input"):
        rotate_int(np.zeros(8), 8, 1)
    with pytest.raises(HwqError, match="integer or float"):
        fwht(np.array(["a"] * 4), 4)
