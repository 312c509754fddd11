"""``hwq sim``: verify the generated RTL against the reference model (cocotb + Verilator, bulk harness)."""

from __future__ import annotations

import argparse
import time

from hwq.config import load_config
from hwq.errors import HwqError

HELP = "verify the RTL against the reference model (cocotb benches, native bulk harness, coverage)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config TOML/JSON (default: built-in HwqConfig())")
    parser.add_argument("--waves", action="store_true", help="write FST waveforms of the cocotb runs")
    parser.add_argument("--seed", type=int, default=1, help="stimulus/traffic seed (replays a run)")
    parser.add_argument("--bulk", type=int, default=10000, metavar="N",
                        help="block operations through the native harness (0: skip)")
    parser.add_argument("--all", action="store_true",
                        help="full matrix: Z, D3, D4, E8 (arith) at 2 and 8 lanes, every unit, INT4 baseline")
    parser.add_argument("--units", default="top",
                        help="comma-separated RTL units for cocotb (default top; AXI4-Stream tops: top_axi, "
                             "luttop_axi)")
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                        help="simulator of the cocotb benches (icarus: Debian package iverilog; bulk stays "
                             "on Verilator)")
    parser.add_argument("--no-cocotb", action="store_true", help="only the bulk harness")
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage build")
    parser.add_argument("--scale", choices=("short", "full"), default="short", help="cocotb vector volume")
    parser.add_argument("--strict-cycles", action="store_true",
                        help="fail when measured GEMV cycles differ from hwq.rtl.cycles (reported either "
                        "way)")
    parser.add_argument("--out", default="reports/sim", help="report folder (default reports/sim)")


def _line(rep: dict) -> str:
    s = rep["summary"]
    parts = [f"{rep['slug']:<28}", "PASS" if rep["passed"] else "FAIL",
             f"tests {s['cocotb_tests'] - s['cocotb_failed']}/{s['cocotb_tests']}"]
    if "bulk_block_ops" in s:
        if s["cycle_model_ok"] is None:
            cm = "not checked"
        elif s["cycle_model_ok"]:
            cm = "ok"
        else:
            cm = f"MISMATCH (measured {s['cycle_model_measured']}, model {s['cycle_model_predicted']})"
        parts += [f"bulk ops {s['bulk_block_ops']}", f"mismatches {s['bulk_mismatches']}",
                  f"{s['bulk_cycles_per_s'] / 1e6:.2f} Mcycles/s"
                  + (" (coverage build)" if s.get("bulk_instrumented") else ""), f"cycle model {cm}"]
        if s.get("line_coverage") is not None:
            parts.append(f"line cov {s['line_coverage']:.1f}% toggle {s['toggle_coverage']:.1f}%")
    parts.append(f"{rep['seconds']:.0f}s")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    from hwq.outputs import check_out_dir
    from hwq.sim.run import check_units, run_sim, sim_matrix

    if args.bulk < 0:
        raise HwqError(f"--bulk must be >= 0, got {args.bulk}")
    check_out_dir(args.out)
    units = tuple(u.strip() for u in args.units.split(",") if u.strip())
    if args.all:
        jobs = [(cfg, u) for cfg, u in sim_matrix()]
    else:
        jobs = [(load_config(args.config), units)]
    for cfg, us in jobs:  # refuse bad units before minutes of work (run_sim checks again)
        if not args.no_cocotb:
            check_units(cfg, us)
        elif not args.bulk:
            raise HwqError("--no-cocotb with --bulk 0 verifies nothing: give --bulk N")
    t0 = time.perf_counter()
    reports = []
    for cfg, us in jobs:
        print(f"hwq sim: {cfg.slug} units {','.join(us)} seed {args.seed} bulk {args.bulk} "
              f"simulator {args.simulator}", flush=True)
        rep = run_sim(cfg, out_dir=args.out, bulk=args.bulk, seed=args.seed, cocotb=not args.no_cocotb,
                      units=us, waves=args.waves, scale=args.scale, coverage=not args.no_coverage,
                      strict_cycles=args.strict_cycles, simulator=args.simulator)
        reports.append(rep)
        print(_line(rep), flush=True)
        for unit, r in rep["cocotb"].items():
            for t in r["tests"]:
                if not t["passed"]:
                    print(f"  FAIL {unit}.{t['name']}: {t['message']}")
            if r["error"]:
                print(f"  ERROR {unit}: {r['error']} (log {r['log']})")
    if args.all:
        from pathlib import Path

        from hwq.records import SimMatrix, Stamp

        SimMatrix(stamp=Stamp.now(None), seconds=round(time.perf_counter() - t0, 1),
                  rows=tuple(r["summary"] | {"slug": r["slug"]} for r in reports)
                  ).save(Path(args.out) / "matrix.json")
    ok = all(r["passed"] for r in reports)
    print(f"hwq sim: {'all passed' if ok else 'FAILED'} ({len(reports)} config(s), "
          f"{time.perf_counter() - t0:.0f}s; reports in {args.out}/)")
    return 0 if ok else 1
