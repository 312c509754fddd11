"""``hwq synth --config FILE --target ecp5|ice40|xilinx [--sweep]``: synthesis + place-and-route reports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hwq.config import HwqConfig, load_config
from hwq.progress import Progress

HELP = "synthesize RTL units with Yosys/nextpnr and write LUT/FF/DSP/BRAM/Fmax reports under reports/synth/"

SWEEP = [("Z", 8), ("D3", 6), ("D4", 4), ("E8", 7)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()")
    p.add_argument("--target", default="ecp5", choices=["ecp5", "ice40", "xilinx"])
    p.add_argument("--unit", default="mac", help="unit to synthesize (mac lut had enc dec int4 top)")
    p.add_argument("--sweep", action="store_true", help="lattices Z/D3/D4/E8 x lanes, next to the INT4 baseline")
    p.add_argument("--lanes", nargs="*", type=int, default=None, help="lanes of the sweep (default: config's)")
    p.add_argument("--out", default="reports/synth", help="report folder (cache under <out>/cache)")
    p.add_argument("--freq", type=float, default=150.0, help="nextpnr target clock in MHz")


def _row(r: dict) -> str:
    per = r["luts"] / r["lanes"]
    fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "n/a"
    return (f"| {r['unit']} | {r['lattice']} | {r['q']} | {r['decoder']} | {r['lanes']} | {r['luts']} | {per:.0f} | "
            f"{r['ffs']} | {r['dsps']} | {r['brams']} | {fmax} |")


def run(args: argparse.Namespace) -> int:
    from hwq.rtl.synth import synthesize

    base = load_config(args.config)
    out = Path(args.out)
    jobs: list[tuple[HwqConfig, str]] = []
    if args.sweep:
        for lanes in args.lanes or [base.lanes]:
            for lat, q in SWEEP:
                jobs.append((base.replace(lattice=lat, q=q, lanes=lanes), "mac"))
            jobs.append((base.replace(lanes=lanes), "int4"))
    else:
        jobs.append((base, args.unit))
    reps = []
    with Progress(len(jobs), "synth") as prog:
        for cfg, unit in jobs:
            prog.update(prog.done, f"synth {unit} {cfg.slug}")
            reps.append(synthesize(cfg, args.target, out_dir=out / "cache", unit=unit, freq_mhz=args.freq))
            prog.advance()
    name = "sweep" if args.sweep else f"{reps[0]['module']}"
    lines = [f"# hwq synthesis: {args.target} ({reps[0].get('device', '')})", "",
             "| unit | lattice | q | decoder | lanes | LUTs | LUTs/lane | FFs | DSPs | BRAM | Fmax MHz |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + [_row(r) for r in reps]
    lines += ["", "LUTs = LUT4 + 2 x CCU2C (ECP5 carry cells hold two LUT4s). Fmax from nextpnr (seed 1);",
              "n/a where no open-source timing exists (Xilinx)."]
    (out / f"{name}_{args.target}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}_{args.target}.json").write_text(json.dumps(reps, indent=1) + "\n")
    print("\n".join(lines))
    return 0
