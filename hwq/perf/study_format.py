"""Text and Markdown views of a roofline study record (what ``hwq roofline`` prints and writes)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from hwq.perf.host_validate import AIM

__all__ = ["format_markdown", "format_summary", "format_table"]


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                          (1e-6, "µ"), (1e-9, "n")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def format_table(doc: dict[str, Any]) -> str:
    """The per-layer table as fixed-width text (what ``hwq roofline`` prints)."""
    base = "numpy fp32" if doc.get("host") else "fp16"
    head = ["layer", "K", "M", "x/token", "bits/w", "hwq time", f"{base} time", "speedup", "bound", "op/B"]
    lines = [head]
    for r in doc["layers"]:
        lines.append([r["layer"], str(r["k"]), str(r["m"]), str(r["per_token"]),
                      f"{r['bits_per_weight']:.3f}",
                      _si(r["t_hwq_s"], "s"), _si(r["t_fp16_s"], "s"), f"{r['speedup']:.2f}x", r["bound_hwq"],
                      f"{r['intensity_hwq']:.3g}"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in lines)


def format_summary(doc: dict[str, Any]) -> str:
    s, d, w = doc["summary"], doc["device"], doc["workload"]
    base = "numpy fp32" if doc.get("host") else "fp16"
    out = [f"{doc['model']['name']} on {d['name']} ({d['bandwidth'] / 1e9:.4g} GB/s {d['bandwidth_source']}, "
           f"{d['dtype']} {d['peak'][d['dtype']] / 1e12:.4g} TOP/s, ridge {s['ridge_ops_per_byte']:.1f} "
           f"op/B), {w['phase']} batch {w['batch']} x seq {w['seq_len']}, config {doc['stamp']['slug']}:",
           f"  weights {s['bits_per_weight']:.3f} bits/entry "
           f"(ideal speedup 16/b = {s['ideal_speedup']:.2f}x)",
           f"  time per step hwq {_si(s['step_time_hwq_s'], 's')}  {base} {_si(s['step_time_fp16_s'], 's')}  "
           f"-> speedup {s['speedup']:.2f}x",
           f"  tokens/s hwq {s['tokens_per_s_hwq']:.4g}  {base} {s['tokens_per_s_fp16']:.4g}"]
    h = doc.get("host")
    if h:
        out[0] = (f"{doc['model']['name']} on {d['name']}, {w['phase']} batch {w['batch']} x seq "
                  f"{w['seq_len']}, "
                  f"config {doc['stamp']['slug']}; {d['note']}")
        out.append(f"  (layers at {h['layer_threads']} thread: hwq exact vs numpy fp32; all kernels below)")
        for r in h["kernels"]:
            vs = f", {r['speedup_vs_ort_q4']:.2f}x ORT 4-bit" if r["speedup_vs_ort_q4"] else ""
            out.append(f"  {r['kernel']:<11} {r['threads']}T: {_si(r['step_s'], 's')}/step, "
                       f"{r['speedup_vs_numpy_fp32']:.2f}x numpy fp32{vs}"
                       + ("" if r["validated"] else "  (not validated: no bench point)"))
        out.append(f"  validation: {h['summary_line']}")
        return "\n".join(out)
    if d.get("kind") == "gpu":
        out.append("  model: memory bandwidth and the dtype's peak (the SMs' decode throughput is not "
                   "measured separately: run `hwq bench cuda` on the device to validate)")
    if doc.get("rtl"):
        r = doc["rtl"]
        out.append(f"  RTL unit: {r['lanes']} lanes x {r['fmax_hz'] / 1e6:.1f} MHz ({r['fmax_source']}); "
                   f"needs {_si(r['weight_bytes_per_s'], 'B/s')} of weights vs board "
                   f"{_si(r['board_bandwidth'], 'B/s')}: {r['bound']}-bound")
    v = doc["validation"]
    if v["rows"]:
        errs = [abs(r["error"]) for r in v["rows"]]
        mem = [abs(r["error"]) for r in v["rows"] if r["bound"] == "memory"]
        out.append(f"  validation: {len(errs)} measured points, median |error| "
                   f"{statistics.median(errs):.1%}, max {max(errs):.1%}"
                   + (f"; memory-bound points: median {statistics.median(mem):.1%}" if mem else ""))
    else:
        out.append(f"  validation: no measured points for {d['key']} (catalog, reports/bench, reports/sim): "
                   "these predictions are NOT VALIDATED")
    return "\n".join(out)


def _host_markdown(doc: dict[str, Any]) -> list[str]:
    """The host study's roofs (calibrated now) and its per-kernel predictions."""
    h = doc["host"]
    ro = h["roofs"]
    md = ["", "## Host roofs, calibrated now", "",
          f"{ro['machine']}; calibration took {ro['seconds']:.1f} s at load average "
          f"{', '.join(f'{v:.2f}' for v in ro['load_average'])}. Read bandwidth (SIMD read loop over cold "
          "copies of hwq's bytes at 4096 x 8192): " + ", ".join(f"{float(v) / 1e9:.1f} GB/s at {t} thread(s)"
                                                                 for t, v in ro["bandwidth"].items())
          + ".", "",
          "Model per kernel, batch and threads: t = t0 + c K + max(W/BW, W/R) + (1 - overlap) "
          "min(W/BW, W/R), W the weight bytes read, BW the read bandwidth, R the kernel's throughput on "
          "cache-resident weights; t0, c and R solved exactly from the kernel at 4096 x 16, 4096 x 256 and "
          "14336 x 16 (a shape whose samples all stalled is re-measured, then clipped to the bound of a "
          "linear cost); overlap (1: the roofs overlap, max; 0: they add) solved from the kernel on cold "
          "weights, the faster of 4096 x 8192 and 4096 x 2048 at K = 4096 and of 14336 x 2048 and "
          "14336 x 1024 at K = 14336, linear in log K between; growth: the streaming time's growth per "
          "doubling of N beyond the narrower shape, where both K's cold shapes show one (else 0). "
          "No benchmark shape is a "
          "calibration shape and nothing is fitted to the benchmark's points (see `hwq/perf/host_roofs.py`). "
          "These roofs predict the model's layers below; each benchmark point is predicted from the roofs "
          "`hwq bench c` measured the same way inside its own rounds (the validation's `roofs` column).", "",
          "| kernel | batch | threads | t0 | c x 4096 rows | R (cache-resident) | overlap K=4096 | "
          "overlap K=14336 | growth | bytes/weight |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in ro["kernels"]:
        md.append(f"| {r['kernel']} | {r['batch']} | {r['threads']} | {_si(r['t0_s'], 's')} | "
                  f"{_si(r['per_k_s'] * 4096, 's')} | {r['rate_bytes_per_s'] / 1e9:.2f} GB/s | "
                  f"{r['overlap']:.2f} | "
                  f"{r['overlap'] if r.get('overlap_long') is None else r['overlap_long']:.2f} | "
                  f"{r.get('growth', 0.0):.3f} | {r['bytes_per_weight']:.3f} |")
    if ro["notes"]:
        md += ["", "Notes: " + "; ".join(ro["notes"])]
    md += ["", f"## Predicted per kernel ({doc['model']['name']}, {doc['workload']['key']}, linear layers)",
           "",
           "| kernel | threads | time per step | tokens/s | vs numpy fp32 | vs ORT 4-bit | validated |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in h["kernels"]:
        vs = f"{r['speedup_vs_ort_q4']:.2f}x" if r["speedup_vs_ort_q4"] else "-"
        md.append(f"| {r['kernel']} | {r['threads']} | {_si(r['step_s'], 's')} | {r['tokens_per_s']:.4g} | "
                  f"{r['speedup_vs_numpy_fp32']:.2f}x | {vs} | "
                  f"{'yes (bench points below)' if r['validated'] else 'not validated'} |")
    return md


def format_markdown(doc: dict[str, Any]) -> str:
    """Markdown report of one roofline study."""
    st = doc["stamp"]
    md = [f"# Roofline: {doc['model']['name']} on {doc['device']['name']}", "",
          f"config `{st['slug']}`, hwq {st['hwq_version']}, {st['date']}, machine: {st['machine']}", "",
          "```", format_summary(doc), "```", "",
          f"| layer | K | M | per token | bits/w | hwq | {'numpy fp32' if doc.get('host') else 'fp16'} | "
          "speedup | bound |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in doc["layers"]:
        md.append(f"| {r['layer']} | {r['k']} | {r['m']} | {r['per_token']} | {r['bits_per_weight']:.3f} | "
                  f"{_si(r['t_hwq_s'], 's')} | {_si(r['t_fp16_s'], 's')} | {r['speedup']:.2f}x | "
                  f"{r['bound_hwq']} |")
    if doc["speedup_vs_batch"]:
        md += ["", "## Speedup vs batch (decode)", "", "| batch | speedup | tokens/s hwq | tokens/s fp16 |",
               "| ---: | ---: | ---: | ---: |"]
        md += [f"| {r['batch']} | {r['speedup']:.2f}x | {r['tokens_per_s_hwq']:.4g} | "
               f"{r['tokens_per_s_fp16']:.4g} |" for r in doc["speedup_vs_batch"]]
    h = doc.get("host")
    if h:
        md += _host_markdown(doc)
    md += ["", "## Validation against measurements", ""]
    v = doc["validation"]
    if h:
        md += [f"{h['summary_line']} (aim: every point within 15 %).", "",
               "| kernel | K x N | batch | threads | measured (min) | predicted | error | error vs wall time "
               "| bound | roofs |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in v["rows"]:
            if r["device"] == "host":
                ec = f"{r['error_wall']:+.1%}" if r["threads"] == 1 and "error_wall" in r else "-"
                md.append(f"| {r['kernel']} | {r['k']}x{r['m']} | {r['batch']} | {r['threads']} | "
                          f"{_si(r['measured'], 's')} | {_si(r['predicted'], 's')} | {r['error']:+.1%}"
                          f"{'' if abs(r['error']) <= AIM else ' (miss)'} | {ec} | {r['bound']} | "
                          f"{r.get('roofs', 'now')} |")
        md += ["",
               "measured: the minimum over the benchmark's rounds of the call's cost as the roofs measure "
               "it: with 1 thread the calling thread's CPU time (the kernel's own cost, which preemption by "
               "other processes on a loaded machine does not inflate), with 2 threads wall time. error: "
               "predicted over measured, minus 1; error vs wall time (1 thread): the same against the "
               "minimum wall time. roofs: `bench`, the roofs measured inside the benchmark's own rounds for "
               "that case; `bench-median`, the median of the run's calibrations of the same kernel, batch "
               "and threads, where that case's own predicted over 1.5x off it (a stalled calibration); "
               "`now`, those calibrated above (a benchmark record without its own)."]
        v = {"rows": [r for r in v["rows"] if r["device"] != "host"], "skipped": v["skipped"]}
        if v["rows"]:
            md += ["", "Other points:", ""]
    if v["rows"]:
        md += ["| source | device | kernel | K | M | batch | measured | predicted | error |",
               "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in v["rows"]:
            unit = r["unit"]
            fmt = (lambda x: _si(x, "s")) if unit == "s" else (lambda x: f"{x:.0f} cyc")
            md.append(f"| {Path(r['file']).name} | {r['device']} | {r['kernel']} | {r['k']} | {r['m']} | "
                      f"{r['batch']} | {fmt(r['measured'])} | {fmt(r['predicted'])} | {r['error']:+.1%} |")
    elif not h:
        md.append("No measured points: these predictions are not validated (run `hwq bench c`, the CUDA "
                  "benchmark script, or `hwq sim`).")
    if v["skipped"]:
        md += ["", "Not compared: " + "; ".join(v["skipped"])]
    return "\n".join(md) + "\n"
