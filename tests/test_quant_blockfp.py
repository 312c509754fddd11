"""Tests of the deployed formats (hwq.quant.blockfp): E2M1 / E4M3 / E8M0 encodings bit-equal to ml_dtypes,
MXFP4 and NVFP4 bit-equal to a reference built on ml_dtypes casts, INT-k g128, stored bits, errors."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.quant.blockfp import (
    E2M1_VALUES,
    MXFP4,
    NVFP4,
    IntGroup,
    _e4m3_table,
    e2m1_decode,
    e2m1_encode,
    e4m3_decode,
    e4m3_encode,
    e8m0_decode,
)
from hwq.quant.registry import make

F4, E4M3, E8M0 = ml_dtypes.float4_e2m1fn, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e8m0fnu


def _ml_codes(v: np.ndarray, dtype) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).astype(dtype).view(np.uint8)


def test_e2m1_value_set_and_rounding_match_ml_dtypes() -> None:
    # the value set: the 16 codes decode to +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}
    codes = np.arange(16, dtype=np.uint8)
    assert np.array_equal(e2m1_decode(codes), codes.view(F4).astype(np.float64))
    assert np.array_equal(np.abs(e2m1_decode(codes))[:8], E2M1_VALUES)
    # exact values, every tie (midpoint), saturation and random values, both signs and -0
    mids = (E2M1_VALUES[1:] + E2M1_VALUES[:-1]) / 2
    rng = np.random.default_rng(0)
    v = np.concatenate([E2M1_VALUES, mids, np.nextafter(mids, 0), np.nextafter(mids, 10),
                        [6.5, 7.9, 8.0, 1e30], rng.uniform(0, 8, 20000), rng.standard_normal(20000) * 3])
    v = np.concatenate([v, -v, [-0.0, -0.1]])
    assert np.array_equal(e2m1_encode(v), _ml_codes(v, F4))
    assert np.array_equal(e2m1_decode(e2m1_encode(v)), v.astype(F4).astype(np.float64))
    # ties go to the even mantissa: 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4
    assert e2m1_decode(e2m1_encode(mids)).tolist() == [0, 1, 1, 2, 2, 4, 4]
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(HwqError, match="E2M1 has no NaN or Inf"):
            e2m1_encode(np.array([1.0, bad]))


def test_e4m3_scales_match_ml_dtypes() -> None:
    table = _e4m3_table()
    assert np.array_equal(table, np.arange(127, dtype=np.uint8).view(E4M3).astype(np.float64))
    assert table[-1] == 448.0 and table[1] == 2.0 ** -9
    rng = np.random.default_rng(1)
    mids = (table[1:] + table[:-1]) / 2
    v = np.concatenate([table, mids, np.nextafter(mids, 0), np.nextafter(mids, 1e3), [0.0, 1e-6, 2.0 ** -10],
                        np.exp2(rng.uniform(-12, 8.8, 20000))])
    v = v[v < 464]  # above 464 ml_dtypes returns NaN (no saturation); ours saturates
    assert np.array_equal(e4m3_encode(v), _ml_codes(v, E4M3))
    assert np.array_equal(e4m3_decode(e4m3_encode(v)), v.astype(E4M3).astype(np.float64))
    assert e4m3_encode(np.array([464.0, 500.0, 1e9])).tolist() == [126, 126, 126]  # saturates at 448
    with pytest.raises(HwqError, match="finite and >= 0"):
        e4m3_encode(np.array([-1.0]))


def _mx_reference(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MX v1.0 Algorithm 1 with ml_dtypes casts: (element codes (n, cols), E8M0 scale codes (nblk, cols))."""
    x = a.reshape(-1, 32, a.shape[1])
    amax = np.abs(x).max(axis=1)
    shared = np.floor(np.log2(amax)) - 2
    scale = np.exp2(shared)
    elems = (x / scale[:, None, :]).astype(F4).view(np.uint8).reshape(a.shape)
    return elems, scale.astype(E8M0).view(np.uint8)


def _nv_reference(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.float32]:
    x = a.reshape(-1, 16, a.shape[1])
    t = np.float32(np.abs(a).max() / (6 * 448))
    sb = np.minimum(np.abs(x).max(axis=1) / (6 * float(t)), 448.0).astype(E4M3)
    s = sb.astype(np.float64) * float(t)
    elems = (x / s[:, None, :]).astype(F4).view(np.uint8).reshape(a.shape)
    return elems, sb.view(np.uint8), t


