"""``hwq explore``: co-design as a search; Pareto fronts of quality, bits, hardware cost and speed, on Ray."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "search configs and baselines for the Pareto fronts of quality, bits, LUTs and speed (on Ray)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default=None, help="space file (TOML; default: the built-in space, "
                   "hwq/data/explore_default.toml; the documented full space: hwq/data/explore_full.toml)")
    p.add_argument("--out", default=None,
                   help="output folder (default build/explore): front.{json,md,png,svg}, "
                   "store/ (the stage records), build/ (tool outputs); with --pick: the TOML file to write")
    p.add_argument("--address", default=None,
                   help="join this Ray cluster (host:port) instead of starting a local "
                   "one; nodes that may run the kernel timing need --resources='{\"hwq_explore_timing\": 1}'")
    p.add_argument("--node-ip-address", default=None,
                   help="this driver's IP address for Ray (e.g. 127.0.0.1)")
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all)")
    p.add_argument("--budget", type=int, default=None, metavar="N",
                   help="evaluate at most N configs (a larger grid is sampled at random; nsga2: N trials)")
    p.add_argument("--no-ray", action="store_true", help="run every stage in this process, one at a time "
                   "(no Ray; for debugging)")
    p.add_argument("--pick", default=None, metavar="EXPR", help="choose a config from a front, e.g. "
                   "'bits<=3.5,luts<=8000', and write it to --out FILE.toml (for hwq flow --config)")
    p.add_argument("--front", default="reports/explore",
                   help="with --pick: the front to choose from (a folder "
                   "holding front.json, or the file; default reports/explore)")
    p.add_argument("--force", action="store_true",
                   help="with --pick: overwrite an existing different --out file")


def _pick(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError
    from hwq.explore.pick import load_front, pick, parse_pick
    from hwq.outputs import check_out_file

    parse_pick(args.pick)  # a bad expression is refused before any file is read
    if not args.out or Path(args.out).suffix != ".toml":
        raise HwqError("--pick writes the chosen config: give --out FILE.toml")
    cfg, row = pick(load_front(args.front), args.pick)
    text = cfg.to_toml()
    check_out_file(args.out, overwrite=args.force, content=text.encode())
    Path(args.out).write_text(text)
    print(f"wrote {args.out}: {row['label']} ({cfg.slug}): {row['bits']:.2f} bits/weight, D = {row['D']:.4f}"
          + (f", {row['luts']:.0f} LUTs (est.)" if row.get("luts") is not None else "")
          + f"; build it with: hwq flow --config {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError

    if args.pick is not None:
        return _pick(args)
    if args.front != "reports/explore" or args.force:
        raise HwqError("--front and --force go with --pick")
    if args.budget is not None and args.budget < 1:
        raise HwqError(f"--budget must be >= 1 configs, got {args.budget}")
    if args.cpus is not None and args.cpus < 1:
        raise HwqError(f"--cpus must be >= 1, got {args.cpus}")
    if args.address and (args.no_ray or args.cpus):
        raise HwqError("--address joins a cluster: --no-ray and --cpus do not apply")
    from dataclasses import replace

    from hwq.explore.front import build_front, front_markdown, plot_fronts
    from hwq.explore.runner import Sweep, check_address, connect, run_sweep
    from hwq.explore.space import Point, load_space
    from hwq.explore.store import Store
    from hwq.outputs import check_out_dir

    space = load_space(args.space)
    if args.address:
        check_address(args.address)  # at once, even when the store will answer everything
    if args.budget is not None:
        if space.search == "nsga2":
            space = replace(space, samples=args.budget)
        elif space.size() > args.budget:
            space = replace(space, search="random", samples=args.budget)
    out = check_out_dir(args.out or "build/explore")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    executor = "inline" if args.no_ray else "ray"

    def connect_ray() -> None:
        res = connect(args.address, args.node_ip_address, args.cpus)
        log(f"explore: Ray cluster with {res.get('CPU', 0):g} CPUs"
            + (f" at {args.address}" if args.address else " (local)"))
    store = Store(out / "store")
    work = out / "build"
    total = Sweep()

    def sweep(points: list[Point]) -> Sweep:
        sw = run_sweep(points, space.stages, space.settings, store, work, executor=executor, log=log,
                       connect_fn=connect_ray)
        total.records.update(sw.records)
        total.computed += sw.computed
        total.cached += sw.cached
        total.lost += sw.lost
        total.nodes |= sw.nodes
        return sw

    if space.search == "nsga2":
        from hwq.explore.search import nsga2

        def evaluate(points: list[Point]):
            sw = sweep(points)
            return {p.name: {s: dict(r.values) for (n, s), r in sw.records.items()
                             if n == p.name and r.status == "ok"}
                    for p in points}
        points, invalid = nsga2(space, evaluate, log)
    else:
        points, invalid = space.points()
        log(f"explore: {len(points)} configs ({space.search}), {len(invalid)} invalid combinations pruned, "
            f"{len(space.baselines)} baselines; stages: {', '.join(space.stages)}")
        for bad in invalid:
            log(f"explore: invalid {dict(bad.fields)}: {bad.error}")
    baselines = [Point(name=b, kind="baseline", fields={"baseline": b}) for b in space.baselines]
    sweep(points + baselines)
    rec = build_front(space, points + baselines, invalid, total, time.perf_counter() - t0)
    rec.save(out / "front.json")
    md = front_markdown(rec)
    (out / "front.md").write_text(md)
    plots = plot_fronts(rec, out / "front")
    if executor == "ray":
        import ray

        if ray.is_initialized():
            ray.shutdown()
    print(md, end="")
    log(f"explore: wrote {out / 'front.json'}, {out / 'front.md'}, {', '.join(str(p) for p in plots)}; "
        f"stage records in {out / 'store'}")
    return 1 if total.lost else 0
