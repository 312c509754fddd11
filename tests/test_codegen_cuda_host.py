"""The per-thread logic of the CUDA kernels, run on the CPU, against the Python reference.

``hwq_kernels_cuda.cuh`` keeps everything a GPU thread computes (unpacking, table entries,
rotated/swizzled lookups, int32-group and int64 sums, reduction orders, epilogues) in
``__host__ __device__`` functions; ``hwq_cuda_hosttest.cuh`` replays the kernels with them thread by
thread.  Compiled here with g++ as host code (no GPU, no nvcc); the results must equal
:mod:`hwq.datapath` bit for bit (exact mode) and the float64 product within 1e-5 (fast mode).
Not covered (needs the GPU run of ``hwq.codegen.gpu_bench``): launch configuration, shared-memory
allocation and barriers, real warp shuffles, alignment faults.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hwq import datapath as dp
from hwq.codegen.render import lib_name, render
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.hadamard import rotate
from hwq.matmul import encode_matrix
from hwq.packing import pack_bits

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")

CONFIGS = {
    "d3q6": HwqConfig(),
    "zq8": HwqConfig(lattice="Z", q=8),
    "d4q4": HwqConfig(lattice="D4", q=4),
    "e8q7": HwqConfig(lattice="E8", q=7),
    "d3q6_l2": HwqConfig(ladder_len=2),  # 1 ladder bit: 16-bit ladder loads, 4-entry pair table
    "d3q6_l1": HwqConfig(ladder_len=1),  # no ladder bits
}


@cache
def _build(key: str, root: str) -> Path:
    cfg = CONFIGS[key]
    work = Path(root) / key
    render(cfg, "cuda", work)
    name = lib_name(cfg)
    src = work / "hosttest.cpp"
    src.write_text(f'#include "{name}.cu"\n#include "hwq_kernels_cuda.cuh"\n'
                   '#include "hwq_cuda_hosttest.cuh"\n')
    inc = Path(str(resources.files("hwq.codegen").joinpath("include")))
    exe = work / "hosttest"
    cmd = ["g++", "-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-x", "c++",
           "-DHWQ_CONFIG_ONLY", "-DHWQ_TABLE_QUAL=static const", f"-I{work}", f"-I{inc}", str(src), "-o",
           str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    return exe


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cuda_host"))
    return lambda key: _build(key, root)


def _run(exe: Path, *args) -> str:
    res = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{args}: rc {res.returncode}\n{res.stderr}{res.stdout}"
    return res.stdout


def _random_enc(cfg: HwqConfig, k: int, m: int, rng, extreme: bool = False) -> EncodedMatrix:
    nb = k // cfg.dim
    if extreme:  # the longest codeword, largest multiplier everywhere: the exact sums' worst case
        from hwq.voronoi import codebook
        cb = codebook(cfg.lattice, cfg.q)
        rows = np.full((m, nb), int(np.argmax(np.abs(cb).sum(axis=1))))
        lad = np.full((m, nb), cfg.ladder_len - 1)
    else:
        rows = rng.integers(0, cfg.num_codewords, (m, nb))
        lad = rng.integers(0, cfg.ladder_len, (m, nb))
    return EncodedMatrix(cfg, k, m, 0, pack_bits(rows, cfg.code_bits), pack_bits(lad, cfg.ladder_bits),
                         rng.uniform(0.5, 2.0, m).astype(np.float32))


def _write_inputs(d: Path, enc: EncodedMatrix, xr: np.ndarray, xf: np.ndarray, sx: np.ndarray | None = None):
    d.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(enc.codes).tofile(d / "codes.bin")
    np.ascontiguousarray(enc.ladder).tofile(d / "ladder.bin")
    enc.norms.astype(np.float32).tofile(d / "norms.bin")
    np.ascontiguousarray(xr.T, dtype=np.int32).tofile(d / "xr.bin")  # (B, K)
    np.ascontiguousarray(xf.T, dtype=np.float32).tofile(d / "xf.bin")
    if sx is not None:
        np.asarray(sx, dtype=np.float64).tofile(d / "sx.bin")


def _fast_ref(enc: EncodedMatrix, xf: np.ndarray) -> np.ndarray:
    """float64 y = norm / sqrt(K) * sum_b beta_t / cs * <cw, x> (what fast mode approximates)."""
    cfg = enc.config
    cw, t = dp.weight_codewords(enc)
    bt = np.asarray(cfg.betas, dtype=np.float64)[t] / cfg.coord_scale  # (M, nb)
    xb = xf.astype(np.float64).reshape(enc.blocks_per_col, cfg.dim, -1)
    dots = np.einsum("mbi,bij->mbj", cw.astype(np.float64), xb)
    return np.einsum("mb,mbj->mj", bt, dots) * (enc.norms.astype(np.float64) / math.sqrt(enc.n))[:, None]


def _acts(cfg: HwqConfig, k: int, b: int, rng, extreme: bool = False):
    lim = cfg.act_rot_bound
    xr = rng.integers(-lim, lim + 1, (k, b))
    xr[: min(k, 5)] = lim  # extremes
    xr[-2:] = -lim
    if extreme:
        xr[:] = lim
    xf = rng.standard_normal((k, b)).astype(np.float32)
    return xr, xf


def test_unit_properties(build):
    """Byte/ladder rotations, swizzle = permutation with 32 distinct banks per warp step, plan tiling."""
    for key in ("d3q6", "zq8"):
        assert "unit ok" in _run(build(key), "unit")


@pytest.mark.parametrize("case", [
    # (k, m, batch, nsm, largest vectors per pass, fused rotation): ragged last chunk (nb = 80 = 64 + 16;
    # pre-rotated activations only: K must be a multiple of the Hadamard size for the fused rotation),
    # m not a multiple of 8, several plans; nsm = 1 with 6 chunks: 3 chunks per thread block (column
    # sums in shared memory); batch 7 = passes of 4 + 2 + 1 vectors
    (240, 61, 1, 1, 4, False), (240, 61, 1, 132, 4, False), (192 * 6, 37, 1, 3, 4, True),
    (192 * 6, 37, 1, 1, 4, True), (48, 9, 1, 2, 4, False), (240, 29, 7, 2, 4, False),
    (192 * 6, 21, 3, 1, 2, True), (192 * 2, 13, 7, 132, 4, True), (240, 13, 5, 132, 1, False)])
def test_table_path_default_config(build, tmp_path, case):
    k, m, b, nsm, maxnb, rot = case
    cfg = CONFIGS["d3q6"]
    rng = np.random.default_rng(k + m + nsm + 100 * b)
    enc = _random_enc(cfg, k, m, rng)
    xr, xf = _acts(cfg, k, b, rng)
    _write_inputs(tmp_path, enc, xr, xf)
    if rot:  # fast mode from fp16 activations through the kernel's own rotation
        x16 = (rng.standard_normal((k, b)) * 2).astype(np.float16)
        np.ascontiguousarray(x16.T).view(np.uint16).tofile(tmp_path / "x16.bin")
        xf = rotate(x16.astype(np.float64), cfg.hadamard, cfg.sign_seed)
    _run(build("d3q6"), "tabrot" if rot else "tab", tmp_path, k, m, b, nsm, maxnb)
    acc = np.fromfile(tmp_path / "acc.bin", dtype=np.int64).reshape(m, b)
    ref = dp.weight_only_acc(enc, xr)
    assert np.all(np.any(ref != 0, axis=0))
    assert np.array_equal(acc, ref)
    yf = np.fromfile(tmp_path / "yf.bin", dtype=np.float32).reshape(m, b).astype(np.float64)
    yref = _fast_ref(enc, xf)
    assert np.linalg.norm(yf - yref) <= 1e-5 * np.linalg.norm(yref)


def test_fp16_to_float_all_patterns(build, tmp_path):
    """The kernels' own fp16 -> float conversion equals IEEE (numpy) for all 65536 bit patterns."""
    _run(build("d3q6"), "h2f", tmp_path)
    got = np.fromfile(tmp_path / "h2f.bin", dtype=np.float32)
    want = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))  # signed zeros too


