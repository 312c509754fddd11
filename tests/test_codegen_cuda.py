"""CUDA kernels: nvcc builds for sm_80 and sm_90 without warnings or GEMV spills; the GPU script's
non-GPU parts (argument parsing, byte accounting, report) work without a GPU."""

from __future__ import annotations


import numpy as np
import pytest

from hwq.codegen import gpu_bench, gpu_report
from hwq.codegen.bench_backends import random_encoded
from hwq.codegen.cuda import GEMV_KERNELS, compile_cuda, find_nvcc, parse_ptxas
from hwq.codegen.gpu_timing import bytes_read
from hwq.config import HwqConfig
from hwq.records import KernelBench, load


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if find_nvcc() is None:
        pytest.skip("nvcc not installed")
    return compile_cuda(HwqConfig(), tmp_path_factory.mktemp("cuda"), archs=("80", "90"), ptxas_verbose=True)


def test_cuda_compiles_for_sm80_and_sm90(built):
    lib, _ = built
    data = lib.read_bytes()
    # the fat binary records the ptxas/nvlink options of each embedded cubin
    assert b"-arch sm_80" in data and b"-arch sm_90" in data
    for sym in ("gemv_exact", "gemv_fast", "wo_acc", "work_bytes", "set_path", "path", "plan"):
        assert f"hwq_{HwqConfig().slug}_cuda_{sym}".encode() in data


def test_gemv_kernels_do_not_spill(built):
    """No local memory (spills or stack) in any GEMV kernel; the table kernels fit the 128 registers that
    __launch_bounds__(256, 2) allows (2 thread blocks per SM)."""
    _, report = built
    assert set(report) == {"sm_80", "sm_90"}
    for arch, kernels in report.items():
        gemv = {k: v for k, v in kernels.items() if k.startswith(GEMV_KERNELS)}
        assert any(k.startswith("_Z9hwq_k_tab") for k in gemv), arch  # the table path is built
        assert len(gemv) >= 2 + 3 * 8
        for k, v in gemv.items():
            assert v["spill_stores"] == 0 and v["spill_loads"] == 0 and v["stack"] == 0, (arch, k, v)
            if k.startswith("_Z9hwq_k_tab"):
                assert v["registers"] <= 128, (arch, k, v)


def test_parse_ptxas_reads_spills():
    text = ("ptxas info    : Compiling entry function '_Z8hwq_k_woILi8EEvPKh' for 'sm_80'\n"
            "ptxas info    : Function properties for _Z8hwq_k_woILi8EEvPKh\n"
            "    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads\n"
            "ptxas info    : Used 255 registers, used 1 barriers, 672 bytes smem\n")
    assert parse_ptxas(text) == {"sm_80": {"_Z8hwq_k_woILi8EEvPKh": {"stack": 8, "spill_stores": 12,
                                                                     "spill_loads": 16, "registers": 255}}}


def test_gpu_bench_arguments_and_no_gpu(capsys):
    args = gpu_bench.parse_args([])
    assert (args.config, args.out, args.quick, args.no_sanitizer) == (None, "reports/bench", False, False)
    args = gpu_bench.parse_args(["--quick", "--no-sanitizer", "--out", "x", "--config", "c.toml"])
    assert (args.quick, args.no_sanitizer, args.out, args.config) == (True, True, "x", "c.toml")
    with pytest.raises(SystemExit):
        gpu_bench.parse_args(["--bogus"])
    ok, why = gpu_bench.gpu_available()
    if not ok:  # the script says so and runs nothing (exit 0): `hwq bench cuda` on a CPU-only machine
        assert gpu_bench.main(["--out", "unused"]) == 0
        assert "nothing run" in capsys.readouterr().err


def test_bytes_read_equals_container_sizes():
    cfg = HwqConfig()
    enc = random_encoded(cfg, 4224, 40)
    b = bytes_read(enc, 16, act_bytes=2)
    assert b["weights"] == enc.nbytes() == enc.codes.nbytes + enc.ladder.nbytes + 4 * 40
    assert b["codes"] == 40 * 4224 // 3 and b["ladder"] == 40 * (4224 // 3) // 4
    assert b["total"] == enc.nbytes() + 16 * 4224 * 2
    # bits per weight entry actually read by the D3 q=6 kernels: 8 code + 2 ladder bits per 3 entries + norms
    assert 8 * b["weights"] / (4224 * 40) == pytest.approx(10 / 3 + 32 / 4224)


