"""End-to-end verification flow of one config: cocotb benches + native bulk harness + coverage -> report.

:func:`run_sim` is what ``hwq sim`` calls; :func:`sim_matrix` is the configuration matrix of ``hwq sim --all``
(Z, D3 q=6, D4 q=4 and E8 q=7 with the arithmetic decoder, each at two lane counts, plus the INT4
baseline MAC).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.locks import file_lock
from hwq.records import Sim, Stamp

__all__ = ["DEFAULT_REPORT_DIR", "check_units", "portable", "run_sim", "sim_matrix", "write_report"]

DEFAULT_REPORT_DIR = Path("reports/sim")


def sim_matrix(lanes: Sequence[int] = (2, 8), hadamard: int = 16) -> list[tuple[HwqConfig, tuple[str, ...]]]:
    """(config, cocotb units) of the full matrix. The INT4 baseline is the ``int4`` unit of the D3 configs."""
    out = []
    for ln in lanes:
        base = dict(hadamard=hadamard, lanes=ln)
        out.append((HwqConfig(lattice="Z", q=8, **base), ("top", "mac", "had")))
        out.append((HwqConfig(lattice="D3", q=6, **base), ("top", "mac", "dec", "lut", "enc", "had", "int4")))
        out.append((HwqConfig(lattice="D4", q=4, **base), ("top", "mac", "lut")))
        out.append((HwqConfig(lattice="E8", q=7, decoder="arith", **base), ("top", "mac", "dec", "enc")))
    return out


def run_sim(cfg: HwqConfig, out_dir: str | Path | None = None, bulk: int = 10000, seed: int = 1,
            cocotb: bool = True, units: Sequence[str] = ("top",), waves: bool = False, scale: str = "short",
            coverage: bool = True, opt: str = "quick", strict_cycles: bool = False,
            simulator: str = "verilator") -> dict:
    """Verify the RTL of ``cfg`` against the reference model.

    Parameters
    ----------
    cfg : HwqConfig
    out_dir : path, optional
        Report folder (default ``reports/sim``); ``<slug>.json`` is written there (and the FST waveforms
        with ``waves``).
    bulk : int
        Block operations for the native harness on the top level (0 skips it).
    seed : int
        Seed of stimulus and traffic (printed; replays the run).
    cocotb : bool
        Run the cocotb benches of ``units``.
    units : sequence of str
        RTL units for the cocotb benches.
    waves : bool
        FST waveform of the cocotb runs.
    scale : {"short", "full"}
        cocotb vector volume.
    coverage : bool
        Collect Verilator line/branch/toggle coverage of the top level in the bulk run (the bulk harness is
        then one coverage build at -O0; its speed figures are those of the instrumented model).
    opt : {"quick", "fast"}
        C++ optimisation of the bulk harness build when ``coverage`` is off.
    simulator : {"verilator", "icarus"}
        Simulator of the cocotb benches (the bulk harness is a native Verilator build either way).
    strict_cycles : bool
        Also fail when the measured GEMV cycles differ from ``hwq.rtl.cycles.gemv_cycles`` (beyond +-2
        cycles per GEMV or +-1 % per run). Off by default (the cycle model is a model: exact for the default
        config since it counts the activation load phase); the check is always run and reported
        (``summary.cycle_model_ok``, printed by ``hwq sim``).

    Raises
    ------
    HwqError
        Dither on, an empty or unknown unit list, or nothing to verify.

    Returns
    -------
    dict
        ``passed`` (every cocotb test passed and every bulk output was bit-exact; plus the cycle model
        with ``strict_cycles``), ``cocotb`` (per unit), ``bulk``, ``summary`` and timings; also written as
        a :class:`hwq.records.Sim` record (paths relative to the checkout, see :func:`portable`).
    """
    if bulk < 0:
        raise HwqError(f"--bulk must be >= 0 block operations, got {bulk}")
    if cfg.dither:
        raise HwqError("the RTL implements the dither-free integer datapath: set dither = false")
    units = tuple(units)
    if cocotb:
        check_units(cfg, units)
    if not bulk and not (cocotb and units):
        raise HwqError("nothing to verify: no cocotb unit and no bulk operations (give --units and/or --bulk "
                       "N)")
    from hwq.sim.build import slug_dir

    # one run of a config at a time: both use sim_build/<slug>/runs/... (a second run waits)
    with file_lock(slug_dir(cfg) / "runs.lock", what=f"the simulation runs of {cfg.slug}"):
        return _run(cfg, out_dir, bulk, seed, cocotb, units, waves, scale, coverage, opt, strict_cycles,
                    simulator)


def check_units(cfg: HwqConfig, units: Sequence[str]) -> None:
    """Refuse an empty or unknown list of cocotb units, naming the units this config has."""
    from hwq.rtl.build import unit_names
    from hwq.stimulus import UNITS

    avail = [u for u in unit_names(cfg) if u in UNITS or u.endswith("_axi")]  # AXI tops: hwq.sim.axi_bench
    if not units:
        raise HwqError(f"--units names no unit: give one or more of {', '.join(avail)} (comma-separated)")
    bad = [u for u in units if u not in avail]
    if bad:
        raise HwqError(f"unknown RTL unit(s) {', '.join(map(repr, bad))} for {cfg.slug}; "
                       f"units: {', '.join(avail)}")


def _run(cfg: HwqConfig, out_dir, bulk: int, seed: int, cocotb: bool, units: tuple[str, ...], waves: bool,
         scale: str, coverage: bool, opt: str, strict_cycles: bool, simulator: str) -> dict:
    from hwq.sim.bulk import run_bulk
    from hwq.sim.cocotb_run import run_cocotb

    t0 = time.perf_counter()
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_REPORT_DIR
    report: dict = {"slug": cfg.slug, "config": cfg.to_dict(), "seed": seed, "simulator": simulator,
                    "cocotb": {}, "bulk": None,
                    "strict_cycles": bool(strict_cycles)}
    passed = True
    if cocotb:
        for unit in units:
            r = run_cocotb(cfg, unit, seed=seed, scale=scale, waves=waves, out_dir=out_dir if waves else None,
                           simulator=simulator)
            report["cocotb"][unit] = r
            passed = passed and r["passed"]
    if bulk:
        b = run_bulk(cfg, "top", ops=bulk, seed=seed, coverage=coverage, opt=opt)
        report["bulk"] = b
        passed = passed and (b["passed"] if strict_cycles else b["bit_exact"])
    report["passed"] = passed
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report["summary"] = _summary(report)
    write_report(report, out_dir, cfg)
    return report


def _summary(rep: dict) -> dict:
    tests = [t for r in rep["cocotb"].values() for t in r["tests"]]
    s = {"cocotb_tests": len(tests), "cocotb_failed": sum(not t["passed"] for t in tests),
         "cocotb_outputs_checked": sum(r["outputs_checked"] for r in rep["cocotb"].values()),
         "cocotb_block_ops": sum(r["block_ops"] for r in rep["cocotb"].values())}
    b = rep.get("bulk")
    if b:
        cm = b["cycle_model"]
        cov = b.get("coverage") or {}
        s.update(bulk_block_ops=b["block_ops"], bulk_outputs_checked=b["stress"]["checked"],
                 bulk_mismatches=sum(b[p]["mismatches"] for p in ("stress", "stream", "isolated")),
                 bulk_bit_exact=b["bit_exact"], bulk_instrumented=b["instrumented"],
                 bulk_cycles_per_s=b["stream"]["cycles_per_s"],
                 bulk_block_ops_per_min=b["stream"]["block_ops_per_min"], cycle_model_ok=cm.get("ok"),
                 cycle_model_measured=cm.get("measured_max"), cycle_model_predicted=cm.get("model_max"),
                 cycle_model_max_dev=cm.get("max_abs_dev"),
                 line_coverage=cov.get("line", {}).get("percent"),
                 toggle_coverage=cov.get("toggle", {}).get("percent"),
                 branch_coverage=cov.get("branch", {}).get("percent"))
    s["passed"] = rep["passed"]
    return s


def portable(v: Any) -> Any:
    """``v`` with absolute paths made portable: a path inside the simulation build folder becomes
    ``sim_build/...``, another absolute path its file name (a record never holds a machine's paths)."""
    if isinstance(v, dict):
        return {k: portable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [portable(x) for x in v]
    if isinstance(v, str) and v.startswith("/"):
        return "sim_build/" + v.split("/sim_build/", 1)[1] if "/sim_build/" in v else Path(v).name
    return v


def _tools(simulator: str) -> dict[str, str]:
    out = {}
    for n in ("cocotb", "verilator"):  # the bulk harness is a Verilator build whatever the cocotb simulator
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_report(report: dict, out_dir: str | Path, cfg: HwqConfig) -> Path:
    """``<out_dir>/<slug>.json``: the :class:`hwq.records.Sim` record of ``report`` (a :func:`run_sim`
    dict)."""
    stamp = Stamp.now(cfg, _tools(report.get("simulator", "verilator")))
    rec = Sim.from_legacy(portable(report), stamp=stamp)
    return rec.save(Path(out_dir) / f"{report['slug']}.json")
