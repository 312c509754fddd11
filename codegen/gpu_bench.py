"""GPU script: check and benchmark the generated CUDA kernels on an NVIDIA H100/H200-class machine.

Run in one call on a GPU machine (torch with CUDA and nvcc needed)::

    python -m hwq.codegen.gpu_bench [--config FILE] [--out reports/bench] [--quick] [--no-sanitizer]

Stages (each recorded in the JSON; a failing stage does not stop the others, but any correctness
failure makes the exit status 1 and is printed as ``CORRECTNESS FAILURE``):

1. build ``lib<name>_cuda.so`` for the GPU's SM (nvcc, ``-lineinfo``) and load it with ctypes (device
   pointers from torch);
2. check: exact mode (weight-only accumulators of the TABLE path -- batch 1, 3 and 11, i.e. passes
   of 1, 2 and 4 vectors -- and of the GENERIC path -- forced, and through a misaligned copy of the
   codes --, end-to-end exact GEMV with the float64
   epilogue, LUT accumulators) compared with ``np.array_equal`` against :mod:`hwq.datapath`; fast
   mode relative error against the float64 product of the dequantized weights (<= 1e-3) on both
   paths; dequantize fp32 against :func:`hwq.matmul.decode_matrix`;
3. HBM bandwidth in the same run: a read-only reduction (``torch.sum``) over a 4 GiB buffer (the
   reference for "% of HBM read bandwidth") and a 1 GiB device-to-device copy;
4. timing of the fast GEMV against torch fp16 ``F.linear`` (cuBLAS), both the same way: GPU time per
   call from a CUDA graph that cycles through > 120 MB of weight copies (cold L2, no launch overhead;
   the headline figures), and eager single calls between CUDA events after an L2 flush (launch and
   Python overhead included), at the shapes of issue 6 (K x M = 4096x4096,
   4096x14336, 14336x4096, 4096x6144, 8192x28672) and batch 1, 4, 16, 64, with the bytes actually read
   (codes + ladder + norms + fp16 activations), bits per weight entry read and % of the measured HBM
   read bandwidth; the exact GEMV is timed at batch 1 and 16; at batch 1 and 4 the full-size exact
   accumulators are compared with the reference on 64 sampled columns (and the fast-mode error);
5. compute-sanitizer memcheck and racecheck once on the small check (when it is on PATH).

Writes ``reports/bench/cuda_<device>.json`` and ``.md``. This module runs the stages; the parts live in
:mod:`~hwq.codegen.cuda_lib` (the ctypes wrapper), :mod:`~hwq.codegen.gpu_check` (stage 2 and the spot
check), :mod:`~hwq.codegen.gpu_timing` (stages 3 and 4) and :mod:`~hwq.codegen.gpu_report` (the record and
its Markdown).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from hwq.codegen.cuda_lib import CudaLib
from hwq.codegen.gpu_check import check_kernels
from hwq.codegen.gpu_report import bench_record, device_slug, markdown_report
from hwq.codegen.gpu_timing import bench_rows, hbm_bandwidth

__all__ = ["gpu_available", "main", "parse_args"]


def gpu_available() -> tuple[bool, str]:
    """(True, device name) when torch sees a CUDA GPU, else (False, reason)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    try:
        if not torch.cuda.is_available():
            return False, "torch.cuda.is_available() is False"
        return True, torch.cuda.get_device_name(0)
    except Exception as e:  # driver problems surface here
        return False, f"CUDA init failed: {e}"


