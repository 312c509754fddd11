"""The printed and Markdown views of a ``kernel-bench`` record of ``hwq bench c`` (:mod:`hwq.codegen.bench`):
one case's table while it runs, the headline summary, the report file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwq.records import KernelBench

__all__ = ["SUMMARY_KERNELS", "format_case", "format_markdown", "format_summary", "write_report"]

SUMMARY_KERNELS = ("hwq_exact", "hwq_fast", "hwq_lut", "e8_exact", "ort_q4", "ort_q2", "ort_int8",
                   "numpy_fp32")


def _fmt(r: dict[str, Any], key: str, spec: str, unit: str = "") -> str:
    """Row field ``key`` formatted with ``spec`` and ``unit``; "-" where the row has none."""
    v = r.get(key)
    return "-" if v is None else f"{v:{spec}}{unit}"


def format_summary(rec: KernelBench) -> list[str]:
    """The headline table: per shape, batch and threads, each kernel's min time, its % of the run's read
    bandwidth and its speedup over ORT 4-bit (min and median)."""
    bw = rec.read_bandwidth_gbps
    out = ["read bandwidth (best SIMD read-floor pass of the run): "
           + ", ".join(f"{float(v):.1f} GB/s at {t} thread(s)" for t, v in bw.items())]
    head = f"{'K x N':<11}{'B':>3}{'T':>3}  " + "".join(f"{k:>19}" for k in SUMMARY_KERNELS)
    out += [head, " " * 19 + "each: min ms / % of read bandwidth / speedup over ORT 4-bit (min times)"]
    cases: dict[tuple[int, int, int, int], dict[str, dict[str, Any]]] = {}
    for r in rec.rows:
        cases.setdefault((r["k"], r["m"], r["batch"], r["threads"]), {})[r["kernel"]] = r
    for (k, m, b, t), rs in cases.items():
        cells = []
        for name in SUMMARY_KERNELS:
            r = rs.get(name)
            if r is None:
                cells.append(f"{'-':>19}")
                continue
            pct, vs = _fmt(r, "pct_bandwidth", ".0f", "%"), _fmt(r, "speedup_vs_ort_q4", ".2f")
            cells.append(f"{r['min_ms']:>9.2f}/{pct:>4}/{vs:>5}")
        out.append(f"{f'{k}x{m}':<11}{b:>3}{t:>3}  " + "".join(cells))
    return out


def format_case(rows: list[dict[str, Any]]) -> list[str]:
    """The printed table of one (shape, batch, threads) case."""
    r0 = rows[0]
    head = (
        f"{r0['k']}x{r0['m']} batch {r0['batch']}, {r0['threads']} thread{'s' if r0['threads'] > 1 else ''}: "
        f"{'kernel':<27}{'min ms':>9}{'median':>9}{'cpu ms':>9}{'bits/w':>8}{'GB/s':>7}{'% floor':>9}"
        f"{'vs ORT4':>9}"
    )
    out = [head]
    pad = " " * (len(head) - len(head.lstrip()) + head.index("kernel"))
    for r in rows:
        pct, vs = _fmt(r, "pct_floor", ".0f", "%"), _fmt(r, "speedup_vs_ort_q4", ".2f", "x")
        cpu = _fmt(r, "cpu_min_ms", ".3f")
        out.append(
            f"{pad}{r['label']:<27}{r['min_ms']:>9.3f}{r['median_ms']:>9.3f}{cpu:>9}"
            f"{r['bits_per_weight']:>8.2f}{r['gbps']:>7.1f}{pct:>9}{vs:>9}"
        )
    return out


def write_report(rec: KernelBench, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``c_<slug>.json`` (or ``c_<slug>_quick.json``) and the Markdown view under ``out_dir``."""
    out = Path(out_dir)
    stem = f"c_{rec.stamp.slug}" + ("_quick" if rec.quick else "")
    js = rec.save(out / f"{stem}.json")
    md = out / f"{stem}.md"
    md.write_text(format_markdown(rec))
    return js, md


def format_markdown(rec: KernelBench) -> str:
    st, res = rec.stamp, rec.detail
    s = res["settings"]
    lb = ", ".join(f"{v:.2f}" for v in res["load_average_before"])
    la = ", ".join(f"{v:.2f}" for v in res["load_average_after"])
    nw = res.get("numpy_worker") or {}
    lines = [
        f"# CPU kernels vs ONNX Runtime, numpy and the read floor ({st.slug})",
        "",
        f"{st.date}, hwq {st.hwq_version}, machine: {st.machine}, kernel ISA {res['isa']}; "
        f"tools: " + ", ".join(f"{k} {v}" for k, v in st.tools.items()) + ".",
        "",
        f"Load average (1, 5, 15 min) before: {lb}; after: {la} on {res['cpu_count']} cores (shared "
        f"machine). {s['rounds']} interleaved rounds (E8: {s['e8_rounds']}), min and median; run took "
        f"{res['seconds']:.0f} s. numpy's OpenBLAS kernel: {(nw.get('blas') or {}).get('architecture')} "
        f"(removed for it: {', '.join(nw.get('removed_env') or {}) or 'nothing'}).",
        "",
        (
            f"Every kernel's output was checked before timing ({len(rec.checks)} checks, "
            f"{'all passed' if rec.ok else 'NOT ALL PASSED'})."
        ),
        "",
        "## Summary",
        "",
        "```",
        *format_summary(rec),
        "```",
        "",
        "## All rows",
        "",
        (
            "| K x N | batch | threads | kernel | min ms | median ms | CPU ms (1 thread) | bits/w | GB/s "
            "| % of read bandwidth | vs ORT 4-bit (min) | vs ORT 4-bit (median) | cold |"
        ),
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rec.rows:
        pct, cpu = _fmt(r, "pct_bandwidth", ".0f", "%"), _fmt(r, "cpu_min_ms", ".3f")
        vs, vsm = _fmt(r, "speedup_vs_ort_q4", ".2f", "x"), _fmt(r, "speedup_vs_ort_q4_median", ".2f", "x")
        lines.append(
            f"| {r['k']}x{r['m']} | {r['batch']} | {r['threads']} | {r['label']} | {r['min_ms']:.3f} | "
            f"{r['median_ms']:.3f} | {cpu} | {r['bits_per_weight']:.2f} | {r['gbps']:.1f} | {pct} | {vs} | "
            f"{vsm} | "
            f"{'yes' if r['cold'] else 'no'} |"
        )
    lines += [
        "",
        "Bytes are what each kernel reads for its weights (hwq: the kernel layout plus fp32 norms; ORT "
        "4/2-bit: packed codes plus one fp32 scale per 128 weights; int8: 1 byte; fp32: 4 bytes), bits/w "
        "per real entry (K unpadded; hwq pads K to a multiple of lcm(d, hadamard)). % of read bandwidth: "
        "GB/s at the minimum over the run's read bandwidth at that thread count (the best pass of the "
        "SIMD read floor, which reads hwq's byte count, over all cases). vs ORT 4-bit: ORT's time "
        "over the kernel's (above 1 = faster than ORT). "
        "hwq LUT: both-quantized accumulators from activations encoded beforehand (the encoder is not "
        "in the timed call). CPU ms: the calling thread's CPU time, minimum over the rounds, one thread "
        "only: the cost of the call without the preemption a loaded machine adds to wall time.",
        "",
    ]
    return "\n".join(lines)
