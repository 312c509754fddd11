"""The host model against ``hwq bench c``: every measured point (min time) next to its prediction.

A benchmark record that carries its own calibration (:attr:`hwq.records.KernelBench.calibration`: the roofs
measured by microbenchmarks at shapes that are not benchmark shapes, inside the same timing rounds as each
case) is validated with those roofs, like with like; an older record without one is validated with the roofs
calibrated now by ``hwq roofline --device host``, and the rows say which (``roofs``). Nothing is fitted to
the benchmark's own points.

A case's calibration that disagrees with its neighbours (the same kernel, batch and threads calibrated in the
run's other cases: the same microbenchmarks, minutes apart) by more than :data:`NEIGHBOURS` in its
prediction is rejected as stalled, and the point is predicted by the median of the run's calibrations
instead (``roofs``: ``bench-median``).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from hwq.perf.host_roofs import HostRoofs, KernelRoof, cost, predict_time, predict_with
from hwq.records import KernelBench, load

__all__ = ["AIM", "NEIGHBOURS", "SOURCES", "bench_name", "bench_roofs", "load_kernel_bench", "summary_line",
           "validate"]

AIM = 0.15
NEIGHBOURS = 1.5  # a case's own prediction this far (ratio) from the median of the run's is rejected
SOURCES = {"bench": "calibrated inside the bench run",
           "bench-median": "the median of the run's calibrations where a case's own disagreed",
           "now": "calibrated now"}


def load_kernel_bench(reports_dir: str | Path) -> list[tuple[Path, KernelBench]]:
    """The ``hwq bench c`` records (``kernel-bench``, backend ``c``) under ``reports_dir/bench`` and its
    subfolders one level down (a run on another machine kept beside this one's, as
    ``hwq bench c --out reports/bench/<machine>`` writes it): the full runs, or the quick ones if none.

    Raises
    ------
    HwqError
        A ``c_*.json`` there is not a current ``kernel-bench`` record (one line naming the file and the
        command that regenerates it).
    """
    out = []
    root = Path(reports_dir) / "bench"
    for f in sorted(root.glob("c_*.json")) + sorted(root.glob("*/c_*.json")):
        rec = load(f, KernelBench)
        if rec.backend == "c":
            out.append((f, rec))
    full = [fr for fr in out if not fr[1].quick]
    return full or out  # quick runs (cache-resident shapes) only where no full run exists


def bench_name(f: Path) -> str:
    """A record's name as the reports cite it: ``bench/<file>``, or ``bench/<machine>/<file>``."""
    return f"bench/{f.name}" if f.parent.name == "bench" else f"bench/{f.parent.name}/{f.name}"


def bench_roofs(rec: KernelBench) -> dict[tuple[int, int, int, int, str], KernelRoof]:
    """The roofs a benchmark recorded per case: (K, N, batch, threads, kernel) -> roofs."""
    return {(int(c["k"]), int(c["m"]), int(c["batch"]), int(c["threads"]), str(c["kernel"])):
            KernelRoof.from_dict(c) for c in rec.calibration}


def validate(
    roofs: HostRoofs | None, records: list[tuple[Path, KernelBench]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Prediction error of every measured point (min time) of the ``kernel-bench`` records.

    Returns (rows, skipped): rows with file (``bench/<name>``), kernel, k, m, batch, threads, measured (the
    point's :func:`hwq.perf.host_roofs.cost`, as the roofs were measured: CPU time with one thread, wall time
    with more), predicted, error (predicted / measured - 1), measured_wall and error_wall (against the minimum
    wall time), bound and roofs (``bench``: the record's own calibration, ``bench-median``: the median of the
    run's, ``now``: ``roofs``); skipped says which points could not be predicted and why. The read-floor
    points measure the bandwidth roof itself and are not predicted.
    """
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for f, rec in records:
        name = bench_name(f)
        own = bench_roofs(rec)
        peers: dict[tuple[str, int, int], list[KernelRoof]] = {}
        for (_, _, b, t, kern), r in own.items():
            peers.setdefault((kern, b, t), []).append(r)
        for p in rec.points:
            if p.family == "read":
                continue
            if p.nbytes is None or p.time_s is None:
                skipped.append(f"{name}: {p.kernel} batch {p.batch} {p.threads}T records no weight "
                               "bytes/time")
                continue
            r = own.get((p.k, p.m, p.batch, p.threads, p.kernel))
            if r is not None:
                pred, bound = predict_with(r, r.bandwidth, p.k, p.nbytes)
                source = "bench"
                others = [predict_with(q, q.bandwidth, p.k, p.nbytes) for q in peers[(p.kernel, p.batch,
                                                                                       p.threads)]]
                if len(others) >= 3:
                    med = statistics.median(t for t, _ in others)
                    if not med / NEIGHBOURS <= pred <= med * NEIGHBOURS:
                        pred, bound = min(others, key=lambda tb: abs(tb[0] - med))
                        source = "bench-median"
            elif roofs is not None and (p.kernel, p.batch, p.threads) in roofs.kernels:
                pred, bound = predict_time(roofs, p.kernel, p.k, p.nbytes, p.batch, p.threads)
                source = "now"
            else:
                skipped.append(f"{name}: {p.kernel} batch {p.batch} {p.threads}T was not calibrated")
                continue
            meas = cost((p.time_s, p.cpu_time_s or 0.0), p.threads)
            rows.append({
                "measured_wall": p.time_s, "error_wall": pred / p.time_s - 1.0,
                "file": name, "device": "host", "kernel": p.kernel, "k": p.k, "m": p.m, "batch": p.batch,
                "threads": p.threads, "measured": meas, "predicted": pred, "unit": "s",
                "error": pred / meas - 1.0, "bound": bound, "quick": rec.quick, "cold": p.cold,
                "roofs": source,
            })
    return rows, skipped


def summary_line(rows: list[dict[str, Any]]) -> str:
    """'N points, median |error| x%, max y%, z within 15%' (and the same per thread count)."""
    if not rows:
        return "no measured host points"

    def stats(rs: list[dict[str, Any]]) -> str:
        errs = [abs(r["error"]) for r in rs]
        return (f"median |error| {statistics.median(errs):.1%}, max {max(errs):.1%}, "
                f"{sum(e <= AIM for e in errs)}/{len(rs)} within {AIM:.0%}")

    line = f"{len(rows)} measured host points: {stats(rows)}"
    for t in sorted({r["threads"] for r in rows}):
        line += f"; {t} thread{'s' if t > 1 else ''}: {stats([r for r in rows if r['threads'] == t])}"
    one = [{**r, "error": r["error_wall"]} for r in rows if r["threads"] == 1 and "error_wall" in r]
    if one:
        line += f"; the one-thread points against wall time instead of CPU time: {stats(one)}"
    src = sorted({r.get("roofs", "now") for r in rows})
    line += " (roofs: " + " and ".join(SOURCES[s] for s in src) + ")"
    return line
