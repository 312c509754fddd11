"""Generated C kernels: bit-exact with hwq.datapath on every ISA, sanitizers, ragged K."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits
from hwq.errors import HwqError
from hwq.matmul import decode_matrix, encode_matrix
from hwq import datapath as dp
from hwq.voronoi import codebook

from hwq.codegen.build import CKernels, compile_c
from hwq.codegen.check import check_c, pad_rows

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

CONFIGS = [HwqConfig(), HwqConfig(lattice="Z", q=8), HwqConfig(lattice="D4", q=4),
           HwqConfig(lattice="E8", q=7)]


def _has_vnni() -> bool:
    """Whether this CPU has AVX-512 VNNI (the decode-then-dot loop needs it beside VBMI)."""
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512_vnni" in f.read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cgc")


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug)
def test_check_c_bit_exact(cfg, build_root):
    rep = check_c(cfg, build_root / cfg.slug, m=29, batches=(1, 5))
    bad = [c for c in rep["cases"] if not c["ok"]]
    assert not bad, bad
    assert "scalar" in rep["isas"]
    kernels = {c["kernel"] for c in rep["cases"]}
    assert {"weight_only_acc", "gemv_exact", "lut_acc", "gemv_fast", "dequantize", "rotate"} <= kernels
    assert rep["table_path"] == (cfg.lattice != "E8")


def test_small_tiles_and_frequent_flushes_stay_bit_exact(tmp_path):
    """Tiny layout tiles, one block per table build, int32 flushes every 2-3 blocks, ragged M (70 = 64 + 6):
    every path through tiles, sub-tiles, flushes and thread splits of the table path."""
    cfg = HwqConfig()
    defines = {"HWQ_BT": 5, "HWQ_TAB_BYTES": 1, "HWQ_TAB_BYTES_L1": 1, "HWQ_FLUSH_BLOCKS": 3,
               "HWQ_FLUSH_BLOCKS_LUT": 2,
               "HWQ_FLUSH_BLOCKS_FIX": 2}
    lib = CKernels(cfg, compile_c(cfg, tmp_path, defines=defines), nthreads=2)
    rng = np.random.default_rng(5)
    enc = encode_matrix(rng.standard_normal((192, 70)), cfg)
    act = dp.prepare_activations(rng.standard_normal((192, 3)), cfg)
    ref = dp.weight_only_acc(enc, act.x_rot)
    codes = dp.encode_activations(act.x_rot, cfg)
    ref_lut = dp.lut_acc(enc, codes)
    xf = rng.standard_normal((192, 2)).astype(np.float32)
    yf_ref = decode_matrix(enc).T @ xf.astype(np.float64)
    pw = lib.pack(enc)
    assert pw.data.size == 64 * 2 * (64 + 8 * cfg.ladder_bits)  # nb = 64 blocks, 2 groups of 64 columns
    for isa in lib.available_isas():
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(pw, act.x_rot), ref), isa
        assert np.array_equal(lib.wo_acc(pw, act.x_rot[:, :1]), ref[:, :1]), isa
        assert np.array_equal(lib.lut_acc(pw, codes), ref_lut), isa
        yf = lib.gemv_fast(pw, xf).astype(np.float64)
        assert np.linalg.norm(yf - yf_ref) <= 1e-5 * np.linalg.norm(yf_ref), isa


def worst_case(cfg: HwqConfig, xabs: int, nvec: int, m: int = 65) -> tuple[EncodedMatrix, np.ndarray]:
    """K close to max_k, every block the codeword of the largest sum |c_i| at the top ladder rung, and nvec
    activation vectors of magnitude xabs aligned with (even j) and against (odd j) the codeword's signs: the
    largest sums every table and accumulator of the C kernels must hold (also used by
    test_codegen_c_avx2.py)."""
    cb = codebook(cfg.lattice, cfg.q).astype(np.int64)
    r = int(np.argmax(np.abs(cb).sum(axis=1)))
    k = cfg.max_k // 192 * 192
    nb = k // cfg.dim
    lad = pack_bits(np.full((m, nb), cfg.ladder_len - 1), cfg.ladder_bits)
    codes = pack_bits(np.full((m, nb), r), cfg.code_bits)
    enc = EncodedMatrix(cfg, k, m, 0, codes, lad, np.ones(m, np.float32))
    sign = np.where(np.tile(cb[r], nb) < 0, -1, 1)
    return enc, np.stack([sign * xabs * (1 - 2 * (j % 2)) for j in range(nvec)], axis=1)


def test_worst_case_activations_at_max_k_do_not_overflow(build_root):
    """Largest |codeword| block everywhere, ladder index of the largest multiplier, x_rot = +-act_rot_bound
    aligned with the codeword signs, K close to max_k: the int32 partial sums must not overflow."""
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug), nthreads=2)
    enc, x_rot = worst_case(cfg, cfg.act_rot_bound, 4)
    ref = dp.weight_only_acc(enc, x_rot)
    assert abs(int(ref[0, 0])) > 2**31  # the int64 result really needs more than int32
    pw = lib.pack(enc)
    for isa in lib.available_isas():
        lib.set_isa(isa)
        assert np.array_equal(lib.wo_acc(pw, x_rot[:, :2]), ref[:, :2]), isa  # table loops
        assert np.array_equal(lib.wo_acc(pw, x_rot), ref), isa  # batch 4: the decode-then-dot loop on VNNI
        if isa == "avx512vbmi" and _has_vnni():
            assert lib.last_kernel() == "decode"
    lib.set_isa("auto")


# the decode loop's configs: 1-4 coordinates (one or two per packed lookup), ladder_bits 0, 1 and 2
_DEC_CONFIGS = CONFIGS[:3] + [HwqConfig(ladder_len=1), HwqConfig(ladder_len=2)]


@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")  # a clipped block is still a codeword
@pytest.mark.parametrize("cfg", _DEC_CONFIGS, ids=lambda c: c.slug)
def test_decode_loop_bit_exact_for_batch_1_to_8_and_ragged_tiles(cfg, tmp_path):
    """The decode-then-dot loop forced on from batch 1 (HWQ_DEC_MIN_BATCH=1) with 5-block layout tiles, so
    chunks are odd (the last block pair has a zero partner) and K is not a multiple of the tile, and 70
    columns (a padded second group): weight-only accumulators and the exact GEMV bit-equal to hwq.datapath
    for batch 1-8 on every ISA (AVX-512 VBMI + VNNI runs the decode loop, the others the table loops)."""
    lib = CKernels(cfg, compile_c(cfg, tmp_path, defines={"HWQ_DEC_MIN_BATCH": 1, "HWQ_BT": 5}), nthreads=2)
    rng = np.random.default_rng(11)
    k = 2 * cfg.k_step
    enc = encode_matrix(rng.standard_normal((k, 70)), cfg)
    pw = lib.pack(enc)
    x = rng.standard_normal((k, 8)) * rng.uniform(0.5, 3.0, size=8)
    decode_ran = False
    for isa in lib.available_isas():
        lib.set_isa(isa)
        for b in range(1, 9):
            act = dp.prepare_activations(x[:, :b], cfg)
            ref = dp.weight_only_acc(enc, act.x_rot)
            y, acc = lib.gemv_exact(pw, x[:, :b])
            assert np.array_equal(acc, ref), (isa, b)
            y_ref = dp.weight_only_output(ref, dp.weight_scale(enc), act.scale, cfg)
            assert np.array_equal(y, y_ref), (isa, b)
            decode_ran |= lib.last_kernel() == "decode"
    lib.set_isa("auto")
    assert decode_ran == ("avx512vbmi" in lib.available_isas() and _has_vnni())


def test_the_kernel_is_picked_by_batch(build_root):
    """On AVX-512 VBMI + VNNI the table lookups serve batch 1-2 and the decode-then-dot loop batch >= 3
    (HWQ_DEC_MIN_BATCH, the crossover measured at 4096x4096, 4096x14336 and 14336x4096)."""
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    if "avx512vbmi" not in lib.available_isas() or not _has_vnni():
        pytest.skip("needs AVX-512 VBMI and VNNI")
    rng = np.random.default_rng(4)
    enc = encode_matrix(rng.standard_normal((192, 64)), cfg)
    pw = lib.pack(enc)
    act = dp.prepare_activations(rng.standard_normal((192, 8)), cfg)
    for b, want in ((1, "vnni"), (2, "vnni"), (3, "decode"), (4, "decode"), (8, "decode")):
        assert np.array_equal(lib.wo_acc(pw, act.x_rot[:, :b]), dp.weight_only_acc(enc, act.x_rot[:, :b]))
        assert lib.last_kernel() == want, b


@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")
@pytest.mark.parametrize(("permb", "streams", "bt"),
                         [(0, 2, 5), (1, 2, 5), (1, 1, 5), (0, 3, 64), (1, 3, 64)])
@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: c.slug)
def test_vnni_loop_bit_exact_with_either_plane_lookup(cfg, permb, streams, bt, tmp_path):
    """The batch 1-3 table loop (hwq_groups_vnni) with its byte-plane lookups forced to vpermi2b
    (HWQ_PERMB=0) or to four vpermb (HWQ_PERMB=1), whichever this CPU's vendor would pick, and batch 1 read
    as 1, 2 or 3 record streams (HWQ_VNNI_NS; 7 column groups leave one over, and a layout of one tile
    splits the groups between the 2 threads, so a stream set starts past group 0): bit-equal to
    hwq.datapath, with codes in every quarter of the 256-entry planes (D4 q=4 fills all 256 rows). The
    decode-then-dot loop is held back to batch 4 so that batch 3 runs the table loop too."""
    defines = {"HWQ_PERMB": permb, "HWQ_BT": bt, "HWQ_DEC_MIN_BATCH": 4, "HWQ_VNNI_NS": streams}
    lib = CKernels(cfg, compile_c(cfg, tmp_path, defines=defines), nthreads=2)
    if "avx512vbmi" not in lib.available_isas() or not _has_vnni():
        pytest.skip("needs AVX-512 VBMI and VNNI")
    rng = np.random.default_rng(21)
    k = 2 * cfg.k_step
    m = 64 * 6 + 10
    enc = encode_matrix(rng.standard_normal((k, m)) * rng.uniform(0.2, 4.0, size=m), cfg)
    pw = lib.pack(enc)
    act = dp.prepare_activations(rng.standard_normal((k, 3)) * 3.0, cfg)
    for b in (1, 2, 3):
        assert np.array_equal(lib.wo_acc(pw, act.x_rot[:, :b]), dp.weight_only_acc(enc, act.x_rot[:, :b])), b
        assert lib.last_kernel() == "vnni", b


def test_benchmark_baselines_compute_what_they_claim(build_root):
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug), nthreads=2)
    rng = np.random.default_rng(3)
    w8 = rng.integers(-127, 128, (37, 300), dtype=np.int8)
    x8 = rng.integers(-127, 128, (300, 3), dtype=np.int8)
    assert np.array_equal(lib.int8_gemv(w8, x8), w8.astype(np.int64) @ x8.astype(np.int64))
    buf = rng.integers(0, 256, 8 * 1001, dtype=np.uint8)
    assert lib.stream_read(buf) == int(np.bitwise_xor.reduce(buf.view(np.uint64))) & (2**63 - 1)


def test_a_corrupted_code_is_detected(build_root):
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    rng = np.random.default_rng(1)
    enc = encode_matrix(rng.standard_normal((192, 7)), cfg)
    act = dp.prepare_activations(rng.standard_normal((192, 2)), cfg)
    ref = dp.weight_only_acc(enc, act.x_rot)
    assert np.array_equal(lib.wo_acc(enc, act.x_rot), ref)
    enc.codes[3, 5] ^= 1
    assert not np.array_equal(lib.wo_acc(enc, act.x_rot), ref)


def test_ragged_k_fails_clearly_and_padding_works(build_root):
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    rng = np.random.default_rng(2)
    enc = encode_matrix(rng.standard_normal((192, 5)), cfg)
    zeros = np.zeros((5, 63), dtype=np.int64)
    ragged = EncodedMatrix(cfg, 189, 5, 0, pack_bits(zeros, cfg.code_bits), pack_bits(zeros, cfg.ladder_bits),
                           np.ones(5, np.float32))
    with pytest.raises(HwqError, match="Hadamard size.*K = 189"):
        lib.wo_acc(ragged, np.zeros((189, 1), dtype=np.int64))
    with pytest.raises(HwqError, match="shape"):
        lib.wo_acc(enc, np.zeros((191, 1), dtype=np.int64))
    assert cfg.padded_k(4096) == 4224
    w = rng.standard_normal((100, 6))
    x = rng.standard_normal((100, 2))
    wp, xp = pad_rows(w, cfg), pad_rows(x, cfg)
    assert wp.shape[0] == 192 and np.array_equal(wp[:100], w) and not wp[100:].any()
    encp = encode_matrix(wp, cfg)
    y, acc = lib.gemv_exact(encp, xp)
    assert np.array_equal(y, dp.weight_only_gemv(encp, xp))
    assert np.any(acc != 0)


def test_exact_front_end_bit_equal_on_ties_zeros_and_extremes(build_root):
    """The exact GEMV's activation front end (quantize + rotate; one AVX-512 pass, hwq_acts_x86.h, on
    AVX-512 and VBMI) against hwq.datapath on every ISA: exact .5 ties of x / s (floor(x / s + 0.5) rounds
    them up), -0.0, an all-zero vector (s = 1), 1e300 beside 1e-300, values a hair below max|x|."""
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    k = 3 * 128
    rng = np.random.default_rng(8)
    enc = encode_matrix(rng.standard_normal((k, 40)), cfg)
    x = np.zeros((k, 5))
    x[:, 0] = np.resize(np.arange(-127, 127) + 0.5, k)  # max|x| = 126.5: x / s lands on halves and near them
    x[:254, 1] = np.arange(-127, 127) + 0.5
    x[254, 1], x[255, 1] = 127.0, -0.0  # s = 1 exactly: every x / s + 0.5 is an exact tie
    x[::7, 2] = 1e300
    x[1::7, 2] = -1e-300
    x[:, 3] = 0.0
    x[:, 4] = rng.standard_normal(k)
    x[10, 4] = np.abs(x[:, 4]).max() * (1 + 2.0**-52)
    x[11, 4] = -x[10, 4] * (1 - 2.0**-52)
    act = dp.prepare_activations(x, cfg)
    ref_acc, ref_y = dp.weight_only_acc(enc, act.x_rot), dp.weight_only_gemv(enc, x)
    assert len(np.unique(act.x_int[:, 1])) > 200  # the ties really land on many integers
    for isa in lib.available_isas():
        lib.set_isa(isa)
        y, acc = lib.gemv_exact(enc, x)
        assert np.array_equal(acc, ref_acc), isa
        assert np.array_equal(y, ref_y), isa
    lib.set_isa("auto")


def test_activation_range_is_checked(build_root):
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    with pytest.raises(HwqError, match="act_max|integers"):
        lib.rotate(np.full((64, 1), 128))


_SAN_SCRIPT = """
import json, sys
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits
from hwq.codegen.check import check_c
out = {}
for cfg in (HwqConfig(), HwqConfig(lattice="E8", q=7)):
    rep = check_c(cfg, sys.argv[1] + "/" + cfg.slug, m=9, batches=(1, 3, 5), sanitize=True)
    out[cfg.slug] = rep["ok"]
print(json.dumps(out))
"""


def test_sanitizers_address_and_undefined(tmp_path, run_sanitized):
    out = run_sanitized(_SAN_SCRIPT, tmp_path, timeout=300)
    result = json.loads(out.strip().splitlines()[-1])
    assert result and all(result.values()), result