@pytest.mark.parametrize("key", ["d3q6_l2", "d3q6_l1"])
def test_table_path_short_ladders(build, tmp_path, key):
    """Ladder widths 1 and 0 bits (rotation of 16-bit ladder words, smaller pair tables)."""
    cfg = CONFIGS[key]
    assert "unit ok" in _run(build(key), "unit")
    k, m, b = 192 * 2, 21, 3
    rng = np.random.default_rng(9)
    enc = _random_enc(cfg, k, m, rng)
    xr, xf = _acts(cfg, k, b, rng)
    _write_inputs(tmp_path, enc, xr, xf)
    x16 = rng.standard_normal((k, b)).astype(np.float16)
    np.ascontiguousarray(x16.T).view(np.uint16).tofile(tmp_path / "x16.bin")
    _run(build(key), "tabrot", tmp_path, k, m, b, 2, 4)
    acc = np.fromfile(tmp_path / "acc.bin", dtype=np.int64).reshape(m, b)
    assert np.array_equal(acc, dp.weight_only_acc(enc, xr))
    yf = np.fromfile(tmp_path / "yf.bin", dtype=np.float32).reshape(m, b).astype(np.float64)
    yref = _fast_ref(enc, rotate(x16.astype(np.float64), cfg.hadamard, cfg.sign_seed))
    assert np.linalg.norm(yf - yref) <= 1e-5 * np.linalg.norm(yref)


