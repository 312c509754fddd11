"""``hwq bench c``: the C kernels against ONNX Runtime (MatMulNBits 4/2-bit, MatMulInteger), numpy fp32 and
the read-bandwidth floor, interleaved, cold weights, min and median (see :mod:`hwq.codegen.bench`)."""

from __future__ import annotations

import argparse
import os
import sys

from hwq.errors import HwqError

HELP = (
    "benchmark the C kernels vs ONNX Runtime MatMulNBits 4/2-bit and MatMulInteger, numpy fp32 and the "
    "read floor (needs the [bench] extra)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run: one 1024x1024 shape, batch 1 and 4, 1 and 2 threads, 3 rounds",
    )
    parser.add_argument(
        "--shapes",
        default=None,
        help="K x N shapes, comma separated (default 4096x4096,4096x14336,14336x4096)",
    )
    parser.add_argument("--batches", default=None, help="batch sizes, comma separated (default 1,4,8)")
    parser.add_argument("--threads", default=None, help="thread counts, comma separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved timed rounds (default 15)")
    parser.add_argument(
        "--e8-rounds",
        type=int,
        default=None,
        help="rounds of the E8 q=7 kernel (default 15 with AVX2 or AVX-512 VBMI; 3 without AVX2, where "
        "E8 runs its generic decode at 0.1-0.8 s a call)",
    )
    parser.add_argument(
        "--kernels",
        default=None,
        help="subset of kernels, comma separated (default all: read_floor, hwq_exact, hwq_fast, "
        "hwq_lut, e8_exact, ort_q4, ort_q2, ort_int8, numpy_fp32)",
    )
    parser.add_argument(
        "--no-calibration",
        action="store_true",
        help="skip the host roofline's calibration rounds (run by default in a full run that times the "
        "read floor; --quick skips them)",
    )
    parser.add_argument("--build-dir", default="build/codegen_c", help="where the libraries are built")
    parser.add_argument("--out", default="reports/bench", help="report folder (c_<slug>[_quick].json/.md)")


#: E8 rounds of a full run where E8 has a vector decode (AVX2 or AVX-512 VBMI) / only the generic one (a
#: CPU without AVX2: 0.1-0.8 s a call, so 15 rounds of the default shapes would take over an hour)
E8_ROUNDS_FAST, E8_ROUNDS_GENERIC = 15, 3


def e8_default_rounds(flags: str | None = None) -> int:
    """Default E8 rounds of a full run: :data:`E8_ROUNDS_FAST` if the CPU has AVX2 (``flags``: a /proc/cpuinfo
    flags line, by default this machine's), else :data:`E8_ROUNDS_GENERIC`."""
    from hwq.codegen.peers import cpu_flags

    return E8_ROUNDS_FAST if "avx2" in cpu_flags(flags) else E8_ROUNDS_GENERIC


def _ints(text: str, flag: str, lo: int, hi: int) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise HwqError(f"{flag} {text!r}: give integers separated by commas, e.g. {flag} 1,4,8") from None
    bad = [v for v in vals if not lo <= v <= hi]
    if bad or not vals:
        raise HwqError(f"{flag} {text!r}: each value must be between {lo} and {hi}")
    return vals


def parse_shapes(text: str, need_block: bool) -> tuple[tuple[int, int], ...]:
    """'4096x4096,4096x14336' -> ((4096, 4096), (4096, 14336)); HwqError naming the problem."""
    out = []
    for part in text.split(","):
        dims = part.lower().strip().split("x")
        if len(dims) != 2 or not all(d.strip().isdigit() for d in dims):
            raise HwqError(
                f"--shapes {text!r}: each shape is KxN with positive integers, e.g. --shapes 4096x4096"
            )
        k, n = (int(d) for d in dims)
        if not (1 <= k <= 16384 and 1 <= n <= 65536):
            raise HwqError(f"--shapes {part!r}: K must be 1..16384 and N 1..65536")
        if need_block and k % 128:
            raise HwqError(
                f"--shapes {part!r}: K = {k} is not a multiple of 128, the MatMulNBits block; "
                "use such a K or leave out the ort_q4/ort_q2 kernels"
            )
        out.append((k, n))
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from hwq.codegen.bench import BATCHES, QUICK, SHAPES, THREADS, BenchError, run_bench
    from hwq.codegen.bench_backends import KERNELS
    from hwq.codegen.bench_format import format_summary, write_report
    from hwq.codegen.peers import ort_available
    from hwq.config import load_config

    kernels = KERNELS
    if args.kernels:
        kernels = tuple(k.strip() for k in args.kernels.split(","))
        bad = [k for k in kernels if k not in KERNELS]
        if bad:
            raise HwqError(f"--kernels: unknown {', '.join(bad)}; allowed: {', '.join(KERNELS)}")
    if any(k.startswith("ort_") for k in kernels):
        why = ort_available()
        if why:
            raise HwqError(why)
    base = (
        QUICK
        if args.quick
        else {"shapes": SHAPES, "batches": BATCHES, "threads": THREADS, "rounds": 15,
              "e8_rounds": e8_default_rounds()}
    )
    need_block = any(k in kernels for k in ("ort_q4", "ort_q2"))
    shapes = parse_shapes(args.shapes, need_block) if args.shapes else base["shapes"]
    batches = _ints(args.batches, "--batches", 1, 64) if args.batches else base["batches"]
    threads = (
        _ints(args.threads, "--threads", 1, max(1, os.cpu_count() or 1) * 4)
        if args.threads
        else base["threads"]
    )
    for flag, v in (("--rounds", args.rounds), ("--e8-rounds", args.e8_rounds)):
        if v is not None and not 1 <= v <= 1000:
            raise HwqError(f"{flag} {v}: must be between 1 and 1000")
    rounds = args.rounds or base["rounds"]
    e8_rounds = args.e8_rounds or base["e8_rounds"]
    cfg = load_config(args.config)
    if not args.quick and args.e8_rounds is None and "e8_exact" in kernels and e8_rounds < E8_ROUNDS_FAST:
        print(f"E8 q=7 runs its generic decode here (no AVX2): {e8_rounds} rounds "
              "(--e8-rounds sets them)", flush=True)
    print(
        f"hwq bench c: {len(shapes)} shape(s) x batches {list(batches)} x threads {list(threads)}, "
        f"{rounds} interleaved rounds; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    try:
        res = run_bench(
            cfg,
            args.build_dir,
            shapes=shapes,
            batches=batches,
            threads=threads,
            rounds=rounds,
            e8_rounds=e8_rounds,
            kernels=kernels,
            quick=args.quick,
            calibrate=not (args.no_calibration or args.quick) and "read_floor" in kernels,
            log=lambda s: print(s, flush=True),
        )
    except BenchError as e:
        print(f"hwq: {e}", file=sys.stderr)
        return 1
    d = res.detail
    print(
        f"load average before {', '.join(f'{v:.2f}' for v in d['load_average_before'])}, after "
        f"{', '.join(f'{v:.2f}' for v in d['load_average_after'])} ({d['cpu_count']} cores, shared); "
        f"{len(res.checks)} output checks passed before timing"
    )
    for line in format_summary(res):
        print(line)
    for p in write_report(res, args.out):
        print(f"wrote {p}")
    return 0
