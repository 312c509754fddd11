"""The AVX2 loops of the table path (codegen/include/hwq_avx2_wo.h, hwq_avx2_dn.h): for D_n configs the
shuffle decode loop ("dn_decode": codewords computed from the code bytes, every batch, while
sumc * max|x| <= 32767); otherwise (and with HWQ_USE_AVX2DN=0) the int16-table loop ("gather_madd", batch 1)
and the decode-then-dot loop ("gather_decode", from batch 2, or whenever the int16 tables cannot hold the
entries); for the weight-only kernel and the both-quantized LUT kernel (its tables f_Tx LUT[r_x, .] at
batch 1, the decode loop on the activations' decoded codewords from batch 2, or from batch 1 with
dn_decode; it keeps the codewords int8 up to HWQ_DN_W8_MAX = 4 vectors and widens them once to int16
above, so batch 1-8 runs both), bit-equal to hwq.datapath and picked as documented; and the fast-mode loop
("gather_fma", float tables and vgatherdps). They run wherever the CPU has AVX2, forced with set_isa("avx2")
on CPUs that have more."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hwq import datapath as dp
from hwq.codegen.build import CKernels, compile_c
from hwq.config import HwqConfig
from hwq.codegen.check import FAST_RTOL
from hwq.matmul import decode_matrix, encode_matrix
from hwq.voronoi import codebook
from test_codegen_c import worst_case

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

# 3 and 4 coordinates, and 1 (the decode loop pads each codeword to 4 int16 words)
CONFIGS = [HwqConfig(), HwqConfig(lattice="D4", q=4), HwqConfig(lattice="Z", q=8)]


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("avx2")


def _avx2(lib: CKernels) -> None:
    if "avx2" not in lib.available_isas():
        pytest.skip("needs AVX2")
    lib.set_isa("avx2")


@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")  # a clipped block is still a codeword
@pytest.mark.parametrize(("bt", "dec_min", "dn_ns"),
                         [(5, 2, 0), (64, 2, 0), (32, 100, 0), (7, 1, 0), (7, 2, 3), (64, 2, 32)])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug)
def test_avx2_loops_bit_exact_for_batch_1_to_8(cfg, bt, dec_min, dn_ns, tmp_path):
    """The loops at batch 1-8 (HWQ_AVX2_DEC_MIN_BATCH moves the gather loops' switch: 1 = decode only,
    100 = table only; dn_ns = 0 turns the D_n loop off, else it is its pass length: 3 leaves an odd last
    block, 7-block tiles a short last pass), with ragged tiles (5 or 7 blocks: K is not a multiple of the
    tile) or one tile over all of K (64: the 2 threads split the column groups), 394 columns (a padded last
    group): the weight-only accumulators, the exact GEMV and the LUT kernel's accumulators bit-equal to
    hwq.datapath, fast mode ("gather_fma": float tables) within FAST_RTOL of the float64 product of the
    dequantized weights."""
    defines = {"HWQ_BT": bt, "HWQ_AVX2_DEC_MIN_BATCH": dec_min}
    defines.update({"HWQ_DN_NS": dn_ns} if dn_ns else {"HWQ_USE_AVX2DN": 0})
    dn = dn_ns > 0 and cfg.lattice in ("D3", "D4")
    lib = CKernels(cfg, compile_c(cfg, tmp_path, defines=defines), nthreads=2)

    def want(b: int) -> str:
        return "dn_decode" if dn else "gather_decode" if b >= dec_min else "gather_madd"

    _check_batch_1_to_8(cfg, lib, want, want, "gather_fma")


# D_n with 2-byte codes (D3 q=7 and q=8: 343 and 512 codes, D4 q=5: 625): the D_n loop's int16 digits, else
# the generic gather loop; D3 q=8's LUT activations x' = f c exceed its int16 bound (sumc max|c| max f =
# 34752), so its LUT kernel keeps the tables
@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")
@pytest.mark.parametrize(("bt", "dn_ns"), [(7, 3), (64, 32), (64, 0)])
@pytest.mark.parametrize("cfg", [HwqConfig(lattice="D3", q=8), HwqConfig(lattice="D3", q=7),
                                 HwqConfig(lattice="D4", q=5)], ids=lambda c: c.slug)
def test_dn_loop_with_2_byte_codes_bit_exact(cfg, bt, dn_ns, tmp_path):
    defines = {"HWQ_BT": bt, **({"HWQ_DN_NS": dn_ns} if dn_ns else {"HWQ_USE_AVX2DN": 0})}
    lib = CKernels(cfg, compile_c(cfg, tmp_path, defines=defines), nthreads=2)
    cb = np.abs(codebook(cfg.lattice, cfg.q).astype(np.int64))
    f = np.asarray(cfg.beta_mults) // np.gcd.reduce(np.asarray(cfg.beta_mults))
    lut_dn = dn_ns > 0 and int(cb.sum(axis=1).max() * cb.max() * f.max()) <= 32767
    wo = "dn_decode" if dn_ns else "gather"
    _check_batch_1_to_8(cfg, lib, lambda b: wo, lambda b: "dn_decode" if lut_dn else "gather", "gather")


def _check_batch_1_to_8(cfg, lib, want_wo, want_lut, want_fast) -> None:
    _avx2(lib)
    rng = np.random.default_rng(17)
    k, m = 2 * cfg.k_step, 64 * 6 + 10
    enc = encode_matrix(rng.standard_normal((k, m)) * rng.uniform(0.2, 4.0, size=m), cfg)
    pw = lib.pack(enc)
    x = rng.standard_normal((k, 8)) * rng.uniform(0.5, 3.0, size=8)
    for b in range(1, 9):
        act = dp.prepare_activations(x[:, :b], cfg)
        ref = dp.weight_only_acc(enc, act.x_rot)
        assert np.array_equal(lib.wo_acc(pw, act.x_rot), ref), b
        assert lib.last_kernel() == want_wo(b), b
        y, acc = lib.gemv_exact(pw, x[:, :b])
        assert np.array_equal(acc, ref), b
        assert np.array_equal(y, dp.weight_only_output(ref, dp.weight_scale(enc), act.scale, cfg)), b
        codes = dp.encode_activations(act.x_rot, cfg)  # the both-quantized LUT kernel
        assert np.array_equal(lib.lut_acc(pw, codes), dp.lut_acc(enc, codes)), b
        assert lib.last_kernel() == want_lut(b), b
        yf = lib.gemv_fast(pw, x[:, :b]).astype(np.float64)  # fast mode: float tables, the same loop
        assert lib.last_kernel() == want_fast, b
        yf_ref = decode_matrix(enc).astype(np.float64).T @ x[:, :b].astype(np.float32).astype(np.float64)
        assert np.linalg.norm(yf - yf_ref) <= FAST_RTOL * np.linalg.norm(yf_ref), b


@pytest.mark.parametrize(("dn", "nb"), [(True, 1), (True, 8), (False, 1)],
                         ids=["dn_decode-int8", "dn_decode-int16", "gather_madd"])
def test_the_int16_sums_at_their_bound_and_beyond(dn, nb, build_root):
    """The int16 table loop (batch 1) and the D_n loop (whose per-block sums <c, x_b> are int16 too; batch 1
    keeps its codewords int8, batch 8 widens them in the decode) take activations up to sumc * max|x| =
    32767, with the largest sums at the top rung in every block of a K close to max_k (the int32 sums of a
    pass at their largest); one more and they go to the gather decode loop. All exact, the int64 total beyond
    int32."""
    cfg = HwqConfig()
    defines = {} if dn else {"HWQ_USE_AVX2DN": 0}
    lib = CKernels(cfg, compile_c(cfg, build_root / f"{cfg.slug}_{int(dn)}", defines=defines), nthreads=2)
    _avx2(lib)
    sumc = int(np.abs(codebook(cfg.lattice, cfg.q).astype(np.int64)).sum(axis=1).max())
    pw = None
    below = "dn_decode" if dn else "gather_madd"
    for xabs, want in ((32767 // sumc, below), (32767 // sumc + 1, "gather_decode")):
        enc, x_rot = worst_case(cfg, xabs, nb, m=70)
        pw = pw if pw is not None else lib.pack(enc)
        ref = dp.weight_only_acc(enc, x_rot)
        assert abs(int(ref[0, 0])) > 2**31
        assert np.array_equal(lib.wo_acc(pw, x_rot), ref), xabs
        assert lib.last_kernel() == want, xabs


def test_the_decode_loop_at_the_activation_bound(build_root):
    """Decode loop, batch 4, activations at +-act_rot_bound (the largest the exact mode produces) against
    the largest codeword at the top rung: exact, the int64 total beyond int32."""
    cfg = HwqConfig()
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug), nthreads=2)
    _avx2(lib)
    enc, x_rot = worst_case(cfg, cfg.act_rot_bound, 4, m=70)
    ref = dp.weight_only_acc(enc, x_rot)
    assert abs(int(ref[0, 0])) > 2**31
    assert np.array_equal(lib.wo_acc(lib.pack(enc), x_rot), ref)
    assert lib.last_kernel() == "gather_decode"