@pytest.mark.parametrize("key", ["d3q6", "d4q4"])
def test_table_path_worst_case_and_real_weights(build, tmp_path, key):
    """Worst-case magnitudes (int32 groups must not overflow) and weights from the real encoder."""
    cfg = CONFIGS[key]
    rng = np.random.default_rng(7)
    k = math.lcm(cfg.dim, cfg.hadamard, 16 * cfg.dim) * 2
    for name, enc, extreme, b in (("worst", _random_enc(cfg, k, 16, rng, extreme=True), True, 1),
                                  ("real", encode_matrix(rng.standard_normal((k, 19)), cfg), False, 4)):
        xr, xf = _acts(cfg, k, b, rng, extreme=extreme)
        d = tmp_path / name
        _write_inputs(d, enc, xr, xf)
        _run(build(key), "tab", d, k, enc.cols, b, 4, 4)
        acc = np.fromfile(d / "acc.bin", dtype=np.int64).reshape(enc.cols, b)
        ref = dp.weight_only_acc(enc, xr)
        assert np.any(ref != 0)
        assert np.array_equal(acc, ref), name
        if extreme:  # the sums really are beyond int32: the int64 stage is exercised
            assert int(np.max(np.abs(ref))) > 2**31


@pytest.mark.parametrize("key", ["d3q6", "zq8", "d4q4", "e8q7"])
def test_generic_path_exact_and_epilogue(build, tmp_path, key):
    """Generic kernels (any batch, E8 arithmetic decode, sub-byte codes): acc and the float64
    epilogue equal hwq.datapath bit for bit; fast mode within 1e-5 of float64."""
    cfg = CONFIGS[key]
    rng = np.random.default_rng(3)
    k = cfg.dim * 101  # nb = 101: ragged against the 32 lanes
    m, b = 13, 3
    enc = _random_enc(cfg, k, m, rng)
    xr, xf = _acts(cfg, k, b, rng)
    sx = rng.uniform(0.001, 0.1, b)
    _write_inputs(tmp_path, enc, xr, xf, sx)
    _run(build(key), "gen", tmp_path, k, m, b)
    acc = np.fromfile(tmp_path / "acc.bin", dtype=np.int64).reshape(m, b)
    ref = dp.weight_only_acc(enc, xr)
    assert np.any(ref != 0)
    assert np.array_equal(acc, ref)
    y = np.fromfile(tmp_path / "y.bin", dtype=np.float64).reshape(m, b)
    assert np.array_equal(y, dp.weight_only_output(ref, dp.weight_scale(enc), sx, cfg))
    yf = np.fromfile(tmp_path / "yf.bin", dtype=np.float32).reshape(m, b).astype(np.float64)
    yref = _fast_ref(enc, xf)
    assert np.linalg.norm(yf - yref) <= 1e-5 * np.linalg.norm(yref)


def test_generic_path_real_weights_end_to_end(build, tmp_path):
    """Real encoder output and the activation front end of the reference (E8: arithmetic decode)."""
    for key in ("d3q6", "e8q7"):
        cfg = CONFIGS[key]
        rng = np.random.default_rng(11)
        k = cfg.k_step
        enc = encode_matrix(rng.standard_normal((k, 7)), cfg)
        x = rng.standard_normal((k, 2))
        act = dp.prepare_activations(x, cfg)
        d = tmp_path / key
        _write_inputs(d, enc, act.x_rot, act.x_rot.astype(np.float32), act.scale)
        _run(build(key), "gen", d, k, 7, 2)
        y = np.fromfile(d / "y.bin", dtype=np.float64).reshape(7, 2)
        assert np.array_equal(y, dp.weight_only_gemv(enc, x))


@pytest.mark.parametrize("key", ["d3q6", "zq8", "e8q7"])
def test_lut_path_exact(build, tmp_path, key):
    """Both-quantized accumulators (pairwise LUT for D3/Z, codeword inner products for E8) equal
    hwq.datapath.lut_acc bit for bit, activations coded by the reference integer encoder."""
    cfg = CONFIGS[key]
    rng = np.random.default_rng(13)
    k = cfg.k_step
    m, b = 11, 3
    enc = encode_matrix(rng.standard_normal((k, m)), cfg)
    act = dp.prepare_activations(rng.standard_normal((k, b)), cfg)
    codes = dp.encode_activations(act.x_rot, cfg)
    _write_inputs(tmp_path, enc, act.x_rot, act.x_rot.astype(np.float32))
    np.ascontiguousarray(codes.rows, dtype=np.int32).tofile(tmp_path / "rx.bin")
    np.ascontiguousarray(codes.ladder, dtype=np.uint8).tofile(tmp_path / "tx.bin")
    _run(build(key), "lut", tmp_path, k, m, b)
    acc = np.fromfile(tmp_path / "acc.bin", dtype=np.int64).reshape(m, b)
    ref = dp.lut_acc(enc, codes)
    assert np.any(ref != 0)
    assert np.array_equal(acc, ref)


def test_table_path_availability(build):
    """Byte-code ROM configs get the table path; Z (3-bit codes) and E8 (arithmetic) do not."""
    for key, want in (("d3q6", 0), ("d4q4", 0), ("zq8", 1), ("e8q7", 1)):
        res = subprocess.run([str(build(key)), "has_tab"], capture_output=True)
        assert res.returncode == want, key
