"""Direct path of the C kernels (hwq_direct_c.h: 16-lane arithmetic decode, E8 q=7): bit-exact with
hwq.datapath on every ISA, codeword by codeword and on dense products with ragged block counts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hwq.codegen.build import CKernels, compile_c

from hwq import datapath as dp
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
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
