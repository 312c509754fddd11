"""The result of ``hwq explore``: one row per point, the Pareto fronts, the ``explore-front`` record, its
Markdown table, the plots, the cost projection of the full space and what the front recommends.

Fronts (objective, direction):

* ``quality_vs_bits``: D (min) against bits/weight actually stored (min);
* ``quality_vs_luts``: D (min) against ECP5 LUTs per MAC lane (min);
* ``luts_vs_speed``: LUTs of the whole MAC at the point's lanes (min) against FPGA weights/s (max).

A point with a failed stage is on no front (it is not known to work); ``n/a`` stages only leave the point
off the fronts that need them.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

from hwq.config import HwqConfig
from hwq.explore.baselines import BASELINES
from hwq.explore.pareto import nondominated_sort
from hwq.explore.runner import Sweep
from hwq.explore.space import Invalid, Point, Space, builtin_space_text, parse_space, FULL_SPACE
from hwq.records import ExploreFront, Stamp
from hwq.report.markdown import md_table

__all__ = ["FRONTS", "build_front", "front_markdown", "plot_fronts", "point_rows", "projection", "recommend"]

FRONTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "quality_vs_bits": (("D", "min"), ("bits", "min")),
    "quality_vs_luts": (("D", "min"), ("luts_per_lane", "min")),
    "luts_vs_speed": (("luts", "min"), ("weights_per_s", "max")),
}
_TITLES = {"quality_vs_bits": "quality vs bits/weight", "quality_vs_luts": "quality vs LUTs per lane",
           "luts_vs_speed": "LUTs vs FPGA speed"}


def _label(p: Point, varying: set[str]) -> str:
    """``D3 q=6``, plus the fields that vary across the space's configs (``lanes=4``)."""
    if p.kind == "baseline":
        return BASELINES[p.name].label
    c = p.config or {}
    extra = [f"{k}={v}" for k, v in sorted(p.fields.items()) if k in varying and k not in ("lattice", "q")]
    return f"{c.get('lattice')} q={c.get('q')}" + (f", {', '.join(extra)}" if extra else "")


def point_rows(points: Sequence[Point], sw: Sweep, stages: Sequence[str]) -> list[dict[str, Any]]:
    """One flat row per point: its objectives from the stage records, and every stage's status."""
    rows = []
    cfg_pts = [p for p in points if p.kind == "config"]
    varying = {k for p in cfg_pts for k in p.fields if len({repr(x.fields.get(k)) for x in cfg_pts}) > 1}
    for p in points:
        vals = {s: sw.records[(p.name, s)] for s in stages if (p.name, s) in sw.records}

        def v(stage: str, key: str) -> Any:
            r = vals.get(stage)
            return r.values.get(key) if r is not None and r.status == "ok" else None

        c = p.config or {}
        dim = HwqConfig.from_dict(dict(c)).dim if p.kind == "config" else 3  # the INT4 unit takes D3 blocks
        lpl = v("synth", "luts_per_lane")
        row = {"name": p.name, "slug": p.name if p.kind == "config" else "-", "kind": p.kind,
               "label": _label(p, varying), "lattice": c.get("lattice"), "q": c.get("q"),
               "lanes": v("throughput", "lanes") or c.get("lanes"), "fields": dict(p.fields),
               "config": dict(c) if p.kind == "config" else None,
               "bits": v("quality", "bits"), "D": v("quality", "D"), "ratio": v("quality", "ratio_to_gamma"),
               "luts_per_lane": lpl, "luts_per_weight": lpl / dim if lpl is not None else None,
               "luts": v("throughput", "luts_est"), "fmax_mhz": v("synth", "fmax_mhz"),
               "asic_um2_per_lane": v("asic", "area_per_lane_um2"), "asic_fmax_mhz": v("asic", "fmax_mhz"),
               "weights_per_s": v("throughput", "weights_per_s"),
               "fpga_tokens_per_s": v("throughput", "tokens_per_s"),
               "kernel_ms": v("kernel", "ms"), "ort_q4_ms": v("kernel", "ort_q4_ms"),
               "kernel_vs_ort": v("kernel", "speedup_vs_ort_q4"),
               "kernel_load": [x for x in (v("kernel", "load_before"), v("kernel", "load_after"))
                               if x is not None],
               "gpu_speedup": v("gpu", "speedup_vs_fp16"), "minilm_dist": v("minilm", "layer_dist_mean"),
               "sim": vals["sim"].status if "sim" in vals else None,
               "status": {s: (r.status if r.status == "ok" else f"{r.status}: {r.reason}")
                          for s, r in vals.items()},
               "seconds": {s: r.seconds for s, r in vals.items()}}
        row["ok"] = all(r.status != "failed" for r in vals.values())
        rows.append(row)
    return rows


