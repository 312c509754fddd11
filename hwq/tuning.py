"""Choosing the first ladder rung beta0 (Monte Carlo on unit-variance Gaussian blocks, fixed seed).

Two criteria, for the two rates hwq reports:

* :func:`tuned_beta0` -- fixed-width packed format (the hardware's): the ladder is capped at
  ``ladder_len`` rungs and the rate is fixed, so beta0 minimises the mean squared error subject to no
  block of the sample overloading the top rung (:data:`MAX_TUNED_OVERLOAD`; without that bound, at large
  q the minimiser lets the top rung overload). This is the default of :class:`hwq.config.HwqConfig`.
* :func:`beta0_for_rate` -- entropy-coded format (the paper's): beta0 is set by bisection so that
  ``log2 q + H(T)/d`` hits a target rate; at that rate the ladder statistics match the paper's
  (D3, q = 6, 3.01 bits: T = 0/1/2 for about 71%/16%/9% of blocks).

Both are deterministic (numpy's PCG64 with a fixed seed) and cached per process.

:class:`hwq.config.HwqConfig` never runs the search: ``beta0 = None / "auto"`` reads the committed table
``hwq/data/tuned_beta0.json`` (:mod:`hwq.tuned_table`), which :func:`write_tuned_table` regenerates from
:func:`tuned_beta0` over :func:`table_keys` (``python -m hwq.tuning --write-table``, about 18 CPU-minutes on 2
cores). A combination outside the table is tuned on request: :meth:`hwq.config.HwqConfig.tuned` or
``hwq config --tune``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import cache
from pathlib import Path

import numpy as np

from hwq.errors import HwqError
from hwq.lattice import get_lattice
from hwq.nested import decode_blocks, quantize_blocks
from hwq.prng import dither_for

__all__ = ["MAX_TUNED_OVERLOAD", "beta0_for_rate", "ladder_stats", "table_keys", "tuned_beta0",
           "write_tuned_table"]

_SAMPLES = 8192  # blocks per evaluation
#: top-rung overload rate :func:`tuned_beta0` allows on its Monte Carlo sample: none of the 8192 blocks.
#: On fresh Gaussian data the tuned configs overload below 1e-3 per block (tests/test_tuning.py measures it);
#: overloaded blocks are clipped (hwq.nested), not wrapped.
MAX_TUNED_OVERLOAD = 0.0


def _samples(lattice: str, dither: bool, n_blocks: int) -> tuple[np.ndarray, np.ndarray | None]:
    lat = get_lattice(lattice)
    x = np.random.default_rng(12345).standard_normal((n_blocks, lat.dim))
    z = dither_for(lat, 7, 0, np.zeros(n_blocks, dtype=np.int64), np.arange(n_blocks)) if dither else None
    return x, z


def ladder_stats(lattice: str, q: int, beta0: float, dither: bool, ladder_len: int,
                 ladder_step: float = 2 ** (1 / 3), n_blocks: int = _SAMPLES) -> dict[str, float]:
    """Monte Carlo mse per entry, entropy rate and ladder histogram for one beta0."""
    lat = get_lattice(lattice)
    x, z = _samples(lattice, dither, n_blocks)
    betas = [beta0 * ladder_step ** t for t in range(ladder_len)]
    bc = quantize_blocks(lat, q, x, betas, z)
    xh = decode_blocks(lat, q, bc.rows, bc.ladder, betas, z)
    p = np.bincount(bc.ladder, minlength=ladder_len) / n_blocks
    nz = p[p > 0]
    h = float(-(nz * np.log2(nz)).sum())
    return {"mse": float(np.mean((x - xh) ** 2)), "rate": math.log2(q) + h / lat.dim,
            "overload": float(bc.overload.mean()), "p": p.tolist()}


def _golden_min(f, lo: float, hi: float, iters: int = 18) -> float:
    g = (math.sqrt(5) - 1) / 2
    a, b = math.log(lo), math.log(hi)
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(math.exp(c)), f(math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(math.exp(d))
    return math.exp((a + b) / 2)


def _bracket(lattice: str, q: int) -> tuple[float, float]:
    lat = get_lattice(lattice)
    # beta * q * packing radius ~ 0.5 .. 6 standard deviations
    return 0.5 / (q * lat.packing_radius), 6.0 / (q * lat.packing_radius)


@cache
def tuned_beta0(lattice: str, q: int, dither: bool, ladder_len: int = 4,
                ladder_step: float = 2 ** (1 / 3)) -> float:
    """beta0 minimising the MSE of the capped ladder (fixed-width format), rounded to 4 digits.

    Parameters
    ----------
    lattice, q, dither, ladder_len, ladder_step
        As in :class:`hwq.config.HwqConfig`.

    Returns
    -------
    float
    """
    get_lattice(lattice)
    if q < 2:
        raise HwqError(f"q must be >= 2, got {q}")
    lo, hi = _bracket(lattice, q)

    def cost(b0: float) -> float:
        st = ladder_stats(lattice, q, b0, dither, ladder_len, ladder_step)
        # infeasible (top rung overloads in the sample): ranked above every feasible point, by overload
        return st["mse"] if st["overload"] <= MAX_TUNED_OVERLOAD else 1e6 * (1.0 + st["overload"])

    b = _golden_min(cost, lo, hi)
    if ladder_stats(lattice, q, b, dither, ladder_len, ladder_step)["overload"] > MAX_TUNED_OVERLOAD:
        # the optimum sits on the feasibility edge: the smallest beta0 with no overload in the sample
        a, c = math.log(b), math.log(hi)
        for _ in range(40):
            m = (a + c) / 2
            if ladder_stats(lattice, q, math.exp(m), dither, ladder_len, ladder_step)["overload"] \
                    > MAX_TUNED_OVERLOAD:
                a = m
            else:
                c = m
        b = math.exp(c)
    b = float(f"{b:.4g}")
    if ladder_stats(lattice, q, b, dither, ladder_len, ladder_step)["overload"] > MAX_TUNED_OVERLOAD:
        b = float(f"{b * 1.0005:.4g}")  # rounding to 4 digits must not step back over the edge
    return b


@cache
def beta0_for_rate(lattice: str, q: int, dither: bool, rate: float, ladder_len: int = 16,
                   ladder_step: float = 2 ** (1 / 3), n_blocks: int = 4 * _SAMPLES) -> float:
    """beta0 at which the entropy-coded rate ``log2 q + H(T)/d`` equals ``rate`` (bisection).

    Raises
    ------
    HwqError
        If the rate is below log2 q (unreachable with this q) or above what beta0 can reach.
    """
    lat = get_lattice(lattice)
    if rate <= math.log2(q):
        raise HwqError(f"rate {rate} is not above log2(q) = {math.log2(q):.4f}; choose a smaller q")
    lo, hi = _bracket(lattice, q)
    lo /= 4
    r_lo = ladder_stats(lattice, q, lo, dither, ladder_len, ladder_step, n_blocks)["rate"]
    if r_lo < rate:
        raise HwqError(f"rate {rate} is out of reach for {lattice} q={q} (max about {r_lo:.3f}); raise q")
    a, b = math.log(lo), math.log(hi)
    for _ in range(30):
        m = (a + b) / 2
        r = ladder_stats(lattice, q, math.exp(m), dither, ladder_len, ladder_step, n_blocks)["rate"]
        if r > rate:
            a = m
        else:
            b = m
    del lat
    return float(f"{math.exp((a + b) / 2):.5g}")


#: ladder steps tried by :func:`tuned_ladder` (2**(1/3) is the paper's; a capped ladder prefers longer steps)
LADDER_STEPS = (2 ** (1 / 3), 2 ** (1 / 2), 2 ** (2 / 3), 2.0)


@cache
def tuned_ladder(lattice: str, q: int, dither: bool, ladder_len: int = 4) -> tuple[float, float]:
    """(beta0, ladder_step) minimising the capped-ladder MSE over :data:`LADDER_STEPS`.

    With only ``ladder_len`` rungs the top rung must reach far enough that overload (a wrapped codeword,
    a large error) stays rare; for D3 q=6 with 4 rungs a step of 2**(1/2) or 2**(2/3) beats 2**(1/3)
    (MSE 0.034 vs 0.045 per entry).
    """
    best = None
    for s in LADDER_STEPS:
        b = tuned_beta0(lattice, q, dither, ladder_len, s)
        mse = ladder_stats(lattice, q, b, dither, ladder_len, s)["mse"]
        if best is None or mse < best[0]:
            best = (mse, b, s)
    assert best is not None
    return best[1], best[2]


# -- the committed table of tuned beta0 (hwq/data/tuned_beta0.json, read by hwq.tuned_table) ----------------
#: ladder steps of the table: the default 2**(1/2) and the paper's 2**(1/3)
TABLE_STEPS = (2 ** (1 / 2), 2 ** (1 / 3))
#: ladder lengths of the table: 1 .. 8 rungs and the paper's 16
TABLE_LADDER_LENS = (*range(1, 9), 16)
#: the grid per lattice: nesting ratios and ladder lengths, every ladder length of :data:`TABLE_LADDER_LENS`.
#: Every q in 2 .. 16 for the cheap Z and D3 codes; for D4 and E8 the q of the paper (6, 7), NestQuant
#: (E8 q = 14) and the small codes the explorer tries
TABLE_GRID = {"Z": (tuple(range(2, 17)), TABLE_LADDER_LENS), "D3": (tuple(range(2, 17)), TABLE_LADDER_LENS),
              "D4": ((*range(2, 9), 10, 12, 16), TABLE_LADDER_LENS),
              "E8": ((*range(2, 9), 14), TABLE_LADDER_LENS)}
#: combinations outside the grid that the tests and reports use (large q of the scalar and D3 codes, E8 q = 9)
TABLE_EXTRA = tuple((lat, q, False, 4, 2 ** (1 / 2)) for lat, qs in (("Z", (32, 64, 65, 100, 128, 256)),
                                                                      ("D3", (32, 64, 65, 128, 256)),
                                                                      ("E8", (9,)))
                    for q in qs)


def table_keys() -> list[tuple[str, int, bool, int, float]]:
    """Every (lattice, q, dither, ladder_len, ladder_step) of the committed table: per lattice of
    :data:`TABLE_GRID` its q x dither off/on x its ladder lengths x :data:`TABLE_STEPS`, then
    :data:`TABLE_EXTRA`."""
    grid = [(lat, q, dither, n, step) for lat, (qs, lens) in TABLE_GRID.items() for q in qs
            for dither in (False, True) for n in lens for step in TABLE_STEPS]
    return grid + list(TABLE_EXTRA)


def _tune_key(key: tuple[str, int, bool, int, float]) -> tuple[tuple[str, int, bool, int, float], float]:
    return key, tuned_beta0(*key)


def _search_key(key: tuple[str, int, bool, int, float]) -> tuple[str, int, bool, int, float]:
    """With one rung the ladder step never enters the search (beta_0 = beta0 * step**0): both steps of
    :data:`TABLE_STEPS` share one search."""
    lat, q, dither, n, step = key
    return (lat, q, dither, n, TABLE_STEPS[0]) if n == 1 else key


def write_tuned_table(path: str | Path | None = None, workers: int = 2, progress: bool = True,
                      memo: str | Path | None = None) -> Path:
    """Run :func:`tuned_beta0` for every key of :func:`table_keys` and write the table (JSON) to ``path``
    (default: the packaged ``hwq/data/tuned_beta0.json``). Values are exactly what :func:`tuned_beta0`
    returns; the file lists them in key order, so a rerun on the same inputs rewrites the same bytes.
    ``memo``: a JSON-lines file of finished searches, appended as they finish and reused by the next run
    (an interrupted run resumes). The 1536 searches of the table without the 1- and 2-rung D4/E8 rows take
    about 10 CPU-minutes (32 minutes of wall time in one worker on the shared 2-core machine at load 12-15);
    those 144 rows (108 searches) 8.4 CPU-minutes more, 4.5 of them for E8 q = 4 (its 65536 codewords are
    searched exhaustively for each block that overloads every rung, up to a minute per search)."""
    from hwq.tuned_table import TABLE_PATH, TABLE_VERSION, key as table_key

    path = Path(path) if path is not None else TABLE_PATH
    keys = table_keys()
    done: dict[tuple, float] = {}
    if memo is not None and Path(memo).is_file():
        for line in Path(memo).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[table_key(*row[:5])] = float(row[5])
    cost = {lat: i for i, lat in enumerate(TABLE_GRID)}  # cheap lattices and long ladders first
    todo = sorted({_search_key(k) for k in keys} - set(done), key=lambda k: (cost.get(k[0], 9), -k[3], k))
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, fut in enumerate(as_completed([pool.submit(_tune_key, k) for k in todo])):
            k, b = fut.result()
            done[k] = b
            if memo is not None:
                with open(memo, "a") as fh:
                    fh.write(json.dumps([*k, b]) + "\n")
            if progress and (i + 1) % 50 == 0:
                print(f"tuned {i + 1}/{len(todo)}", file=sys.stderr, flush=True)
    rows = [[*k, done[_search_key(k)]] for k in keys]
    doc = {"table": "tuned_beta0", "version": TABLE_VERSION,
           "about": "beta0 of hwq.tuning.tuned_beta0 per (lattice, q, dither, ladder_len, ladder_step); "
                    "regenerate with `python -m hwq.tuning --write-table`",
           "columns": ["lattice", "q", "dither", "ladder_len", "ladder_step", "beta0"], "rows": rows}
    text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "rows")
    text += ',\n  "rows": [\n' + ",\n".join("    " + json.dumps(r) for r in rows) + "\n  ]\n}\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m hwq.tuning --write-table [--out FILE] [--workers N]``."""
    p = argparse.ArgumentParser(prog="python -m hwq.tuning", description="regenerate the tuned beta0 table")
    p.add_argument("--write-table", action="store_true", required=True,
                   help="run tuned_beta0 over table_keys() and write the table")
    p.add_argument("--out", default=None,
                   help="output file (default: the packaged hwq/data/tuned_beta0.json)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--memo", default=None, help="JSON-lines file of finished searches: appended, and reused "
                   "by the next run (resume an interrupted run)")
    args = p.parse_args(argv)
    path = write_tuned_table(args.out, workers=args.workers, memo=args.memo)
    print(f"wrote {path} ({len(table_keys())} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
