"""``hwq eval paper``: the paper's table (Ordentlich & Polyanskiy, arXiv 2410.13780)."""

from __future__ import annotations

import argparse

HELP = "reproduce the paper's table: nested D3/E8/D4/Z vs 3-bit absmax vs Gamma(R), n = 6144"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=6144, help="column length n (default 6144 = 3 * 2**11)")
    p.add_argument("--cols", type=int, default=2048,
                   help="columns of A and B (default 2048; --full uses n for the paper's square matrices)")
    p.add_argument("--full", action="store_true", help="square n x n matrices as in the paper (slower)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-packed", action="store_true", help="skip the fixed-width packed-format rows")
    p.add_argument("--out", default="reports/paper", help="output folder for paper.json / paper.md")


def run(args: argparse.Namespace) -> int:
    from hwq.outputs import check_out_dir
    from hwq.eval.paper import paper_markdown, run_paper, save_paper
    from hwq.progress import Progress

    check_out_dir(args.out)

    cols = args.n if args.full else args.cols
    with Progress(1, "eval paper") as bar:
        def progress(label: str, done: int, total: int) -> None:
            bar.total = total
            bar.update(done, label)

        res = run_paper(n=args.n, cols=cols, seed=args.seed, packed=not args.no_packed, progress=progress)
    print(paper_markdown(res), end="")
    js, md = save_paper(res, args.out)
    print(f"saved {js} and {md}")
    return 0 if all(c["ok"] for c in res.checks) else 1