def fronts_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per front: its objectives and the rank of every point (None: off this front's axes)."""
    out = {}
    for name, objs in FRONTS.items():
        vals = [[r[k] for k, _ in objs] if r["ok"] else [None] * len(objs) for r in rows]
        ranks = nondominated_sort(vals, [d for _, d in objs])
        out[name] = {"objectives": [{"key": k, "direction": d} for k, d in objs],
                     "ranks": {r["name"]: rk for r, rk in zip(rows, ranks)},
                     "front": [r["name"] for r, rk in zip(rows, ranks) if rk == 0]}
    return out


def stage_seconds(sw: Sweep, points: Sequence[Point]) -> dict[str, Any]:
    """Measured seconds per stage (computed now or earlier: the stored records keep their time), overall
    and per lattice (baselines under 'baseline')."""
    by: dict[str, dict[str, list[float]]] = {}
    kinds = {p.name: (p.config or {}).get("lattice", "baseline") if p.kind == "config" else "baseline"
             for p in points}
    for (name, s), rec in sw.records.items():
        if rec.status == "ok" and name in kinds:
            by.setdefault(s, {}).setdefault(kinds[name], []).append(rec.seconds)
    out = {}
    for s, groups in by.items():
        allv = [x for v in groups.values() for x in v]
        out[s] = {"count": len(allv), "mean_s": statistics.fmean(allv), "max_s": max(allv),
                  "total_s": sum(allv),
                  "by_lattice": {k: statistics.fmean(v) for k, v in sorted(groups.items())}}
    return out


def projection(times: Mapping[str, Any], space: Space,
               settings_measured: Mapping[str, Any]) -> dict[str, Any]:
    """The cost of ``space`` (the full space) from the measured stage times: every combination (before the
    config's validation), synthesis times scaled linearly by placement seeds and by lanes."""
    combos = space.combos()
    seeds = len(space.settings["synth_seeds"])
    lane_scale = space.settings["synth_lanes"] / max(1, settings_measured["synth_lanes"])
    cpu_s = 0.0
    per_stage: dict[str, float] = {}
    for c in combos:
        lat = c.get("lattice", "D3")
        for s in space.stages:
            t = times.get(s)
            if not t:
                continue
            sec = t["by_lattice"].get(lat, t["mean_s"])
            if s == "synth":
                sec *= seeds * lane_scale
            per_stage[s] = per_stage.get(s, 0.0) + sec
            cpu_s += sec
    return {"space": space.source, "combinations": len(combos), "synth_seeds": seeds,
            "unmeasured_stages": [s for s in space.stages if s not in times],
            "synth_lanes": space.settings["synth_lanes"], "cpu_seconds_by_stage": per_stage,
            "cpu_seconds": cpu_s, "hours_on_2_cores": cpu_s / 2 / 3600, "minutes_on_64_cpus": cpu_s / 64 / 60,
            "assumption": "mean measured time of each stage per lattice, synthesis x seeds x (lanes / "
                          "measured lanes); kernel timing runs one per node"}


def _fmt(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def recommend(rows: Sequence[Mapping[str, Any]], fronts: Mapping[str, Any]) -> list[str]:
    """What the front says, from the figures (never a fixed text)."""
    out: list[str] = []
    cfgs = [r for r in rows if r["kind"] == "config" and r["ok"] and r["D"] is not None]
    dflt = next((r for r in cfgs if r["name"] == HwqConfig().slug), None)
    qb = fronts["quality_vs_bits"]["front"]
    near = [r for r in cfgs if r["name"] in qb and r["bits"] <= 4.5]
    if near:
        best = min(near, key=lambda r: r["ratio"])
        out.append(f"Closest to the bound on the quality-vs-bits front (<= 4.5 bits/weight): {best['label']} "
                   f"({best['name']}), D = {best['D']:.4f} at {best['bits']:.2f} bits/weight, "
                   f"D/Gamma = {best['ratio']:.2f}.")
    int4 = next((r for r in rows if r["name"] == "int4_g128"), None)
    for bname in ("int4_g128", "int3_g128", "int2_g128"):
        b = next((r for r in rows if r["name"] == bname and r["D"] is not None), None)
        if b is None:
            continue
        same_q = [r for r in cfgs if r["D"] <= b["D"]]
        if same_q:
            r = min(same_q, key=lambda r: (r["bits"], r["D"]))
            line = (f"Matching {b['label']} (D = {b['D']:.4f} at {b['bits']:.2f} bits/weight) takes "
                    f"{r['label']} ({r['name']}) at {r['bits']:.2f} bits (D = {r['D']:.4f}, "
                    f"{'fewer' if r['bits'] < b['bits'] else 'more'} bits)")
            if int4 and r["luts_per_weight"] is not None and int4["luts_per_weight"] is not None:
                line += (f"; {r['luts_per_weight']:.0f} vs {int4['luts_per_weight']:.0f} ECP5 LUTs per "
                         "weight and cycle for the INT4 RTL unit "
                         f"({r['luts_per_weight'] / int4['luts_per_weight']:.1f}x)")
            if r["kernel_vs_ort"] is not None:
                line += f"; its C GEMV runs at {r['kernel_vs_ort']:.3g}x the speed of ORT MatMulNBits 4-bit"
            out.append(line + ".")
        else:
            out.append(f"No config of this space reaches the quality of {b['label']} (D = {b['D']:.4f}).")
        cheaper = [r for r in cfgs if r["bits"] <= b["bits"] + 1e-9]
        if cheaper:
            r = min(cheaper, key=lambda r: r["D"])
            if r["D"] < b["D"]:
                out.append(f"Within its {b['bits']:.2f} bits/weight the best config is {r['label']} "
                           f"({r['name']}): D = {r['D']:.4f}, {b['D'] / r['D']:.2f}x lower distortion.")
            else:
                out.append(f"Within its {b['bits']:.2f} bits/weight no config beats {b['label']}: the best, "
                           f"{r['label']}, has D = {r['D']:.4f} ({r['D'] / b['D']:.2f}x higher).")
    if dflt is not None:
        dom = {}
        for fname in ("quality_vs_bits", "quality_vs_luts"):
            objs = [(o["key"], o["direction"]) for o in fronts[fname]["objectives"]]
            dom[fname] = [r["name"] for r in cfgs if r["name"] != dflt["name"] and _dominates(r, dflt, objs)]
        both = sorted(set(dom["quality_vs_bits"]) & set(dom["quality_vs_luts"]))
        if both:
            out.append(f"The default config ({dflt['name']}) is dominated on both quality-vs-bits and "
                       f"quality-vs-LUTs by {', '.join(both)}: the default should change (check its kernel "
                       "speed first).")
        else:
            alone = dom["quality_vs_bits"]
            out.append(f"The default config ({dflt['name']}, D = {dflt['D']:.4f} at {dflt['bits']:.2f} bits) "
                       "is dominated on both quality-vs-bits and quality-vs-LUTs by no other config of this "
                       "space: keep it as the default"
                       + (f" (on quality-vs-bits alone: {', '.join(alone)})." if alone else "."))
    return out


def _dominates(a: Mapping[str, Any], b: Mapping[str, Any], objs: Sequence[tuple[str, str]]) -> bool:
    from hwq.explore.pareto import dominates

    va, vb = [a[k] for k, _ in objs], [b[k] for k, _ in objs]
    if any(x is None for x in va + vb):
        return False
    return dominates(va, vb, [d for _, d in objs])


def build_front(space: Space, points: Sequence[Point], invalid: Sequence[Invalid], sw: Sweep,
                seconds: float) -> ExploreFront:
    """The ``explore-front`` record of a finished sweep."""
    rows = point_rows(points, sw, space.stages)
    fr = fronts_of(rows)
    times = stage_seconds(sw, points)
    full = parse_space(_full_space_data(), f"built-in space {FULL_SPACE}")
    proj = projection(times, full, space.settings)
    raw = {k: v for k, v in space.raw.items()}
    tools = {}
    for rec in sw.records.values():
        tools.update({k: v for k, v in rec.stamp.tools.items()})
    return ExploreFront(stamp=Stamp.now(None, tools), space={"source": space.source, "search": space.search,
                                                             "settings": dict(space.settings), "file": raw},
                        points=tuple(rows), invalid=tuple({"fields": dict(i.fields), "error": i.error}
                                                          for i in invalid),
                        fronts=fr, stage_seconds=times, projection=proj,
                        recommendation=tuple(recommend(rows, fr)),
                        seconds=seconds,
                        nodes=tuple(sorted({r.node for r in sw.records.values() if r.node != "?"})),
                        counts={"points": len(points), "invalid": len(invalid), "computed": len(sw.computed),
                                "cached": len(sw.cached), "lost": len(sw.lost)})


def _full_space_data() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(builtin_space_text(FULL_SPACE))


def front_markdown(rec: ExploreFront) -> str:
    """The front as Markdown: the table of every point (bold: on a front; marks per front), the fronts,
    n/a stages, invalid points, stage times, the full-space projection and the recommendation."""
    rows = sorted(rec.points,
                  key=lambda r: (r["kind"] != "config", r["bits"] if r["bits"] is not None else 99))
    marks = {"quality_vs_bits": "Q/b", "quality_vs_luts": "Q/L", "luts_vs_speed": "L/s"}
    stage_total = sum(t["total_s"] for t in rec.stage_seconds.values())
    loads = [x for r in rec.points for x in (r.get("kernel_load") or [])]
    lines = ["# hwq explore: Pareto fronts", "", f"{rec.stamp.line()}. Space: {rec.space['source']} (search "
             f"{rec.space['search']}); {rec.counts['points']} points, {rec.counts['invalid']} invalid "
             f"combinations; {rec.counts['computed']} stage runs computed now, {rec.counts['cached']} "
             "answered by the store or shared between points with the same record (this run "
             f"{rec.seconds:.0f} s; the stage records hold {stage_total / 60:.1f} min of stage time); Ray "
             f"nodes that ran stages: {len(rec.nodes)}."
             + (f" Kernel timings ran at a 1-minute load average of {min(loads):.1f} to {max(loads):.1f} "
                "(shared machine): compare each kernel with ORT in its own run." if loads else ""), ""]
    table = []
    with_minilm = any(r.get("minilm_dist") is not None for r in rows)
    with_asic = any(r.get("asic_um2_per_lane") is not None for r in rows)
    for r in rows:
        on = [m for f, m in marks.items() if r["name"] in rec.fronts[f]["front"]]
        table.append([f"**{r['label']}**" if on else r["label"],
                      r["name"] if r["kind"] == "config" else "baseline",
                      _fmt(r["bits"], ".2f"), _fmt(r["D"], ".4f"), _fmt(r["ratio"], ".2f")]
                     + ([_fmt(r.get("minilm_dist"), ".4f")] if with_minilm else [])
                     + [_fmt(r["luts_per_lane"], ".0f"), _fmt(r["luts_per_weight"], ".0f"),
                        _fmt(r["fmax_mhz"], ".1f")]
                     + ([_fmt(r["asic_um2_per_lane"] / 1e6 if r.get("asic_um2_per_lane") else None, ".3f"),
                         _fmt(r.get("asic_fmax_mhz"), ".1f")] if with_asic else [])
                     + [_fmt(r["weights_per_s"] / 1e9 if r["weights_per_s"] else None, ".2f"),
                        _fmt(r["kernel_ms"], ".2f"), _fmt(r["kernel_vs_ort"], ".3g"),
                        _fmt(r["gpu_speedup"], ".2f"),
                        r["sim"] or "-", " ".join(on) or "-"])
    lines += [*md_table(["point", "config", "bits/w", "D", "D/Gamma"]
                        + (["MiniLM W dist"] if with_minilm else [])
                        + ["LUTs/lane", "LUTs/(w*cyc)", "Fmax MHz"]
                        + (["ASIC mm^2/lane", "ASIC MHz"] if with_asic else [])
                        + ["Gw/s FPGA", "C GEMV ms", "x ORT q4",
                           "H100 x fp16 (pred.)", "sim", "fronts"], table), ""]
    s = rec.space["settings"]
    lines += ["Columns: bits/w = bits per weight actually stored (packed); D = matrix-product distortion of "
              f"A^T B (A, B iid N(0,1), n = {s['quality_n']}, {s['quality_cols']} columns); D/Gamma = D over "
              "the bound Gamma(R) at that rate; LUTs/lane and Fmax: ECP5 (LFE5U-85F, speed 6) synthesis of "
              f"the MAC with {s['synth_lanes']} lane(s), nextpnr seed(s) {s['synth_seeds']} (worst seed), "
              "INT4 baseline: the INT4 RTL unit; LUTs/(w*cyc) = LUTs per lane / weights per lane per cycle "
              "(d); "
              + ("ASIC = the same unit mapped to the OSU018 standard cells and timed by OpenSTA "
                 "(pre-layout); "
                 if with_asic else "") + "Gw/s FPGA = lanes x d x Fmax; C GEMV = hwq exact kernel, "
              f"{s['kernel_k']}x{s['kernel_m']}, batch 1, 1 thread, min of {s['kernel_rounds']} rounds, x "
              "ORT q4 = ORT MatMulNBits 4-bit time / this time in the same run (baselines: the ORT kernel of "
              "that format); H100 x fp16 = roofline **prediction** for Llama-3-8B decode (linear layers, "
              "batch 1), not a measurement; sim = bit-exact amaranth.sim of the MAC. Bold: on at least one "
              "front (Q/b quality vs bits, Q/L quality vs LUTs/lane, L/s LUTs vs speed).",
              ""]
    for f, info in rec.fronts.items():
        objs = ", ".join(f"{o['key']} ({o['direction']})" for o in info["objectives"])
        lines.append(f"* **{_TITLES[f]}** ({objs}): {', '.join(info['front']) or 'empty'}")
    lines.append("")
    na = [(r["name"], s, st) for r in rows for s, st in r["status"].items() if st != "ok"]
    if na:
        lines += ["Stages not run or failed:", ""] + [f"* {n} {s}: {st}" for n, s, st in na] + [""]
    if rec.invalid:
        lines += [f"Invalid combinations ({len(rec.invalid)}), pruned by the config's own validation:", ""]
        lines += [f"* {dict(i['fields'])}: {i['error']}" for i in rec.invalid[:20]]
        if len(rec.invalid) > 20:
            lines.append(f"* ... and {len(rec.invalid) - 20} more (in front.json)")
        lines.append("")
    lines += ["Measured stage times (seconds, from the stage records; a record shared by several points "
              "counts once per point):", ""]
    lines.extend(md_table(["stage", "runs", "mean", "max", "total", "mean by lattice"],
                          [[s, str(t["count"]), f"{t['mean_s']:.1f}", f"{t['max_s']:.1f}",
                            f"{t['total_s']:.0f}",
                            ", ".join(f"{k} {v:.1f}" for k, v in t["by_lattice"].items())]
                           for s, t in rec.stage_seconds.items()]))
    p = rec.projection
    lines += ["",
              f"Projected cost of the full space ({p['space']}: {p['combinations']} combinations, synthesis "
              f"at {p['synth_lanes']} lanes on {p['synth_seeds']} placement seeds): "
              f"{p['cpu_seconds'] / 3600:.1f} CPU-hours, i.e. {p['hours_on_2_cores']:.1f} h on this 2-core "
              f"machine or about {p['minutes_on_64_cpus']:.0f} min on a 64-CPU Ray cluster ({p['assumption']}"
              + (f"; not counted, no measured time: {', '.join(p['unmeasured_stages'])}"
                 if p.get("unmeasured_stages") else "") + ").", "",
              "## What the front recommends", ""]
    lines += [f"* {x}" for x in rec.recommendation]
    return "\n".join(lines) + "\n"


def plot_fronts(rec: ExploreFront, stem: Path) -> list[Path]:
    """``<stem>.png`` and ``.svg``: one panel per front; front points joined and solid, dominated points
    faded, baselines as squares with their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    colors = {"Z": "tab:gray", "D3": "tab:blue", "D4": "tab:green", "E8": "tab:red"}
    for ax, (fname, info) in zip(axes, rec.fronts.items()):
        (kx, dx), (ky, dy) = [(o["key"], o["direction"]) for o in info["objectives"]][::-1]
        on = set(info["front"])
        fpts = []
        for r in rec.points:
            x, y = r[kx], r[ky]
            if x is None or y is None:
                continue
            base = r["kind"] == "baseline"
            alpha = 1.0 if r["name"] in on else 0.25
            ax.scatter([x], [y], marker="s" if base else "o", s=60 if base else 40, alpha=alpha,
                       color="black" if base else colors.get(r["lattice"], "tab:purple"),
                       edgecolors="none")
            if base or r["name"] in on:
                ax.annotate(r["name"] if base else f"{r['lattice']} q={r['q']}", (x, y), fontsize=7,
                            alpha=alpha,
                            xytext=(4, 3), textcoords="offset points")
            if r["name"] in on:
                fpts.append((x, y))
        if fpts:
            fpts.sort()
            ax.plot([p[0] for p in fpts], [p[1] for p in fpts], "-", color="black", lw=0.8, alpha=0.6)
        if ky == "D":
            ax.set_yscale("log")
        if kx == "weights_per_s":
            ax.set_xscale("log")
        ax.set_xlabel(f"{kx} ({dx})")
        ax.set_ylabel(f"{ky} ({dy})")
        ax.set_title(_TITLES[fname])
        ax.grid(True, alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in colors.items()]
    handles.append(plt.Line2D([], [], marker="s", ls="", color="black", label="baseline"))
    axes[0].legend(handles=handles, fontsize=8, loc="best")
    fig.suptitle("hwq explore: Pareto fronts (front solid and joined, dominated faded)")
    fig.tight_layout()
    out = []
    for suf in (".png", ".svg"):
        p = stem.with_suffix(suf)
        fig.savefig(p, dpi=110, metadata={"Date": None} if suf == ".svg" else None)
        out.append(p)
    plt.close(fig)
    return out
