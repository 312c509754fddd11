"""The paper's matrix-product quantizer: estimate vs exact, thread/chunk invariance, padding, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hwq.matmul as mm
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.hadamard import rotate
from hwq.matmul import (
    decode_matrix,
    decode_rotated,
    encode_matrix,
    estimate_product,
    pad_rows,
    product_distortion,
)

CFGS = [HwqConfig(beta0=0.43), HwqConfig(lattice="Z", q=8, beta0=0.3942),
        HwqConfig(lattice="E8", q=7, beta0=0.3752), HwqConfig(dither=True, beta0=0.4257)]


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.slug)
def test_estimate_close_to_exact(cfg: HwqConfig) -> None:
    rng = np.random.default_rng(1)
    n = 384
    a = rng.standard_normal((n, 12))
    b = rng.standard_normal((n, 12))
    ea = encode_matrix(a, cfg, matrix_id=0)
    eb = encode_matrix(b, cfg, matrix_id=1)
    est = estimate_product(ea, eb)
    exact = a.T @ b
    d = product_distortion(est, exact, n)
    assert d == pytest.approx(np.sum((est - exact) ** 2) / (n * 12 * 12))
    mse_a = float(np.mean((decode_matrix(ea) - a) ** 2))
    mse_b = float(np.mean((decode_matrix(eb) - b) ** 2))
    assert 0.005 < mse_a < 0.05 and 0.005 < mse_b < 0.05  # about 3 bits per entry
    # for unit-variance columns D ~ mse_A + mse_B (cross terms dominate); allow the sampling spread
    assert 0.3 * (mse_a + mse_b) < d < 1.6 * (mse_a + mse_b)
    # the estimate is far better than ignoring the product
    assert d < 0.1 * product_distortion(np.zeros_like(exact), exact, n)


def test_estimate_equals_rotated_domain_product_of_decodes() -> None:
    cfg = CFGS[0]
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((192, 5)), rng.standard_normal((192, 4))
    ea, eb = encode_matrix(a, cfg, 0), encode_matrix(b, cfg, 1)
    # the rotation is orthogonal, so the product of the unrotated decodes is the same estimate
    np.testing.assert_allclose(estimate_product(ea, eb), decode_matrix(ea).T @ decode_matrix(eb), atol=1e-9)
    # decode_rotated is the decode in the rotated domain at unit scale
    xr = rotate(a * (np.sqrt(192) / np.linalg.norm(a, axis=0)), cfg.hadamard, cfg.sign_seed)
    assert np.mean((decode_rotated(ea) - xr) ** 2) < 0.05


def test_more_levels_less_distortion() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((384, 16))
    errs = []
    for q in (3, 6, 12):
        cfg = HwqConfig(q=q, beta0=0.43 * 6 / q)
        errs.append(float(np.mean((decode_matrix(encode_matrix(a, cfg)) - a) ** 2)))
    assert errs[0] > 2 * errs[1] > 4 * errs[2]


@pytest.mark.parametrize("cfg", [CFGS[0], CFGS[3]], ids=lambda c: c.slug)
def test_threads_and_chunks_do_not_change_the_result(monkeypatch, cfg: HwqConfig) -> None:
    a = np.random.default_rng(4).standard_normal((192, 23))
    whole = encode_matrix(a, cfg, workers=1)  # one chunk
    monkeypatch.setattr(mm, "_CHUNK_ENTRIES", 192 * 4)  # 6 chunks of 4 columns
    seen = []
    one = encode_matrix(a, cfg, workers=1, progress=seen.append)
    two = encode_matrix(a, cfg, workers=2)
    assert seen == [4, 8, 12, 16, 20, 23]
    for e in (one, two):
        for name in ("codes", "ladder", "norms"):
            assert getattr(e, name).tobytes() == getattr(whole, name).tobytes()
        assert e.overloads == whole.overloads


def test_pad_rows_keeps_the_product() -> None:
    cfg = CFGS[0]  # lcm(3, 64) = 192
    rng = np.random.default_rng(5)
    a = rng.standard_normal((100, 3))
    b = rng.standard_normal((100, 2))
    pa, pb = pad_rows(a, cfg), pad_rows(b, cfg)
    assert pa.shape == (192, 3) and pb.shape == (192, 2)
    np.testing.assert_array_equal(pa.T @ pb, a.T @ b)
    np.testing.assert_array_equal(pa[:100], a) and np.testing.assert_array_equal(pa[100:], 0)
    assert pad_rows(np.zeros(4096), cfg).shape == (4224,)
    assert pad_rows(pa, cfg) is pa
    encode_matrix(pa, cfg)  # now accepted
    with pytest.raises(HwqError, match="vector or a matrix"):
        pad_rows(np.zeros((2, 2, 2)), cfg)


def test_zero_column_is_encoded_as_zero() -> None:
    a = np.random.default_rng(6).standard_normal((192, 3))
    a[:, 1] = 0.0
    enc = encode_matrix(a, CFGS[0])
    assert enc.norms[1] == 0.0
    np.testing.assert_array_equal(decode_matrix(enc)[:, 1], 0.0)


@pytest.mark.parametrize("a, match", [
    (np.full((192, 2), np.nan), "NaN or Inf"),
    (np.full((192, 2), np.inf), "NaN or Inf"),
    (np.zeros(192), "2-D"),
    (np.zeros((190, 2)), "multiple of the D3 block size 3"),
    (np.zeros((96, 2)), "multiple of the Hadamard size 64"),
    (np.zeros((192, 0)), "empty"),
    (np.array([["a"] * 2] * 192), "numeric dtype"),
])
def test_bad_input(a, match: str) -> None:
    with pytest.raises(HwqError, match=match):
        encode_matrix(a, CFGS[0])


def test_estimate_product_mismatches() -> None:
    cfg = CFGS[0]
    rng = np.random.default_rng(7)
    ea = encode_matrix(rng.standard_normal((192, 2)), cfg)
    with pytest.raises(HwqError, match="equal row counts"):
        estimate_product(ea, encode_matrix(rng.standard_normal((384, 2)), cfg))
    with pytest.raises(HwqError, match="rotated differently"):
        estimate_product(ea, encode_matrix(rng.standard_normal((192, 2)), cfg.replace(sign_seed=5)))
    with pytest.raises(HwqError, match="workers"):
        encode_matrix(rng.standard_normal((192, 2)), cfg, workers=0)


# -- trust boundaries (issue 13): wrong types, norms outside float32, overload warning, monotone q ------

def test_api_refuses_wrong_types() -> None:
    a = np.random.default_rng(0).standard_normal((192, 4))
    enc = encode_matrix(a, CFGS[0])
    for call, match in [(lambda: encode_matrix(a, None), "needs an HwqConfig as cfg, got NoneType"),
                        (lambda: encode_matrix(a, {"q": 6}), "got dict"),
                        (lambda: decode_matrix(a), "enc must be an EncodedMatrix .* got ndarray"),
                        (lambda: decode_rotated(None), "got NoneType"),
                        (lambda: estimate_product(enc, "b.npz"), "eb must be an EncodedMatrix .* got str"),
                        (lambda: estimate_product(3, enc), "ea must be an EncodedMatrix")]:
        with pytest.raises(HwqError, match=match):
            call()


@pytest.mark.parametrize("scale, where", [(1e39, "above"), (1e200, "above"), (1e-300, "below"),
                                          (1e-45, "below")])
def test_norms_outside_float32_are_refused(scale: float, where: str) -> None:
    a = np.random.default_rng(0).standard_normal((192, 4))
    a[:, 2] *= scale
    with pytest.raises(HwqError, match=f"column 2 has norm .*, {where} the float32 range"):
        encode_matrix(a, CFGS[0])


def test_one_huge_entry_is_refused_not_stored_as_inf() -> None:
    a = np.random.default_rng(0).standard_normal((192, 4))
    a[7, 1] = 1e39
    with pytest.raises(HwqError, match="column 1 has norm 1e\\+39, above the float32 range"):
        encode_matrix(a, CFGS[0])


def test_small_but_representable_scale_encodes_exactly_like_unit_scale() -> None:
    # the norm is computed without squaring underflow: 1e-30 * A has the codes of A and norms scaled by 1e-30
    a = np.random.default_rng(0).standard_normal((192, 4))
    e1, e2 = encode_matrix(a, CFGS[0]), encode_matrix(a * 2.0 ** -100, CFGS[0])
    np.testing.assert_array_equal(e1.codes, e2.codes)
    np.testing.assert_allclose(e2.norms.astype(np.float64) * 2.0 ** 100, e1.norms, rtol=1e-7)


def test_overload_warning_counts_blocks_and_columns() -> None:
    import re

    from hwq.nested import OverloadWarning

    a = np.random.default_rng(0).standard_normal((192, 8))
    cfg = HwqConfig(beta0=0.1)  # top rung 0.28: far too small for unit-variance blocks
    with pytest.warns(OverloadWarning) as rec:
        enc = encode_matrix(a, cfg)
    msg = str(rec[0].message)
    m = re.match(r"(\d+) of 512 blocks \(.*%\) in (\d+) of 8 columns overloaded the top ladder rung", msg)
    assert m and int(m.group(1)) == enc.overloads > 0 and int(m.group(2)) <= 8, msg
    # clipped, not wrapped: the decode stays a usable approximation (wrapping gave relative errors ~ 1)
    err = np.linalg.norm(decode_matrix(enc) - a) / np.linalg.norm(a)
    assert err < 0.5
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_matrix(a, CFGS[0].replace(ladder_len=8))  # no overload: no warning


def test_distortion_monotone_in_q() -> None:
    # issue 13: with wrapping and the old tuner, Z q=256 was 9x worse than q=64 and D3 q=64 worse than q=65
    rng = np.random.default_rng(0)
    n, cols = 768, 32
    a, b = rng.standard_normal((n, cols)), rng.standard_normal((n, cols))
    exact = a.T @ b
    for lattice in ("Z", "D3"):
        dist = []
        for q in (16, 32, 64, 65, 128, 256):
            cfg = HwqConfig(lattice=lattice, q=q, hadamard=256, max_k=n)
            ea, eb = encode_matrix(a, cfg, 0), encode_matrix(b, cfg, 1)
            dist.append(product_distortion(estimate_product(ea, eb), exact, n))
        assert all(d1 < d0 for d0, d1 in itertools.pairwise(dist)), (lattice, dist)
        assert dist[-1] < dist[2] / 8  # q = 256 vs 64: four times finer, ~16x less distortion
