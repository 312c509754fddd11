"""``hwq bench encode``: encode/decode throughput of the reference model."""

from __future__ import annotations

import argparse

HELP = "encode/decode throughput (MB/s of fp32 input) for D3 q=6 and E8 q=7, with numpy matmul for scale"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=None,
                   help="config file(s) to time (default: built-in D3 q=6 and E8 q=7)")
    p.add_argument("--n", type=int, default=4096, help="rows (column length), default 4096")
    p.add_argument("--cols", type=int, default=4096, help="columns, default 4096")
    p.add_argument("--repeat", type=int, default=2, help="repetitions, best time kept (default 2)")
    p.add_argument("--workers", type=int, default=None, help="encode threads (default: all cores)")
    p.add_argument("--out", default="reports/bench", help="output folder (encode.json / encode.md)")


def run(args: argparse.Namespace) -> int:
    from hwq.bench_encode import bench_encode, encode_markdown, save_encode
    from hwq.config import load_config
    from hwq.errors import HwqError
    from hwq.outputs import check_out_dir

    check_out_dir(args.out)

    if args.n < 64 or args.cols < 1 or args.repeat < 1:
        raise HwqError("--n must be >= 64, --cols and --repeat >= 1")
    configs = [load_config(c) for c in args.config] if args.config else None
    res = bench_encode(configs, n=args.n, cols=args.cols, repeat=args.repeat, workers=args.workers)
    print(encode_markdown(res), end="")
    js, md = save_encode(res, args.out)
    print(f"saved {js} and {md}")
    return 0
