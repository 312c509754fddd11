"""``hwq synth --config FILE --target ecp5|ice40|xilinx [--unit U] [--sweep]``: synthesis + place-and-route
reports (LUTs, FFs, DSPs, BRAM, Fmax) as JSON and Markdown under ``reports/synth/``, cached (see
:func:`hwq.rtl.synth.cache_key`)."""

from __future__ import annotations

import argparse
import dataclasses

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.records import Stamp, Synth, SynthRun

from ._synth_asic import add_asic_arguments, not_measured, run_asic, run_jobs, start

HELP = "synthesize RTL units with Yosys/nextpnr and write LUT/FF/DSP/BRAM/Fmax reports under reports/synth/"

#: lattices and rates of the sweep (the paper's operating points); the decoder follows cfg.decoder_kind
SWEEP = [("Z", 8), ("D3", 6), ("D4", 4), ("E8", 7)]
UNITS = ("mac", "lut", "had", "enc", "dec", "int4", "top", "luttop")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()")
    p.add_argument("--target", default="ecp5", choices=["ecp5", "ice40", "xilinx", "asic"])
    p.add_argument("--unit", default="mac", choices=UNITS, help="unit to synthesize (default mac)")
    p.add_argument("--sweep", action="store_true",
                   help="MACs of Z q=8, D3 q=6, D4 q=4, E8 q=7 and the INT4 baseline per --lanes, plus the "
                        "codebook decoder ROM vs arithmetic")
    p.add_argument("--lanes", nargs="*", type=int, default=None,
                   help="lanes of the sweep (default: config's)")
    p.add_argument("--out", default="reports/synth", help="report folder (cache under <out>/cache)")
    p.add_argument("--freq", type=float, default=150.0,
                   help="target clock in MHz (nextpnr; OpenSTA for --target asic), part of the cache key "
                        "(default 150)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed >= 0 (default 1)")
    p.add_argument("--no-cache", action="store_true", help="rebuild even when a cached report exists")
    p.add_argument("--cached-only", action="store_true",
                   help="run no tool: tabulate the valid cached reports, list the others as not measured")
    add_asic_arguments(p)


def sweep_jobs(base: HwqConfig, lanes: list[int]) -> list[tuple[HwqConfig, str]]:
    """(config, unit) pairs of ``--sweep``."""
    jobs: list[tuple[HwqConfig, str]] = []
    for n in lanes:
        for lat, q in SWEEP:
            jobs.append((base.replace(lattice=lat, q=q, lanes=n, decoder="auto"), "mac"))
        jobs.append((base.replace(lanes=n), "int4"))
    d3 = base.replace(lattice="D3", q=6)
    jobs.append((d3.replace(decoder="arith"), "mac"))  # ROM vs arithmetic decode inside the MAC
    jobs += [(d3.replace(decoder="rom"), "dec"), (d3.replace(decoder="arith"), "dec"),
             (base.replace(lattice="E8", q=7, decoder="arith"), "dec")]
    return jobs


def _fmt(v, nd: int = 1) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def weights_per_lane(cfg: HwqConfig, unit: str) -> int:
    """Weights one lane consumes per cycle (d for the lattice MACs and the INT4 baseline)."""
    return cfg.dim


def bits_per_weight(cfg: HwqConfig, unit: str) -> float:
    """Stored bits per weight: 4 for INT4, (code_bits + ladder_bits) / d for a lattice code."""
    return 4.0 if unit == "int4" else (cfg.code_bits + cfg.ladder_bits) / cfg.dim


