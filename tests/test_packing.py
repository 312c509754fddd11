"""Bit packing: round trips for every width, the documented LSB-first layout, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.packing import pack_bits, packed_bytes, unpack_bits


@settings(max_examples=80, deadline=None)
@given(width=st.integers(1, 24), rows=st.integers(0, 4), count=st.integers(0, 50), seed=st.integers(0, 2**31))
def test_round_trip(width: int, rows: int, count: int, seed: int) -> None:
    v = np.random.default_rng(seed).integers(0, 1 << width, (rows, count), dtype=np.int64)
    if v.size:
        v.flat[0] = (1 << width) - 1  # the largest value
    p = pack_bits(v, width)
    assert p.dtype == np.uint8 and p.shape == (rows, packed_bytes(count, width))
    assert packed_bytes(count, width) == -(-count * width // 8)
    np.testing.assert_array_equal(unpack_bits(p, width, count), v)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 24), count=st.integers(1, 20), seed=st.integers(0, 2**31))
def test_layout_is_lsb_first_bitstream(width: int, count: int, seed: int) -> None:
    v = np.random.default_rng(seed).integers(0, 1 << width, (1, count), dtype=np.int64)
    p = pack_bits(v, width)
    stream = 0
    for i, val in enumerate(v[0].tolist()):
        stream |= val << (i * width)  # value i occupies bits [i*w, (i+1)*w) of a little-endian stream
    assert p[0].tolist() == list(stream.to_bytes(packed_bytes(count, width), "little"))


def test_width_2_example_and_column_independence() -> None:
    p = pack_bits(np.array([[1, 2, 3, 0, 3]]), 2)
    assert p.tolist() == [[0b00111001, 0b00000011]]
    v = np.array([[5, 1, 7], [0, 0, 0], [7, 7, 7]])
    p = pack_bits(v, 3)
    for r in range(3):
        np.testing.assert_array_equal(p[r:r + 1], pack_bits(v[r:r + 1], 3))  # each column starts byte aligned


def test_zero_width() -> None:
    assert pack_bits(np.zeros((3, 10), dtype=np.int64), 0).shape == (3, 0)
    np.testing.assert_array_equal(unpack_bits(np.zeros((3, 0), dtype=np.uint8), 0, 10), np.zeros((3, 10)))


@pytest.mark.parametrize("values, width, match", [
    (np.array([[4]]), 2, "do not fit in 2"),
    (np.array([[-1]]), 4, "do not fit"),
    (np.array([[1]]), 64, r"\[0, 63\]"),
    (np.array([[1]]), -1, r"\[0, 63\]"),
    (np.array([1, 2]), 4, "2-D"),
])
def test_bad_pack_input(values, width, match) -> None:
    with pytest.raises(HwqError, match=match):
        pack_bits(values, width)


def test_bad_unpack_input() -> None:
    with pytest.raises(HwqError, match="expected 2"):
        unpack_bits(np.zeros((1, 3), dtype=np.uint8), 5, 3)
    with pytest.raises(HwqError, match="2-D"):
        unpack_bits(np.zeros(3, dtype=np.uint8), 8, 3)
