"""``hwq flow``: reference model -> golden vectors -> RTL -> simulation -> ECP5 synthesis -> C kernels ->
roofline -> report, on one config."""

from __future__ import annotations

import argparse
import sys

HELP = "end-to-end: golden vectors, RTL, simulation, ECP5 synthesis, C kernels, roofline, report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="hwq config file (TOML/JSON); default: built-in config")
    p.add_argument("--out", default="build/flow", help="work folder (default build/flow; one subfolder per slug)")
    p.add_argument("--reports", default="reports", help="reports root (default reports)")
    p.add_argument("--skip", default="", help="comma-separated stages not to run (recorded as skipped), e.g. synth")


def run(args: argparse.Namespace) -> int:
    from hwq.config import load_config
    from hwq.flow import FlowError, run_flow
    from hwq.outputs import check_out_dir

    cfg = load_config(args.config)
    check_out_dir(args.out)
    check_out_dir(args.reports, "--reports")
    skip = tuple(s.strip() for s in args.skip.split(",") if s.strip())
    print(f"hwq flow: config {cfg.slug}, work folder {args.out}/{cfg.slug}, reports {args.reports}/", file=sys.stderr)
    try:
        summary = run_flow(cfg, args.out, args.reports, skip=skip)
    except FlowError as e:
        print(f"hwq flow: FAILED at stage '{e.stage}': {e}", file=sys.stderr)
        if e.expected:
            return 2
        print(f"hwq flow: details in {args.reports}/flow/{cfg.slug}.json", file=sys.stderr)
        return 1
    print(f"\nhwq flow: {cfg.slug} done in {summary['seconds']:.1f} s")
    for st in summary["stages"]:
        print(f"  {st['stage']:<10} {st['status']:<8} {st['seconds']:7.1f} s")
    rl = next((st.get("result") for st in summary["stages"] if st["stage"] == "roofline" and st.get("result")), None)
    for key, r in (rl or {}).items():
        print(f"  roofline {key}: {r['speedup']:.2f}x over fp16 at {r['bits_per_weight']:.3f} bits/weight")
    if summary.get("report"):
        print(f"report: {summary['report']}")
    print(f"summary: {args.reports}/flow/{cfg.slug}.json")
    return 0