def table(rows: list[tuple[HwqConfig, str, SynthRun]]) -> list[str]:
    """Markdown table of (config, unit, run) rows; MAC rows are compared with the INT4 row of the same
    lanes (LUTs per lane and LUTs per weight/cycle)."""
    int4 = {c.lanes: r.luts / (c.lanes * c.dim) for c, u, r in rows if u == "int4"}
    lines = ["| unit | lattice | q | decoder | lanes | d | bits/weight | LUTs | LUTs/lane | LUTs per "
             "weight/cycle | x INT4 (per weight) | FFs | DSPs | BRAM | Fmax MHz | latency |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
             "--- |"]
    for cfg, unit, r in rows:
        lanes = cfg.lanes if unit in ("mac", "int4", "lut", "top", "luttop") else 1
        per_w = r.luts / (weights_per_lane(cfg, unit) * lanes)
        base = int4.get(cfg.lanes)
        ratio = f"{per_w / base:.2f}" if base and unit in ("mac", "int4") else "n/a"
        mac = unit in ("mac", "int4", "lut")
        lq = unit != "int4"
        lines.append(f"| {unit} | {cfg.lattice if lq else 'INT4'} | {cfg.q if lq else '-'} | "
                     f"{cfg.decoder_kind if lq else '-'} | {lanes} | {cfg.dim} | "
                     f"{bits_per_weight(cfg, unit):.2f} | {r.luts} | {r.luts / lanes:.0f} | "
                     f"{f'{per_w:.0f}' if mac else '-'} | {ratio} | "
                     f"{r.ffs} | {r.dsps} | {r.brams} | {_fmt(r.fmax_mhz)} | {_fmt(r.latency)} |")
    return lines


def critical_lines(reps: list[SynthRun]) -> list[str]:
    out = []
    for r in reps:
        cp = r.detail.get("critical_path") or []
        if not cp:
            continue
        ends = cp[0]
        worst = ", ".join(f"{c['type']} {c['ns']} ns" + (f" ({c['net']})" if c.get("net") else "")
                          for c in cp[1:4])
        out.append(f"* `{r.module}`: {ends['ns']} ns from `{ends['from']}` to `{ends['to']}`; largest "
                   f"steps: {worst}")
    return out


def run(args: argparse.Namespace) -> int:
    from hwq.rtl.synth import check_run_args, report_name, synthesize, tool_versions

    check_run_args(args.freq, args.seed)
    if args.target == "asic":
        return run_asic(args)
    if args.liberty is not None or args.no_buffer:
        raise HwqError("--liberty and --no-buffer apply to --target asic only")
    base, out = start(args)
    if args.sweep:
        jobs = sweep_jobs(base, args.lanes or [base.lanes])
    else:
        jobs = [(base, args.unit)]
    out.mkdir(parents=True, exist_ok=True)
    rows, missing = run_jobs(jobs, "synth", "synth", lambda cfg, unit: synthesize(
        cfg, args.target, out_dir=out / "cache", unit=unit, freq_mhz=args.freq, use_cache=not args.no_cache,
        seed=args.seed, cache_only=args.cached_only))
    reps: list[SynthRun] = [r for _, _, r in rows]
    if not reps:
        raise HwqError(f"no cached synthesis report for {', '.join(missing)}: run without --cached-only")
    # a run at another clock or seed gets its own table: it never replaces the default (150 MHz, seed 1) one
    name = report_name("sweep" if args.sweep else reps[0].module, args.target, args.freq, args.seed)
    dev = reps[0].device
    lines = [f"# hwq synthesis: {args.target} ({dev})", "",
             f"Target clock {args.freq:g} MHz, nextpnr seed {args.seed}. Generated by `hwq synth"
             f"{' --sweep' if args.sweep else ''}`.", ""] + table(rows)
    lines += ["",
              "LUTs = LUT4 + 2 x CCU2C (an ECP5 carry cell holds two LUT4s); counts are the unit's own "
              "cells",
              "(the pin-limiting I/O wrapper used for place and route is excluded); Fmax is nextpnr's for "
              "the",
              "wrapped design; n/a where no open-source timing exists (Xilinx). MACs use no DSP blocks "
              "(2-bit-digit",
              "partial products in LUTs, see rtl/README.md).", "", "Critical paths:", ""]
    lines += critical_lines(reps) or ["(none reported)"]
    lines += not_measured(missing)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    slim = tuple(dataclasses.replace(r, detail={k: v for k, v in r.detail.items()
                                                if k != "utilization_with_wrapper"}) for r in reps)
    tools = {**tool_versions(args.target), "yosys": str(reps[0].detail.get("yosys_version", "not recorded"))}
    Synth(stamp=Stamp.now(base if not args.sweep else None, tools), target=args.target,
          runs=slim).save(out / f"{name}.json")
    print("\n".join(lines))
    return 0
