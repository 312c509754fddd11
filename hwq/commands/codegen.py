"""``hwq codegen``: render the C or CUDA kernel library of a config."""

from __future__ import annotations

import argparse

from hwq.config import load_config

HELP = "render the C or CUDA kernel library of a config (Jinja2 templates + hand-written headers)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="config file (TOML/JSON); default: built-in HwqConfig()")
    parser.add_argument("--target", choices=("c", "cuda"), default="c", help="kernel language (default c)")
    parser.add_argument("--out", required=True,
                        help="output folder (created; files rewritten only on change; a file hwq did not "
                             "write is never overwritten: see hwq_files.json)")
    parser.add_argument("--build", action="store_true", help="also compile (gcc for c, nvcc for cuda)")


def run(args: argparse.Namespace) -> int:
    from hwq.codegen.render import render
    from hwq.outputs import check_out_dir

    cfg = load_config(args.config)
    check_out_dir(args.out)
    paths = render(cfg, args.target, args.out)
    for p in paths:
        print(p)
    if args.build:
        if args.target == "c":
            from hwq.codegen.build import compile_c

            print(compile_c(cfg, args.out))
        else:
            from hwq.codegen.cuda import compile_cuda

            print(compile_cuda(cfg, args.out))
    return 0
