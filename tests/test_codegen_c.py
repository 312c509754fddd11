"""Generated C kernels: bit-exact with hwq.datapath on every ISA, sanitizers, ragged K."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq import datapath as dp

from hwq.codegen.build import CKernels, compile_c
from hwq.codegen.check import check_c, pad_rows, padded_k

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

CONFIGS = [HwqConfig(), HwqConfig(lattice="Z", q=8), HwqConfig(lattice="D4", q=4),
           HwqConfig(lattice="E8", q=7)]


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
    ragged = EncodedMatrix(cfg, 189, 5, 0, pack_bits(np.zeros((5, 63), dtype=np.int64), cfg.code_bits),
                           pack_bits(np.zeros((5, 63), dtype=np.int64), cfg.ladder_bits), np.ones(5, np.float32))
    with pytest.raises(HwqError, match="Hadamard size.*K = 189"):
        lib.wo_acc(ragged, np.zeros((189, 1), dtype=np.int64))
    with pytest.raises(HwqError, match="shape"):
        lib.wo_acc(enc, np.zeros((191, 1), dtype=np.int64))
    assert padded_k(4096, cfg) == 4224
    w = rng.standard_normal((100, 6))
    x = rng.standard_normal((100, 2))
    wp, xp = pad_rows(w, cfg), pad_rows(x, cfg)
    assert wp.shape[0] == 192 and np.array_equal(wp[:100], w) and not wp[100:].any()
    encp = encode_matrix(wp, cfg)
    y, acc = lib.gemv_exact(encp, xp)
    assert np.array_equal(y, dp.weight_only_gemv(encp, xp))
    assert np.any(acc != 0)


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
    rep = check_c(cfg, sys.argv[1] + "/" + cfg.slug, m=9, batches=(1, 3), sanitize=True)
    out[cfg.slug] = rep["ok"]
print(json.dumps(out))
"""


def test_sanitizers_address_and_undefined(tmp_path):
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("libasan not available")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    res = subprocess.run([sys.executable, "-c", _SAN_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result and all(result.values()), result


def test_bench_c_small_shape_reports_figures(build_root, tmp_path):
    from hwq.codegen.bench import bench_c, write_report

    cfg = HwqConfig()
    res = bench_c(cfg, build_root / cfg.slug, nthreads=1, reps=1, shapes=((192, 64),), batches=(1,), log=lambda s: None)
    row = res["rows"][0]
    assert row["k_padded"] == 192 and row["hwq_exact_ms"] > 0 and row["numpy_fp32_ms"] > 0
    assert 3.0 < row["bits_per_entry_read"] < 4.0  # 8 + 2 bits per 3 entries + norm
    js, md = write_report(res, tmp_path)
    assert js.name == f"c_{cfg.slug}.json" and "| 192x64 | 1 |" in md.read_text()
