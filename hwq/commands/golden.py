"""``hwq golden``: write versioned golden vectors for the RTL, C and CUDA tests."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwq.config import load_config

HELP = "write golden vectors (inputs, codes, tables, intermediate integers, outputs) for a config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()")
    p.add_argument("--out", default="reports/golden", help="output folder (default: reports/golden)")
    p.add_argument("--seed", type=int, default=1, help="RNG seed of the inputs (default 1)")
    p.add_argument("--k", type=int, default=None, help="reduction length K (multiple of lcm(d, hadamard))")
    p.add_argument("--m", type=int, default=None, help="output columns M (default 2 * lanes)")
    p.add_argument("--batch", type=int, default=2, help="activation vectors B (default 2)")
    p.add_argument("--ops", type=int, default=4096, help="random single block operations (default 4096)")
    p.add_argument("--verify", action="store_true",
                   help="verify existing golden files in --out instead of writing")


def run(args: argparse.Namespace) -> int:
    from hwq.golden import verify_golden, write_golden
    from hwq.outputs import check_out_dir

    cfg = load_config(args.config)
    if args.verify:
        verify_golden(Path(args.out) / f"{cfg.slug}.npz")
        print(f"golden vectors {Path(args.out) / cfg.slug}.npz match the reference model")
        return 0
    check_out_dir(args.out)
    man = write_golden(cfg, args.out, seed=args.seed, k=args.k, m=args.m, batch=args.batch, n_ops=args.ops)
    print(f"wrote {man['npz']} and {man['manifest']} ({len(man['arrays'])} arrays, K={man['K']} M={man['M']} "
          f"B={man['B']}, integer datapath: {'yes' if man['integer_datapath'] else 'no (dither on)'})")
    return 0
