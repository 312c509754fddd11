"""The host study of ``hwq roofline --device host``: roofs calibrated now, each kernel's predicted time per
layer of the model, and validation against ``hwq bench c`` (:mod:`hwq.perf.host_roofs`,
:mod:`hwq.perf.host_validate`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.cost import hwq_cost, model_summary
from hwq.perf.devices import Device
from hwq.perf.models import Model, Workload

__all__ = ["HOST_BASELINE", "HOST_LAYER_THREADS", "host_study"]

# the host: roofs calibrated now (hwq.perf.host_roofs), one model per backend, validated against hwq bench c
HOST_BASELINE = "numpy_fp32"
HOST_LAYER_THREADS = 1


def _host_bytes(cfg: HwqConfig, kernel: str, bpw: float, k: int, m: int) -> float:
    """Weight bytes a host kernel reads for a K x M matrix (bytes per stored entry from the calibration)."""
    if kernel.startswith("hwq_"):
        return bpw * cfg.padded_k(k) * m
    if kernel == "e8_exact":
        return bpw * HwqConfig(lattice="E8", q=7).padded_k(k) * m
    return bpw * k * m


def host_study(cfg: HwqConfig, dev: Device, mdl: Model, wl: Workload, kbench: list[Any],
                build_dir: str | Path, log: Any, kernels: tuple[str, ...] | None = None,
                threads: tuple[int, ...] = (1, 2),
                ) -> tuple[Device, list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Calibrate the host now, predict the model's layers per kernel and validate against hwq bench c."""
    from hwq.perf.devices import host_name
    from hwq.perf.host_roofs import COLD_SHAPE, calibrate, predict_time
    from hwq.perf.host_validate import bench_name, summary_line
    from hwq.perf.host_validate import validate as host_validate

    tokens = wl.tokens
    if tokens > 64:
        raise HwqError(f"the host model covers batches up to 64 (hwq bench c's range); workload {wl.key!r} "
                       "has "
                       f"{tokens} tokens per step: use --workload decode or --batch N with N <= 64")
    roofs = calibrate(cfg, build_dir, batches=tuple(sorted({1, 4, 8, tokens})), threads=threads, log=log,
                      kernels=kernels)
    for kern in ("hwq_exact", HOST_BASELINE):
        if (kern, tokens, HOST_LAYER_THREADS) not in roofs.kernels:
            raise HwqError(f"the host calibration has no {kern} kernel; the host study needs it")
    # bytes per stored entry, per kernel (from the calibration's own byte counts)
    bpw = {}
    kc = COLD_SHAPE[0]
    for (kern, _, _), r in roofs.kernels.items():
        store_k = cfg.padded_k(kc) if kern.startswith("hwq_") else (
            HwqConfig(lattice="E8", q=7).padded_k(kc) if kern == "e8_exact" else kc)
        bpw[kern] = r.bytes_per_weight * kc / store_k

    def pred(kern: str, k: int, m: int, t: int) -> tuple[float, str, float]:
        nb = _host_bytes(cfg, kern, bpw[kern], k, m)
        time_s, bound = predict_time(roofs, kern, k, nb, tokens, t)
        return time_s, bound, nb

    rows = []
    for lin, mult in mdl.all_linears():
        th, bh, nbh = pred("hwq_exact", lin.k, lin.m, HOST_LAYER_THREADS)
        tf, bf, nbf = pred(HOST_BASELINE, lin.k, lin.m, HOST_LAYER_THREADS)
        cost = hwq_cost(cfg, lin.k, lin.m, tokens)
        rows.append({"layer": lin.name, "k": lin.k, "m": lin.m, "per_token": mult, "tokens": tokens,
                     "bits_per_weight": 8.0 * nbh / (lin.k * lin.m), "bytes_hwq": nbh, "bytes_fp16": nbf,
                     "ops_hwq": cost.ops, "intensity_hwq": cost.ops / nbh, "intensity_fp16": cost.ops / nbf,
                     "t_hwq_s": th, "t_fp16_s": tf, "speedup": tf / th, "bound_hwq": bh, "bound_fp16": bf,
                     "dtype": "host-model"})
    table = []
    for kern in sorted({k for k, _, _ in roofs.kernels}):
        for t in sorted(roofs.bandwidth):
            if (kern, tokens, t) not in roofs.kernels:
                continue
            step = sum(pred(kern, lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
            base = sum(pred(HOST_BASELINE, lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
            q4 = (sum(pred("ort_q4", lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
                  if ("ort_q4", tokens, t) in roofs.kernels else None)
            table.append({"kernel": kern, "threads": t, "step_s": step, "tokens_per_s": tokens / step,
                          "speedup_vs_numpy_fp32": base / step,
                          "speedup_vs_ort_q4": q4 / step if q4 else None,
                          "validated": any(p.kernel == kern for _, rec in kbench for p in rec.points)})
    val_rows, val_skipped = host_validate(roofs, kbench)
    if not kbench:
        val_skipped.append("no hwq bench c record under reports/bench: run `hwq bench c`; every host "
                           "prediction "
                           "here is not validated")
    r1 = roofs.kernels[("hwq_exact", tokens, HOST_LAYER_THREADS)]
    bw1 = roofs.bandwidth[HOST_LAYER_THREADS]
    peak = r1.rate * 2.0 * tokens / bpw["hwq_exact"]  # hwq exact's cache-resident rate as ops/s
    load = ", ".join(f"{v:.2f}" for v in roofs.load_average)
    note = (f"calibrated now ({roofs.seconds:.1f} s, load {load}): "
            f"read bandwidth " + ", ".join(f"{bw / 1e9:.1f} GB/s at {t} thread{'s' if t > 1 else ''}"
                                           for t, bw in sorted(roofs.bandwidth.items())))
    dev = replace(dev, name=f"{host_name()} (calibrated now)", bandwidth=bw1, bandwidth_measured=bw1,
                  peak={"host-model": peak}, note=note)
    summary = model_summary(rows, wl, dev, "host-model")
    summary["baseline"] = "numpy fp32 (OpenBLAS): this CPU has no fp16 GEMV"
    summary["layer_threads"] = HOST_LAYER_THREADS
    host_doc = {"roofs": roofs.to_dict(), "kernels": table, "baseline": HOST_BASELINE,
                "layer_threads": HOST_LAYER_THREADS, "summary_line": summary_line(val_rows),
                "validation_rows": val_rows, "validation_skipped": val_skipped,
                "bench_files": [bench_name(f) for f, _ in kbench]}
    return dev, rows, summary, host_doc