@pytest.mark.parametrize("scale", [1.0, 1e-3, 3e4])
def test_mxfp4_bit_equal_to_the_spec_reference(scale: float) -> None:
    a = np.random.default_rng(2).standard_normal((256, 24)) * scale
    a[5, 3] = 8 * 2.0 ** np.floor(np.log2(np.abs(a[:32, 3]).max()))  # forces saturation in one block
    enc = MXFP4().encode(a)
    elems, scales = _mx_reference(a)
    assert np.array_equal(enc.data["codes"].astype(np.uint8), elems)
    assert np.array_equal(enc.payload["scales"].T, scales)
    want = elems.view(F4).astype(np.float64).reshape(-1, 32, 24) * e8m0_decode(scales)[:, None, :]
    assert np.array_equal(enc.decode(), want.reshape(a.shape))
    assert enc.rate == enc.rate_packed() == 4.25
    assert enc.nbytes() == 24 * (256 // 2 + 256 // 32)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 3e4])
def test_nvfp4_bit_equal_to_the_recipe_reference(scale: float) -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((256, 24)) * scale
    a[:16, 7] *= 1e-5  # a block whose E4M3 scale is subnormal
    enc = NVFP4().encode(a)
    elems, scales, t = _nv_reference(a)
    assert enc.payload["tensor_scale"][0] == t
    assert np.array_equal(enc.payload["scales"].T, scales)
    assert np.array_equal(enc.data["codes"].astype(np.uint8), elems)
    want = elems.view(F4).astype(np.float64).reshape(-1, 16, 24) * (
        scales.view(E4M3).astype(np.float64) * float(t))[:, None, :]
    assert np.array_equal(enc.decode(), want.reshape(a.shape))
    assert enc.rate_packed() == pytest.approx(4.5 + 32 / (256 * 24))


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_int_g128_grid_scales_and_error_bound(bits: int) -> None:
    a = np.random.default_rng(4).standard_normal((384, 16))
    qz = make(f"int{bits}_g128", bits)
    enc = qz.encode(a)
    half = 2 ** (bits - 1)
    codes = enc.data["codes"]
    assert codes.min() == -half and codes.max() == half - 1  # every code used (Gaussian, 128 per group)
    delta = enc.payload["scales"]
    assert delta.dtype == np.float16 and delta.shape == (16, 3)
    want = (2 * np.abs(a.reshape(3, 128, 16)).max(axis=1) / (2 * half - 1)).astype(np.float16)
    assert np.array_equal(delta.T, want)
    d = np.repeat(delta.T.astype(np.float64), 128, axis=0)
    err = np.abs(enc.decode() - a)
    # round to nearest; the top entry clips by half a step (plus the fp16 rounding of delta, 2**-11 relative)
    assert np.all(err <= d * (0.5 + half * 2.0 ** -10))
    assert np.array_equal(enc.decode(), codes * d)
    assert enc.rate == enc.rate_packed() == bits + 16 / 128


def test_quality_orders_as_the_formats_predict() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((768, 32))
    mse = {nm: float(np.mean((make(nm, r).encode(a).decode() - a) ** 2))
           for nm, r in [("int2_g128", 2), ("int3_g128", 3), ("int4_g128", 4), ("mxfp4", 4), ("nvfp4", 4)]}
    assert mse["int2_g128"] > mse["int3_g128"] > mse["int4_g128"]
    assert mse["nvfp4"] < mse["mxfp4"]  # finer (16) non-power-of-two scales
    assert 0.005 < mse["nvfp4"] < mse["int4_g128"] < 0.02


def test_bad_input_is_refused() -> None:
    for qz in (MXFP4(), NVFP4(), IntGroup(4)):
        with pytest.raises(HwqError, match="NaN or Inf"):
            qz.encode(np.full((128, 2), np.inf))
        with pytest.raises(HwqError, match="not a multiple of"):
            qz.encode(np.ones((100, 2)))
    with pytest.raises(HwqError, match="E8M0"):
        MXFP4().encode(np.full((32, 1), 2.0 ** 131))
    with pytest.raises(HwqError, match="float16 range"):
        IntGroup(4).encode(np.full((128, 1), 1e6))
    with pytest.raises(HwqError, match="float32"):
        NVFP4().encode(np.full((16, 1), 1e300))
    for name, rate in [("int4_g128", 3), ("int2_g128", 2.5), ("mxfp4", 4.5), ("nvfp4", 3.9),
                       ("mxfp4", np.nan)]:
        with pytest.raises(HwqError, match="rate"):
            make(name, rate)
    with pytest.raises(HwqError, match="bits"):
        IntGroup(9)


def test_zero_matrix_decodes_to_zero() -> None:
    z = np.zeros((128, 3))
    for name, r in [("mxfp4", 4), ("nvfp4", 4), ("int3_g128", 3)]:
        assert np.array_equal(make(name, r).encode(z).decode(), z)
