"""``hwq eval rd``: rate-distortion sweep of every quantizer on iid Gaussian matrices (see
:mod:`hwq.eval.rd`)."""

from __future__ import annotations

import argparse
import time

HELP = "rate-distortion sweep (0.25..8 bits/entry) of every method vs Gamma(R); table + plot under reports/rd"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=768, help="rows n of A and B (multiple of 24; default 768)")
    p.add_argument("--cols", type=int, default=64, help="columns of A and B (power of two; default 64)")
    p.add_argument("--rates", default=None, help="comma-separated target rates (default 0.25,0.5,...,8)")
    p.add_argument("--methods", default=None, help="comma-separated families (default: all)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed of A and B (default 0)")
    p.add_argument("--out", default="reports/rd", help="output folder (default reports/rd)")
    p.add_argument("--no-watersic", action="store_true", help="skip the WaterSIC Sigma_X demonstration")


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError
    from hwq.outputs import check_out_dir
    from hwq.progress import Progress
    from hwq.eval.rd import DEFAULT_RATES, plan, run_rd, watersic_demo, write_rd, write_watersic

    check_out_dir(args.out)

    try:
        rates = DEFAULT_RATES if args.rates is None else tuple(float(r) for r in args.rates.split(","))
    except ValueError:
        raise HwqError(f"--rates must be comma-separated numbers, got {args.rates!r}") from None
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    t0 = time.perf_counter()
    with Progress(len(plan(rates, methods)), "rd sweep") as bar:
        rows, skipped = run_rd(args.n, args.cols, rates, methods, args.seed, lambda i, tot,
                               lab: bar.update(i, lab))
    meta = {"n": args.n, "cols": args.cols, "seed": args.seed, "seconds": time.perf_counter() - t0,
            "skipped": skipped}
    paths = write_rd(rows, args.out, meta)
    print(f"{'method':<12} {'slug':<32} {'rate':>6} {'D':>10} {'D/Gamma':>8} {'enc s':>7}")
    for r in rows:
        print(f"{r['method']:<12} {r['slug']:<32} {r['rate']:6.3f} {r['distortion']:10.4g} {r['ratio']:8.2f} "
              f"{r['encode_s']:7.3f}")
    if not args.no_watersic:
        wrows = watersic_demo()
        paths += write_watersic(wrows, args.out)
        for r in wrows:
            print(f"watersic {r['sigma']:<22} R={r['target']:<4} gap {r['watersic']['gap_bits']:.3f} bit "
                  f"(GPTQ+rot {r['gptq_rot']['gap_bits']:.3f})")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - t0:.0f} s")
    return 0
