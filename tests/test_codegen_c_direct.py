"""Direct path of the C kernels (hwq_direct_c.h: 16-lane arithmetic decode, E8 q=7): bit-exact with
hwq.datapath on every ISA, codeword by codeword and on dense products with ragged block counts."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from hwq.codegen.build import CKernels, compile_c

from hwq import datapath as dp
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.nested import codewords_for_rows
from hwq.packing import pack_bits

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

CFG = HwqConfig(lattice="E8", q=7)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return CKernels(CFG, compile_c(CFG, tmp_path_factory.mktemp("direct")), nthreads=2)


def _enc(rows: np.ndarray, lad: np.ndarray, k: int) -> EncodedMatrix:
    m = rows.shape[0]
    return EncodedMatrix(CFG, k, m, 0, pack_bits(rows, CFG.code_bits), pack_bits(lad, CFG.ladder_bits),
                         np.ones(m, np.float32))


def test_every_coordinate_of_many_codewords(lib):
    """x_rot = unit vectors on block 0: acc[m, i] = m_T * c_i(code of column m), so each column checks one
    decoded codeword exactly (the first and last 2000 rows of the codebook, 2000 random ones)."""
    nc, k = CFG.num_codewords, CFG.hadamard * 2
    rng = np.random.default_rng(11)
    first = np.concatenate([np.arange(2000), nc - 1 - np.arange(2000), rng.integers(0, nc, 2000)])
    nb = k // CFG.dim
    rows = rng.integers(0, nc, (first.size, nb))
    rows[:, 0] = first
    enc = _enc(rows, rng.integers(0, CFG.ladder_len, rows.shape), k)
    x_rot = np.zeros((k, CFG.dim), dtype=np.int64)
    x_rot[np.arange(CFG.dim), np.arange(CFG.dim)] = 1
    ref = dp.weight_only_acc(enc, x_rot)
    for isa in lib.available_isas():
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(enc, x_rot), ref), isa
    lib.set_isa("auto")


@pytest.mark.parametrize("nb16", [1, 3])
def test_dense_products_ragged_chunks_extreme_activations(lib, nb16):
    """Block counts that are not a multiple of the 16 lanes (tail lanes), activations at +-act_rot_bound."""
    rng = np.random.default_rng(nb16)
    k = CFG.hadamard * (2 * nb16 + 1)
    nb, m = k // CFG.dim, 37
    enc = _enc(rng.integers(0, CFG.num_codewords, (m, nb)), rng.integers(0, CFG.ladder_len, (m, nb)), k)
    x_rot = rng.choice([-CFG.act_rot_bound, CFG.act_rot_bound], (k, 3))
    x_rot[:, 2] = rng.integers(-CFG.act_rot_bound, CFG.act_rot_bound + 1, k)
    ref = dp.weight_only_acc(enc, x_rot)
    for isa in lib.available_isas():
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(enc, x_rot), ref), isa
        assert np.array_equal(lib.wo_acc(enc, x_rot[:, :1]), ref[:, :1]), isa
    lib.set_isa("auto")


# --------------------------------------------------------------------------------------------------
# E8 configs across q, ladders and Hadamard sizes: the 64-lane VBMI decode (hwq_e8_vbmi.h, q <= 8 with
# int16 activations), its 32-lane AVX2 counterpart (hwq_e8_avx2.h, same bounds) and the paths that take over
# outside them (16-lane int32, scalar int64)
# --------------------------------------------------------------------------------------------------

def _e8(q: int, **kw) -> HwqConfig:
    return HwqConfig(lattice="E8", q=q, beta0=0.5, **kw)  # beta0 given: no tuning run in the tests


# q=3..8 fit the VBMI path (ladders of 1, 2, 3 and 4 rungs: 0, 1 and 2 ladder bits; Hadamard 8..256);
# q=7 with h=512 (rotated activations beyond int16), q=9 (26-bit codes, 3-bit ladder) and q=14
# (31-bit codes) take the 16-lane int32 decode; q=15 and q=16 have q^8 beyond int32 (the range checks must
# still compile under -Werror=type-limits)
CONFIGS = {
    "q3": _e8(3),
    "q4-h8-L2": _e8(4, hadamard=8, ladder_len=2),
    "q5-h256-L3": _e8(5, hadamard=256, ladder_len=3),
    "q6-a6-h16": _e8(6, act_bits=6, hadamard=16),
    "q7": CFG,
    "q8-L1": _e8(8, ladder_len=1),
    "q7-h512": _e8(7, hadamard=512),
    "q9-L8": _e8(9, ladder_len=8),
    "q14": _e8(14),
    "q15": _e8(15),
    "q16-L2": _e8(16, ladder_len=2),
}


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    root = tmp_path_factory.mktemp("direct-configs")
    cache: dict[str, CKernels] = {}

    def get(name: str) -> CKernels:
        if name not in cache:
            cfg = CONFIGS[name]
            cache[name] = CKernels(cfg, compile_c(cfg, root / cfg.slug), nthreads=2)
        return cache[name]

    return get


def _encoded(cfg: HwqConfig, rows: np.ndarray, lad: np.ndarray, k: int) -> EncodedMatrix:
    m = rows.shape[0]
    return EncodedMatrix(cfg, k, m, 0, pack_bits(rows, cfg.code_bits), pack_bits(lad, cfg.ladder_bits),
                         np.ones(m, np.float32))


def _unit_acc_reference(cfg: HwqConfig, rows: np.ndarray, lad: np.ndarray) -> np.ndarray:
    """acc of x_rot = unit vectors (one per coordinate of every block): acc[m, 8 b + i] = m_T c_i."""
    cw = codewords_for_rows(cfg.lat, cfg.q, rows.reshape(-1)).reshape(rows.shape + (cfg.dim,))
    mult = np.asarray(cfg.beta_mults, dtype=np.int64)[lad]
    return (cw * mult[..., None]).reshape(rows.shape[0], -1)


@pytest.mark.parametrize("name", ["q3", "q4-h8-L2"])
def test_every_codeword_of_the_codebook(libs, name):
    """All q^8 codebook rows, each in its own block (K / 8 blocks a column, unit activations on every
    coordinate, batch K): every coordinate of every codeword, on every ISA."""
    lib, cfg = libs(name), CONFIGS[name]
    nc, k = cfg.num_codewords, 64
    nb = k // cfg.dim
    rows = np.arange(-(-nc // nb) * nb) % nc
    rng = np.random.default_rng(nc)
    rng.shuffle(rows)
    rows = rows.reshape(-1, nb)
    lad = rng.integers(0, cfg.ladder_len, rows.shape)
    enc = _encoded(cfg, rows, lad, k)
    ref = _unit_acc_reference(cfg, rows, lad)
    x_rot = np.eye(k, dtype=np.int64)
    for isa in lib.available_isas():
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(enc, x_rot), ref), isa
    lib.set_isa("auto")


@pytest.mark.slow
def test_every_codeword_of_e8_q7(libs):
    """E8 q=7, all 7^8 = 5,764,801 rows (in slices), on AVX-512 VBMI (64-lane int8 decode), AVX-512 (16-lane
    int32 path) and AVX2 (32-lane int8 decode, hwq_e8_avx2.h), those the CPU has."""
    lib, cfg = libs("q7"), CONFIGS["q7"]
    k, nb, nc = 64, 8, CONFIGS["q7"].num_codewords
    x_rot = np.eye(k, dtype=np.int64)
    isas = [i for i in lib.available_isas() if i in ("avx2", "avx512", "avx512vbmi")]
    for start in range(0, nc, 1 << 20):
        rows = np.arange(start, min(start + (1 << 20), nc))
        rows = np.concatenate([rows, np.zeros(-rows.size % nb, np.int64)]).reshape(-1, nb)
        lad = np.random.default_rng(start).integers(0, cfg.ladder_len, rows.shape)
        enc = _encoded(cfg, rows, lad, k)
        ref = _unit_acc_reference(cfg, rows, lad)
        for isa in isas:
            lib.set_isa(isa)
            assert np.array_equal(lib.wo_acc(enc, x_rot), ref), (isa, start)
    lib.set_isa("auto")


def test_e8_q7_division_ends_and_a_strided_sample_of_the_codebook(libs):
    """E8 q=7 in the default run: the rows at both ends of every quotient of r // q^4 (the float32 division
    of hwq_e8_vbmi.h is exact there or nowhere) and every 61st row of the codebook (about 100,000), each in
    its own block with unit activations, on each of VBMI, AVX-512 and AVX2 the CPU has (the 64-lane, 16-lane
    and 32-lane decodes)."""
    lib, cfg = libs("q7"), CONFIGS["q7"]
    k, nb, nc, q4 = 64, 8, cfg.num_codewords, cfg.q**4
    ends = np.arange(q4, dtype=np.int64) * q4
    rows = np.concatenate([ends, ends + q4 - 1, np.arange(0, nc, 61)])
    rows = np.concatenate([rows, np.zeros(-rows.size % nb, np.int64)]).reshape(-1, nb)
    lad = np.random.default_rng(7).integers(0, cfg.ladder_len, rows.shape)
    enc = _encoded(cfg, rows, lad, k)
    ref = _unit_acc_reference(cfg, rows, lad)
    x_rot = np.eye(k, dtype=np.int64)
    isas = [i for i in lib.available_isas() if i in ("avx2", "avx512", "avx512vbmi")]
    for isa in isas:
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(enc, x_rot), ref), isa
    lib.set_isa("auto")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_dense_products_every_config_batches_and_ragged_k(libs, name):
    """Random codes and ladder indices (every row value, including the largest), activations at
    +-act_rot_bound and random; K = granularity * n for block counts below, at and beyond the 64-block
    step (ragged last step), batch 1..8, every ISA; the output norm is checked to be nonzero."""
    lib, cfg = libs(name), CONFIGS[name]
    rng = np.random.default_rng(cfg.q)
    g = cfg.k_step
    for n_g in sorted({1, max(2, 1100 // g)}):
        k = g * n_g
        nb, m = k // cfg.dim, 23
        rows = rng.integers(0, cfg.num_codewords, (m, nb))
        rows[0, :] = cfg.num_codewords - 1
        enc = _encoded(cfg, rows, rng.integers(0, cfg.ladder_len, (m, nb)), k)
        bound = cfg.act_rot_bound
        x_rot = rng.choice([-bound, bound], (k, 8))
        x_rot[:, 1::2] = rng.integers(-bound, bound + 1, (k, 4))
        ref = dp.weight_only_acc(enc, x_rot)
        assert np.any(ref != 0)
        for isa in lib.available_isas():
            lib.set_isa(isa)
            for b in (1, 2, 3, 8):
                assert np.array_equal(lib.wo_acc(enc, x_rot[:, :b]), ref[:, :b]), (isa, k, b)
    lib.set_isa("auto")


def test_gemv_exact_equals_datapath_e8_q7(lib):
    """The float entry point (quantize, rotate, integer GEMV, float epilogue) on the auto ISA."""
    rng = np.random.default_rng(5)
    k, m = 576, 40
    enc = _enc(rng.integers(0, CFG.num_codewords, (m, k // 8)), rng.integers(0, CFG.ladder_len, (m, k // 8)),
               k)
    x = rng.standard_normal((k, 5))
    y, acc = lib.gemv_exact(enc, x)
    act = dp.prepare_activations(x, CFG)
    assert np.array_equal(acc, dp.weight_only_acc(enc, act.x_rot))
    assert np.array_equal(y, dp.weight_only_gemv(enc, x))


def test_dithered_e8_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(HwqError, match="dither = false"):
        compile_c(HwqConfig(lattice="E8", q=7, beta0=0.5, dither=True), tmp_path)


_SAN_SCRIPT = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_codegen_c_direct import CONFIGS, _encoded
from hwq import datapath as dp
from hwq.codegen.build import CKernels, compile_c
n = 0
for name in ("q7", "q5-h256-L3", "q8-L1"):
    cfg = CONFIGS[name]
    lib = CKernels(cfg, compile_c(cfg, sys.argv[1] + "/" + cfg.slug, sanitize=True), nthreads=2)
    rng = np.random.default_rng(1)
    for k in (cfg.k_step, 9 * 64, 1024):
        if k % cfg.k_step:
            continue
        nb, m = k // 8, 7
        enc = _encoded(cfg, rng.integers(0, cfg.num_codewords, (m, nb)),
                       rng.integers(0, cfg.ladder_len, (m, nb)), k)
        x_rot = rng.integers(-cfg.act_rot_bound, cfg.act_rot_bound + 1, (k, 3))
        ref = dp.weight_only_acc(enc, x_rot)
        for isa in lib.available_isas():
            lib.set_isa(isa)
            for b in (1, 3):
                assert np.array_equal(lib.wo_acc(enc, x_rot[:, :b]), ref[:, :b]), (name, isa, k, b)
                n += 1
print(n)
"""


