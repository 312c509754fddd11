"""The integer datapath (SPEC section 6): bit-exact boundary, no overflow at the bounds, epilogue order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.datapath import (both_quantized_gemv, encode_activations, lut_acc, lut_scales, prepare_activations,
                          quantize_activations, rotate_activations, weight_codewords, weight_only_acc,
                          weight_only_gemv, weight_only_output, weight_scale)
from hwq.errors import HwqError
from hwq.matmul import decode_matrix, encode_matrix
from hwq.nested import codewords_for_rows
from hwq.packing import pack_bits
from hwq.voronoi import codebook, codeword_of, row_to_digits

CFGS = [HwqConfig(lattice="Z", q=8, beta0=0.3942), HwqConfig(lattice="D3", q=6, beta0=0.432),
        HwqConfig(lattice="D4", q=4, beta0=0.6775), HwqConfig(lattice="E8", q=7, beta0=0.3752)]
IDS = [c.slug for c in CFGS]


def _data(cfg: HwqConfig, k: int = 384, m: int = 8, b: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, m))
    w[:, 0] *= 25.0
    x = rng.standard_normal((k, b))
    x[0, 0] = 12.0  # an outlier, clipped scale
    return w, x


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_weight_only_equals_float_reference(cfg: HwqConfig) -> None:
    w, x = _data(cfg)
    enc = encode_matrix(w, cfg)
    y = weight_only_gemv(enc, x)
    x_int, s_x = quantize_activations(x, cfg)
    ref = decode_matrix(enc).T @ (x_int * s_x)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # activation front end: symmetric absmax int, in range, scale = absmax / act_max
    assert x_int.dtype == np.int64 and np.abs(x_int).max() == cfg.act_max
    np.testing.assert_array_equal(s_x, np.abs(x).max(axis=0) / cfg.act_max)
    np.testing.assert_array_equal(x_int, np.floor(x / s_x + 0.5))


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_epilogue_order_reproduces_y_exactly(cfg: HwqConfig) -> None:
    w, x = _data(cfg, seed=1)
    enc = encode_matrix(w, cfg)
    act = prepare_activations(x, cfg)
    acc = weight_only_acc(enc, act.x_rot)
    assert acc.dtype == np.int64
    # the integers by their definition: acc[m, j] = sum_b m_T * <cw, x_rot block>
    cw, t = weight_codewords(enc)
    mult = np.asarray(cfg.beta_mults, dtype=np.int64)[t]
    xb = act.x_rot.reshape(enc.blocks_per_col, cfg.dim, -1)
    for m in range(enc.cols):
        for j in range(x.shape[1]):
            want = sum(int(mult[m, b]) * int(np.dot(cw[m, b], xb[b, :, j]))
                       for b in range(enc.blocks_per_col))
            assert int(acc[m, j]) == want
    wscale = enc.norms.astype(np.float64) * (cfg.beta0 / ((1 << cfg.frac_bits) * cfg.coord_scale
                                                          * math.sqrt(enc.n)))
    np.testing.assert_array_equal(weight_scale(enc), wscale)
    y = ((acc.astype(np.float64) * wscale[:, None]) * act.scale[None, :]) * (1.0 / math.sqrt(cfg.hadamard))
    assert np.array_equal(weight_only_output(acc, wscale, act.scale, cfg), y)
    assert np.array_equal(weight_only_gemv(enc, x), y)


def _max_l1_codeword(cfg: HwqConfig) -> tuple[int, np.ndarray]:
    if cfg.num_codewords <= 1 << 16:
        cb = codebook(cfg.lattice, cfg.q).astype(np.int64)
        r = int(np.argmax(np.abs(cb).sum(axis=1)))
        return r, cb[r]
    rows = np.random.default_rng(0).integers(0, cfg.num_codewords, 100_000)
    cw = codeword_of(cfg.lat, cfg.q, row_to_digits(rows, cfg.q, cfg.dim))
    i = int(np.argmax(np.abs(cw).sum(axis=1)))
    return int(rows[i]), cw[i]


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_worst_case_does_not_overflow(cfg: HwqConfig) -> None:
    step = cfg.k_step
    k = cfg.max_k // step * step  # the longest reduction the config accepts
    nb = k // cfg.dim
    r, c = _max_l1_codeword(cfg)
    rows = np.full((2, nb), r, dtype=np.int64)
    ladder = np.full((2, nb), cfg.ladder_len - 1, dtype=np.int64)
    enc = EncodedMatrix(cfg, k, 2, 0, pack_bits(rows, cfg.code_bits), pack_bits(ladder, cfg.ladder_bits),
                        np.ones(2, dtype=np.float32))
    sgn = np.where(c >= 0, 1, -1)
    x_rot = np.stack([np.tile(sgn, nb) * cfg.act_rot_bound, -np.tile(sgn, nb) * cfg.act_rot_bound], axis=1)
    acc = weight_only_acc(enc, x_rot.astype(np.int64))  # raises AssertionError on overflow
    want = nb * int(np.abs(c).sum()) * cfg.act_rot_bound * max(cfg.beta_mults)
    assert acc[0].tolist() == [want, -want] and acc[1].tolist() == [want, -want]
    lim = 1 << (cfg.acc_bits - 1)
    assert -lim <= -want and want < lim
    assert want < 2**63


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_both_quantized_close_to_product(cfg: HwqConfig) -> None:
    w, x = _data(cfg, m=32, b=8, seed=2)
    w[:, 0] /= 25.0
    enc = encode_matrix(w, cfg)
    exact = w.T @ x
    y1 = weight_only_gemv(enc, x)
    y2 = both_quantized_gemv(enc, x)
    rel_w = math.sqrt(np.mean((decode_matrix(enc) - w) ** 2) / np.mean(w ** 2))
    assert rel_w < 0.35  # about 2 (D4 q=4) to 3 bits per weight
    # an error e of relative size r in w (or x) moves w^T x by about r ||w|| ||x|| / sqrt(K) (random
    # direction): normalise by that scale rather than by |w^T x|, which can be small by chance
    scale = np.sqrt(np.sum(w * w)) * np.sqrt(np.sum(x * x)) / math.sqrt(w.shape[0])
    e1 = np.linalg.norm(y1 - exact) / scale
    e2 = np.linalg.norm(y2 - exact) / scale
    assert e1 < 1.5 * rel_w  # weight error plus the small int8 activation error
    assert e2 < 2.2 * rel_w  # weight and activation errors (about sqrt(2) rel_w)
    assert e2 > 0.8 * e1  # coding the activations adds error, it cannot remove the weight error


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_lut_path_integers(cfg: HwqConfig) -> None:
    w, x = _data(cfg, m=4, b=2, seed=3)
    enc = encode_matrix(w, cfg)
    act = prepare_activations(x, cfg)
    codes = encode_activations(act.x_rot, cfg)
    nb = enc.blocks_per_col
    assert codes.rows.shape == (2, nb) and codes.enc_mult.dtype == np.int64
    # activation codes: first non-overloaded rung of the exact rational quantizer
    den = 1 << cfg.enc_frac_bits
    xb = act.x_rot.T.reshape(2, nb, cfg.dim)
    cx = codewords_for_rows(cfg.lat, cfg.q, codes.rows.reshape(-1)).reshape(2, nb, cfg.dim)
    for j in range(2):
        emt = (int(codes.enc_mult[j]) * int(cfg.inv_beta_mults[0])) >> cfg.frac_bits
        lam0 = cfg.lat.closest_rational(xb[j] * emt, den)
        t0 = codes.ladder[j] == 0
        np.testing.assert_array_equal(cx[j][t0], lam0[t0])
    # acc2 by its definition, from codewords (not the LUT)
    cwv = codewords_for_rows(cfg.lat, cfg.q, enc.rows().reshape(-1)).reshape(enc.cols, nb, cfg.dim)
    mults = np.asarray(cfg.beta_mults, dtype=np.int64)
    mw, mx = mults[enc.ladder_index()], mults[codes.ladder]
    acc2 = lut_acc(enc, codes)
    cs2 = cfg.coord_scale ** 2
    for m in range(enc.cols):
        for j in range(2):
            ip = np.sum(cwv[m] * cx[j], axis=1)
            assert np.all(ip % cs2 == 0)
            assert int(acc2[m, j]) == int(np.sum(mw[m] * mx[j] * (ip // cs2)))
    ws, xs = lut_scales(enc, codes, act.scale)
    y2 = (acc2.astype(np.float64) * ws[:, None]) * xs[None, :]
    assert np.array_equal(both_quantized_gemv(enc, x), y2)


def test_dithered_weights_rejected() -> None:
    cfg = HwqConfig(dither=True, beta0=0.4257)
    w, x = _data(cfg)
    enc = encode_matrix(w, cfg)
    with pytest.raises(HwqError, match="without dither"):
        weight_only_gemv(enc, x)
    with pytest.raises(HwqError, match="without dither"):
        both_quantized_gemv(enc, x)


def test_bad_activations() -> None:
    cfg = CFGS[1]
    w, x = _data(cfg)
    enc = encode_matrix(w, cfg)
    with pytest.raises(HwqError, match="NaN or Inf"):
        weight_only_gemv(enc, np.full((384, 1), np.nan))
    with pytest.raises(HwqError, match="K = 384"):
        weight_only_gemv(enc, np.zeros((192, 1)))
    with pytest.raises(HwqError, match="vector"):
        weight_only_gemv(enc, np.zeros((384, 1, 1)))
    with pytest.raises(HwqError, match="integers within"):
        weight_only_acc(enc, np.full((384, 1), cfg.act_rot_bound + 1, dtype=np.int64))
    with pytest.raises(HwqError, match="integers in"):
        rotate_activations(np.full((384, 1), 128), cfg)
    with pytest.raises(HwqError, match="integer"):
        encode_activations(np.zeros((384, 1)), cfg)
    # a zero activation vector gives zero output, no division by zero
    np.testing.assert_array_equal(weight_only_gemv(enc, np.zeros(384)), 0.0)
    np.testing.assert_array_equal(both_quantized_gemv(enc, np.zeros(384)), 0.0)
