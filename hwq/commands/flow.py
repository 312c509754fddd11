"""``hwq flow``: reference model -> golden vectors -> RTL -> simulation -> ECP5 synthesis -> C kernels ->
roofline -> report, on one config."""

from __future__ import annotations

import argparse
import sys

HELP = "end-to-end: golden vectors, RTL, simulation, ECP5 synthesis, C kernels, roofline, report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="hwq config file (TOML/JSON); default: built-in config")
    p.add_argument("--out", default="build/flow",
                   help="work folder (default build/flow, ignored by git; one subfolder per slug)")
    p.add_argument("--reports", default=None, help="reports root of the run (default OUT/SLUG/reports)")
    p.add_argument("--skip", default="",
                   help="comma-separated stages not to run (recorded as skipped), e.g. synth")


def run(args: argparse.Namespace) -> int:
    from hwq.config import load_config
    from hwq.flow import FlowError, flow_record_path, run_flow
    from hwq.outputs import check_out_dir

    cfg = load_config(args.config)
    check_out_dir(args.out)
    if args.reports is not None:  # default: OUT/SLUG/reports, under --out
        check_out_dir(args.reports, "--reports")
    skip = tuple(s.strip() for s in args.skip.split(",") if s.strip())
    record = flow_record_path(cfg, args.out, args.reports)
    print(f"hwq flow: config {cfg.slug}, work folder {args.out}/{cfg.slug}, reports {record.parent.parent}/",
          file=sys.stderr)
    try:
        rec = run_flow(cfg, args.out, args.reports, skip=skip)
    except FlowError as e:
        print(f"hwq flow: FAILED at stage '{e.stage}': {e}", file=sys.stderr)
        if e.expected:
            return 2
        print(f"hwq flow: details in {record}", file=sys.stderr)
        return 1
    print(f"\nhwq flow: {cfg.slug} done in {rec.seconds:.1f} s")
    for st in rec.stages:
        print(f"  {st.stage:<10} {st.status:<8} {st.seconds:7.1f} s")
    rl = next((st.result for st in rec.stages if st.stage == "roofline" and st.result), None)
    for key, r in (rl or {}).items():
        print(f"  roofline {key}: {r['speedup']:.2f}x over fp16 at {r['bits_per_weight']:.3f} bits/weight")
    if "report" not in skip:
        print(f"report: {record.parent.parent / 'index.html'}")
    print(f"record: {record}")
    return 0