def test_direct_paths_under_address_and_undefined_sanitizers(tmp_path, run_sanitized):
    out = run_sanitized(_SAN_SCRIPT, tmp_path, os.path.dirname(__file__))
    assert int(out.strip().splitlines()[-1]) > 0


@pytest.mark.parametrize("name", ["q7", "q5-h256-L3", "q9-L8"])
def test_one_out_of_range_code_anywhere_is_refused(libs, name):
    """A single code >= q^8 (the first invalid value or the largest the field holds) in the first, a middle,
    a 16- or 32-code-group boundary or the last block of the last column: refused on every ISA, before any
    GEMV."""
    lib, cfg = libs(name), CONFIGS[name]
    k = cfg.k_step * max(1, 1100 // cfg.k_step)
    nb, m = k // cfg.dim, 5
    rng = np.random.default_rng(3)
    rows = rng.integers(0, cfg.num_codewords, (m, nb))
    lad = rng.integers(0, cfg.ladder_len, (m, nb))
    x_rot = rng.integers(-cfg.act_rot_bound, cfg.act_rot_bound + 1, (k, 2))
    for b in sorted({0, 15, 16, 31, 32, nb // 2, nb - 1}):
        for code in (cfg.num_codewords, (1 << cfg.code_bits) - 1):
            bad = rows.copy()
            bad[m - 1, b] = code
            enc = _encoded(cfg, bad, lad, k)
            for isa in lib.available_isas():
                lib.set_isa(isa)
                with pytest.raises(HwqError, match="weight codes or ladder indices out of range"):
                    lib.wo_acc(enc, x_rot)
    lib.set_isa("auto")
    assert np.array_equal(lib.wo_acc(_encoded(cfg, rows, lad, k), x_rot),
                          dp.weight_only_acc(_encoded(cfg, rows, lad, k), x_rot))
