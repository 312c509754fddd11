"""Run the cocotb benches of :mod:`hwq.sim.bench` on one RTL unit through
``cocotb_tools.runner.get_runner("verilator")``.

The config travels as JSON in a job file (``HWQ_SIM_JOB`` in the simulator's environment, set through the
runner's ``extra_env``), together with the unit's payload layouts (from the RTL manifest), the seed, the
vector scale and the expected cycle figures of ``hwq.rtl.cycles``. Results come back from cocotb's xUnit
file and the bench's statistics lines; failures are returned, never swallowed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator, Sequence

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.sim.build import (build_cocotb, corrupt_rom_entry, digest, generate_rtl, slug_dir, unit_layouts,
                           unit_module)
from hwq.sim.toolchain import ensure_verilator_env

__all__ = ["run_cocotb", "TESTS", "AXI_TESTS", "cycle_model_job"]

TESTS = ("traffic", "full_rate", "reset_midstream", "extremes")
#: cocotbext-axi tests of the AXI4-Stream tops (units ``*_axi``, :mod:`hwq.sim.axi_bench`)
AXI_TESTS = ("axi_traffic", "axi_full_rate", "axi_reset_midstream")


@contextlib.contextmanager
def _outside_pytest() -> Iterator[None]:
    """The cocotb runner calls sys.exit on failures when it sees PYTEST_CURRENT_TEST; hwq reads the results
    itself and returns them, so hide that variable during the call."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved


def cycle_model_job(cfg: HwqConfig, unit: str) -> dict:
    """The GEMV shape the ``full_rate`` test runs and the analytic cycle count of ``hwq.rtl.cycles``."""
    d, lanes = cfg.dim, cfg.lanes
    if unit == "top":
        m, k = 2 * lanes, cfg.k_step * max(1, 96 // cfg.k_step)
    else:
        m, k = 2 * lanes, 8 * d
    out = {"M": m, "K": k, "groups": -(-m // lanes), "nb": k // d}
    # the top level's model is checked by the bulk harness (hwq.sim.bulk), which measures hundreds of
    # isolated GEMVs; the bench only records the measured spans (and gemv_cycles(unit="top") elaborates
    # every RTL unit, about 20 s, so it is not evaluated here)
    if unit not in ("mac", "lut", "int4"):
        return out
    from hwq.sim.bulk import model_cycles

    try:
        out["cycles"] = model_cycles(cfg, m, k, unit)
    except (HwqError, ValueError, KeyError, TypeError, ImportError):
        pass
    return out


def _parse_results(xml: Path) -> list[dict]:
    if not xml.is_file():
        return []
    out = []
    for tc in ET.parse(xml).getroot().iter("testcase"):
        fail = tc.find("failure")
        err = tc.find("error")
        bad = fail if fail is not None else err
        out.append({"name": tc.get("name"), "passed": bad is None,
                    "message": None if bad is None else (bad.get("message") or bad.text or "failed")[:2000],
                    "sim_time_ns": float(tc.get("sim_time_ns", 0) or 0),
                    "seconds": float(tc.get("time", 0) or 0)})
    return out


def run_cocotb(cfg: HwqConfig, unit: str = "top", tests: Sequence[str] | None = None, seed: int = 1,
               scale: str = "short", waves: bool = False, out_dir: str | Path | None = None,
               corrupt_expected: bool = False, corrupt_rom: bool = False,
               simulator: str = "verilator") -> dict:
    """Build (cached) and run the cocotb benches of one unit.

    Parameters
    ----------
    cfg : HwqConfig
    unit : str
        RTL unit (``top``, ``mac``, ``lut``, ``had``, ``enc``, ``dec``, ``int4``).
    tests : sequence of str, optional
        Subset of :data:`TESTS` (default all).
    seed : int
        Stimulus/traffic seed (printed by every test; the same seed replays the run).
    scale : {"short", "full"}
        Vector volume (see ``hwq.sim.bench.SIZES``).
    waves : bool
        Write an FST waveform (``dump.fst`` in the run folder, copied to ``out_dir``).
    corrupt_expected, corrupt_rom : bool
        Self-checks of the bench: flip one expected output bit, or one ROM entry of the Verilog; the
        result must then be a failure.
    simulator : {"verilator", "icarus"}
        Simulator of the run (:mod:`hwq.sim.icarus`; Icarus needs the Debian package ``iverilog``).

    Returns
    -------
    dict
        ``passed``, ``tests`` (name, passed, message, sim time), ``stats`` (per-test figures), timings.
    """
    from cocotb_tools.runner import get_runner

    if scale not in ("short", "full"):
        raise HwqError(f"scale must be 'short' or 'full', got {scale!r}")
    from hwq.sim.icarus import SIMULATORS, build_icarus, require_icarus

    if simulator not in SIMULATORS:
        raise HwqError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    axi = unit.endswith("_axi")
    avail = AXI_TESTS if axi else TESTS
    tests = list(tests or avail)
    unknown = sorted(set(tests) - set(avail))
    if unknown:
        raise HwqError(f"unknown cocotb test(s) {unknown} for unit {unit!r}; available: {', '.join(avail)}")
    if simulator == "icarus":
        require_icarus()
        if waves:
            raise HwqError("--waves writes Verilator FST traces: use it with --simulator verilator")
    ensure_verilator_env()
    t0 = time.perf_counter()
    manifest = generate_rtl(cfg, unit)
    t_gen = time.perf_counter() - t0
    module, vfile = unit_module(manifest, unit)
    layouts = unit_layouts(manifest, unit)
    variant = ""
    corruption = None
    if corrupt_rom:
        variant = "_romfault"
        bad = slug_dir(cfg) / f"{unit}_romfault.v"
        corruption = corrupt_rom_entry(vfile, bad)
        vfile = bad
    if waves:
        variant += "_fst"
    t1 = time.perf_counter()
    if simulator == "icarus":
        bdir = build_icarus(module, vfile, slug_dir(cfg) / f"icarus_{unit}{variant}")
    else:
        bdir = build_cocotb(module, vfile, slug_dir(cfg) / f"cocotb_{unit}{variant}", waves=waves)
    t_build = time.perf_counter() - t1
    ent = manifest["units"][unit]
    job = {"config": cfg.to_dict(), "unit": unit, "seed": int(seed), "scale": scale,
           "layouts": {p: {"fields": v.fields_list(), "width": v.width} for p, v in layouts.items()},
           "ii": int(ent.get("ii", 1)), "corrupt_expected": bool(corrupt_expected),
           "cycle_model": cycle_model_job(cfg, unit), "k_max": cfg.max_k, "simulator": simulator}
    if axi:
        job["axi_ports"] = ent["ports"]
    if "latency" in ent:
        job["latency"] = int(ent["latency"])
    tag = digest(json.dumps(job, sort_keys=True), ",".join(tests))
    run_dir = slug_dir(cfg) / "runs" / f"{unit}_{seed}_{tag}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    job["stats"] = str(run_dir / "stats.jsonl")
    (run_dir / "job.json").write_text(json.dumps(job, indent=1))
    xml = run_dir / "results.xml"
    log = run_dir / "sim.log"
    runner = get_runner(simulator)
    t2 = time.perf_counter()
    error = None
    with _outside_pytest():
        try:
            runner.test(test_module="hwq.sim.axi_bench" if axi else "hwq.sim.bench", hdl_toplevel=module,
                        hdl_toplevel_lang="verilog", build_dir=bdir, test_dir=run_dir, testcase=tests,
                        seed=seed, waves=waves, extra_env={"HWQ_SIM_JOB": str(run_dir / "job.json")},
                        results_xml=str(xml), log_file=log)
        except SystemExit as e:  # simulator crashed or exited non-zero
            error = f"simulator exited with status {e.code}"
    t_sim = time.perf_counter() - t2
    results = _parse_results(xml)
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()] \
        if (run_dir / "stats.jsonl").is_file() else []
    ran = {r["name"] for r in results}
    missing = [t for t in tests if t not in ran]
    if missing and error is None:
        error = f"tests did not run: {missing}"
    wave_file = None
    if waves and (run_dir / "dump.fst").is_file():
        wave_file = run_dir / "dump.fst"
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            wave_file = Path(shutil.copy2(wave_file, Path(out_dir) / f"{cfg.slug}_{unit}.fst"))
    passed = error is None and bool(results) and all(r["passed"] for r in results)
    return {"unit": unit, "slug": cfg.slug, "module": module, "simulator": simulator, "seed": int(seed),
            "scale": scale,
            "passed": passed, "error": error, "tests": results, "stats": stats,
            "outputs_checked": sum(s.get("outputs_checked", 0) for s in stats),
            "block_ops": sum(s.get("block_ops", 0) for s in stats),
            "sim_cycles": sum(s.get("cycles", 0) for s in stats),
            "seconds": {"generate": round(t_gen, 2), "build": round(t_build, 2), "simulate": round(t_sim, 2)},
            "run_dir": str(run_dir), "log": str(log), "waves": str(wave_file) if wave_file else None,
            "corruption": corruption}
