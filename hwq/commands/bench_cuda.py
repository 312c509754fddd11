"""``hwq bench cuda``: run the GPU script (correctness + cuBLAS comparison) when a GPU is present."""

from __future__ import annotations

import argparse

HELP = "check and benchmark the generated CUDA kernels on an NVIDIA GPU (needs torch + a GPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="config file (TOML/JSON); default: built-in HwqConfig()")
    parser.add_argument("--build-dir", default="build/codegen_cuda", help="where the library is built")
    parser.add_argument("--out", default="reports/bench", help="report folder (cuda_<device>.json)")
    parser.add_argument("--quick", action="store_true", help="fewer shapes/repetitions (smoke run)")
    parser.add_argument("--no-sanitizer", action="store_true", help="skip the compute-sanitizer pass")


def run(args: argparse.Namespace) -> int:
    from hwq.codegen.gpu_bench import gpu_available, main as gpu_main

    ok, why = gpu_available()
    if not ok:
        print(f"hwq bench cuda: no usable NVIDIA GPU here ({why}); nothing was run or timed. "
              "Run `hwq bench cuda` (or python -m hwq.codegen.gpu_bench) on an H100/H200 machine.")
        return 0
    argv = ["--build-dir", args.build_dir, "--out", args.out]
    if args.config:
        argv += ["--config", args.config]
    if args.quick:
        argv.append("--quick")
    if args.no_sanitizer:
        argv.append("--no-sanitizer")
    return gpu_main(argv)
