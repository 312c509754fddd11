"""The GPU script's record and report (:mod:`hwq.codegen.gpu_bench`): the ``kernel-bench`` record of a
run and its Markdown companion, named after the device."""

from __future__ import annotations

import re
from typing import Any

from hwq.records import KernelBench, RooflinePoint, Stamp

__all__ = ["bench_record", "device_slug", "markdown_report"]


def device_slug(name: str) -> str:
    """File-name slug of a device name: ``"NVIDIA H100 80GB HBM3"`` -> ``"nvidia_h100_80gb_hbm3"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "gpu"


def bench_record(report: dict[str, Any], cfg: Any, ok: bool) -> KernelBench:
    """The ``kernel-bench`` record of a run: ``report`` = {"device", "sm", "torch", "cuda", "stages"}.

    Measured points: cuBLAS fp16 and the hwq fast path (CUDA-graph timing) of every benchmark row.
    """
    rows = report["stages"].get("bench", {}).get("result") or []
    dev = report["device"]
    pts = tuple(RooflinePoint(device=dev, kernel=kernel, family=fam, k=r["k"], m=r["m"], batch=r["batch"],
                              time_s=r[key] * 1e-6, slug=cfg.slug if fam == "hwq" else "")
                for r in rows for key, kernel, fam in (("cublas_fp16_us", "cublas_fp16", "fp16"),
                                                       ("hwq_fast_us", "hwq_fast", "hwq")))
    stamp = Stamp.now(cfg, tools={"torch": report["torch"], "cuda": str(report["cuda"])})
    stages = {k: v for k, v in report["stages"].items() if k != "bench"}
    bench = {k: v for k, v in report["stages"].get("bench", {}).items() if k != "result"}
    return KernelBench(stamp=stamp, backend="cuda", device=dev, ok=ok, points=pts, rows=tuple(rows),
                       detail={"sm": report["sm"], "stages": {**stages, "bench": bench}})


_TABLE_NOTE = ("GPU time per call from CUDA graphs cycling through > 120 MB of weight copies (cold L2, no "
               "launch overhead), hwq and cuBLAS alike; 'eager' = one Python call between CUDA events "
               "after an L2 flush. Bytes read = codes + ladder + norms + fp16 activations.")
_TABLE_HEAD = ("| K x M | batch | path | bits/weight | cuBLAS fp16 us | hwq fast us | speedup | GB/s read "
               "| % HBM read | speedup eager | exact us | spot check |")


def _table_row(r: dict[str, Any]) -> str:
    pct = f"{r['pct_of_hbm_read']:.0f}" if "pct_of_hbm_read" in r else "-"
    ex = f"{r['hwq_exact_us']:.1f}" if "hwq_exact_us" in r else "-"
    eg = f"{r['speedup_vs_cublas_eager']:.2f}" if "speedup_vs_cublas_eager" in r else "-"
    sp = ("ok" if r["spot_check"]["ok"] else "FAIL") if "spot_check" in r else "-"
    return (f"| {r['k']}x{r['m']} | {r['batch']} | {r['path']} | {r['bits_per_weight_read']:.3f} | "
            f"{r['cublas_fp16_us']:.1f} | {r['hwq_fast_us']:.1f} | {r['speedup_vs_cublas']:.2f} | "
            f"{r['hwq_read_GBps']:.0f} | {pct} | {eg} | {ex} | {sp} |")


def markdown_report(rec: KernelBench) -> str:
    """The Markdown companion of the record (correctness verdict first, then the timing table)."""
    report = {"stages": rec.detail["stages"]}
    lines = [f"# CUDA kernels on {rec.device} (config `{rec.stamp.slug}`)", ""]
    chk = report["stages"].get("check", {})
    res = chk.get("result", {})
    verdict = "PASS" if chk.get("ok") and res.get("ok") else "FAIL"
    lines.append(f"Correctness: **{verdict}** (exact mode bit-exact: {res.get('exact_ok')}, "
                 f"table path checked: {res.get('table_path_checked')})")
    for c in res.get("cases", []):
        extra = f", rel err {c['rel_err']:.2e}" if "rel_err" in c else ""
        lines.append(f"- {'ok  ' if c['ok'] else 'FAIL'} {c['name']} ({c.get('path', '-')}{extra})")
    if not chk.get("ok", True):
        lines.append(f"- check stage raised: {chk.get('error')}")
    hbm = report["stages"].get("hbm_bandwidth", {}).get("result")
    if hbm:
        lines += ["", f"Measured HBM: read {hbm['read_GBps']:.0f} GB/s (torch.sum over 4 GiB), "
                      f"copy {hbm['copy_GBps_read_plus_write']:.0f} GB/s read+write (1 GiB)."]
    san = report["stages"].get("compute_sanitizer", {}).get("result")
    if san:
        tools = ", ".join(f"{t} {san[t]['errors']} errors" for t in ("memcheck", "racecheck") if t in san)
        lines.append("compute-sanitizer: " + (tools if san.get("ran") else san.get("reason", "")))
    if rec.rows:
        lines += ["", _TABLE_NOTE, "", _TABLE_HEAD, "| --- " * 12 + "|"]
        lines += [_table_row(r) for r in rec.rows]
    return "\n".join(lines) + "\n"