def test_markdown_report_verdicts(tmp_path):
    rows = [{"k": 8192, "k_padded": 8256, "m": 28672, "batch": 1, "path": "table",
             "bits_per_weight_read": 3.37, "cublas_fp16_us": 179.0, "hwq_fast_us": 44.0,
             "speedup_vs_cublas": 4.07, "hwq_read_GBps": 2240.0,
             "pct_of_hbm_read": 76.2, "hwq_exact_us": 60.0, "speedup_vs_cublas_eager": 3.5,
             "spot_check": {"ok": True, "exact_equal": True, "fast_rel_err": 1e-7, "columns_checked": 64}}]
    cases = [{"name": "wo_acc b=1 auto", "ok": False, "path": "table"},
             {"name": "gemv_fast b=1 auto", "ok": True, "path": "table", "rel_err": 2e-7}]
    rep = {"device": "NVIDIA H100 80GB HBM3", "sm": "90", "torch": "2.5.1", "cuda": "12.4", "stages": {
        "check": {"ok": True, "result": {"ok": False, "exact_ok": False, "table_path_checked": True,
                                         "cases": cases}},
        "hbm_bandwidth": {"ok": True, "result": {"read_GBps": 2940.0, "copy_GBps_read_plus_write": 3000.0}},
        "bench": {"ok": True, "result": rows}}}
    rec = gpu_report.bench_record(rep, HwqConfig(), ok=False)
    md = gpu_report.markdown_report(rec)
    assert "Correctness: **FAIL**" in md and "FAIL wo_acc b=1 auto (table)" in md
    assert "| 8192x28672 | 1 | table | 3.370 | 179.0 | 44.0 | 4.07 | 2240 | 76 | 3.50 | 60.0 | ok |" in md
    # the record main() writes: typed points for the roofline, read back exactly
    assert [(p.family, p.kernel, p.time_s) for p in rec.points] == [("fp16", "cublas_fp16", 179e-6),
                                                                    ("hwq", "hwq_fast", 44e-6)]
    assert rec.points[1].slug == HwqConfig().slug and rec.stamp.tools["cuda"] == "12.4"
    assert load(rec.save(tmp_path / "cuda.json"), KernelBench) == rec
    rep["stages"]["check"]["result"].update(ok=True, exact_ok=True)
    rep["stages"]["check"]["result"]["cases"][0]["ok"] = True
    rec = gpu_report.bench_record(rep, HwqConfig(), ok=True)
    assert "Correctness: **PASS**" in gpu_report.markdown_report(rec)
    assert gpu_report.device_slug("NVIDIA H100 80GB HBM3") == "nvidia_h100_80gb_hbm3"
    assert np.isfinite(rows[0]["pct_of_hbm_read"])


def test_dispatch_and_argument_errors_without_gpu(built):
    """The host side of the launchers runs without a GPU: path selection (table path only for 16-byte
    aligned codes, 4-byte aligned ladder and nb % 16 == 0; cuda_set_path(1) forces the generic kernels),
    the workspace size, and the argument checks that return before any CUDA call."""
    import ctypes

    lib_path, _ = built
    lib = ctypes.CDLL(str(lib_path))
    pre = f"hwq_{HwqConfig().slug}_cuda_"

    def fn(name, restype=ctypes.c_int):
        f = getattr(lib, pre + name)
        f.restype = restype
        return f

    i64, vp = ctypes.c_int64, ctypes.c_void_p
    buf = np.zeros(256, dtype=np.uint8)
    al = (buf.ctypes.data + 15) // 16 * 16
    path = fn("path")
    assert path(vp(al), vp(al), i64(8256), i64(28672), i64(1)) == 1
    assert path(vp(al), vp(al), i64(8256), i64(28672), i64(16)) == 1  # batches run in passes of 4/2/1
    assert path(vp(al + 1), vp(al), i64(8256), i64(28672), i64(1)) == 0  # misaligned codes: generic
    assert path(vp(al), vp(al + 2), i64(8256), i64(28672), i64(1)) == 0  # misaligned ladder
    assert path(vp(al), vp(al), i64(120), i64(8), i64(1)) == 0  # nb = 40 is not a multiple of 16
    set_path = fn("set_path")
    assert set_path(ctypes.c_int(1)) == 0
    assert path(vp(al), vp(al), i64(8256), i64(28672), i64(1)) == 0
    assert set_path(ctypes.c_int(0)) == 0 and set_path(ctypes.c_int(2)) == 1004
    assert fn("work_bytes", ctypes.c_int64)(i64(8256), i64(28672), i64(1)) == 43 * 28672 * 4 * 8
    wo = fn("wo_acc")
    for k, m, b, rc in ((100, 8, 1, 1001), (99, 8, 1, 1002), (3 * 64 * 100, 8, 1, 1003), (192, 0, 1, 1004),
                        (192, 8, 0, 1004)):
        rc_got = wo(vp(al), vp(al), i64(k), i64(m), vp(al), i64(b), vp(al), vp(al), i64(0), vp(None))
        assert rc_got == rc, (k, m, b)