def _sanitizer(args) -> dict[str, Any]:
    exe = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not Path(exe).is_file():
        return {"ran": False, "reason": "compute-sanitizer not found"}
    out: dict[str, Any] = {"ran": True}
    for tool in ("memcheck", "racecheck"):
        cmd = [exe, "--tool", tool, "--error-exitcode", "9", sys.executable, "-m", "hwq.codegen.gpu_bench",
               "--check-only", "--build-dir", args.build_dir]
        if args.config:
            cmd += ["--config", args.config]
        t = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        tail = (res.stdout + res.stderr)[-3000:]
        m = re.search(r"ERROR SUMMARY: (\d+) error", tail)
        out[tool] = {"returncode": res.returncode, "errors": int(m.group(1)) if m else None,
                     "seconds": round(time.time() - t, 1), "tail": tail[-800:]}
    out["ok"] = all(out[t]["returncode"] == 0 and out[t]["errors"] == 0 for t in ("memcheck", "racecheck"))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hwq.codegen.gpu_bench", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()")
    p.add_argument("--build-dir", default="build/codegen_cuda", help="where the library is built")
    p.add_argument("--out", default="reports/bench", help="report folder (cuda_<device>.json / .md)")
    p.add_argument("--quick", action="store_true", help="fewer shapes/batches/repetitions (smoke run)")
    p.add_argument("--no-sanitizer", action="store_true", help="skip compute-sanitizer")
    p.add_argument("--check-only", action="store_true", help="(internal) correctness only, for the sanitizer")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ok, dev = gpu_available()
    if not ok:
        print(f"no usable NVIDIA GPU ({dev}); nothing run", file=sys.stderr)
        return 0
    import torch
    from hwq.codegen.cuda import compile_cuda

    from hwq.config import load_config

    cfg = load_config(args.config)
    cap = torch.cuda.get_device_capability(0)
    sm = f"{cap[0]}{cap[1]}"
    report: dict[str, Any] = {"device": dev, "sm": sm, "torch": torch.__version__, "cuda": torch.version.cuda,
                              "stages": {}}

    def stage(name, fn):
        t = time.time()
        try:
            report["stages"][name] = {"ok": True, "result": fn()}
        except Exception as e:
            report["stages"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                      "trace": traceback.format_exc()[-2000:]}
        report["stages"][name]["seconds"] = round(time.time() - t, 2)
        print(f"[{name}] ok={report['stages'][name]['ok']}", flush=True)

    libpath: dict[str, Path] = {}
    build_dir = Path(args.build_dir) / cfg.slug
    stage("build", lambda: str(libpath.setdefault("p", compile_cuda(cfg, build_dir, (sm,), lineinfo=True))))
    if "p" not in libpath:
        print(json.dumps(report["stages"]["build"], indent=2))
        return 1
    lib = CudaLib(cfg, libpath["p"])
    stage("check", lambda: check_kernels(cfg, lib))
    chk = report["stages"]["check"]
    check_ok = bool(chk["ok"] and chk["result"]["ok"])
    if not check_ok:
        print("CORRECTNESS FAILURE: " + json.dumps(chk.get("result", chk.get("error")), default=str)[:4000],
              file=sys.stderr, flush=True)
    if args.check_only:
        return 0 if check_ok else 1
    stage("hbm_bandwidth", hbm_bandwidth)
    bw = report["stages"]["hbm_bandwidth"].get("result", {}).get("read_GBps")
    stage("bench", lambda: bench_rows(cfg, lib, bw, args.quick))
    spots = [r.get("spot_check") for r in report["stages"]["bench"].get("result") or [] if "spot_check" in r]
    if any(not sp["ok"] for sp in spots):
        check_ok = False
        print("CORRECTNESS FAILURE: full-size spot check: " + json.dumps(spots), file=sys.stderr, flush=True)
    san_ok = True
    if not args.no_sanitizer:
        stage("compute_sanitizer", lambda: _sanitizer(args))
        san = report["stages"]["compute_sanitizer"].get("result", {})
        san_ok = bool(not san.get("ran") or san.get("ok"))
        if not san_ok:
            print("CORRECTNESS FAILURE: compute-sanitizer reported errors", file=sys.stderr, flush=True)
    ok = check_ok and san_ok and all(s["ok"] for s in report["stages"].values())
    rec = bench_record(report, cfg, ok)
    path = rec.save(Path(args.out) / f"cuda_{device_slug(dev)}.json")
    path.with_suffix(".md").write_text(markdown_report(rec))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
