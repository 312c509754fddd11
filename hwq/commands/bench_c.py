"""``hwq bench c``: GEMV times of the generated C kernels vs numpy fp32 and int8."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwq.config import load_config

HELP = "benchmark the generated C GEMV (4096x4096, 4096x14336, batch 1/8) vs numpy fp32, int8, memory read"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="config file (TOML/JSON); default: built-in HwqConfig()")
    parser.add_argument("--threads", type=int, default=2, help="kernel threads (default 2)")
    parser.add_argument("--reps", type=int, default=7, help="timed interleaved rounds, best kept (default 7)")
    parser.add_argument("--build-dir", default="build/codegen_c", help="where the library is built")
    parser.add_argument("--out", default="reports/bench", help="report folder (c_<slug>.json/.md)")


def run(args: argparse.Namespace) -> int:
    from hwq.codegen.bench import bench_c, write_report

    cfg = load_config(args.config)
    res = bench_c(cfg, Path(args.build_dir) / cfg.slug, nthreads=args.threads, reps=args.reps)
    for p in write_report(res, args.out):
        print(f"wrote {p}")
    return 0
