"""Verilog generation for a config: hardware limits, one Verilog file per unit, manifest and file list.

``generate(cfg, out_dir)`` checks the limits first (:func:`check_buildable` raises
:class:`hwq.errors.HwqError` naming the limit before any tool runs), then converts every unit with
``amaranth.back.verilog.convert(unit, name=<slug-derived>, emit_src=False)`` (no absolute paths).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from amaranth.back import verilog

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.voronoi import MAX_LUT_ROWS

from . import cycles
from .layout import layout_fields
from .units import UNITS

__all__ = [
    "MAX_CODE_BITS",
    "MAX_HADAMARD",
    "MAX_Q",
    "MAX_ROM_ROWS",
    "TARGETS",
    "bram_bits",
    "check_buildable",
    "generate",
    "module_name",
    "units",
]

TARGETS = ("ecp5", "ice40", "xilinx")
#: the device of hwq's catalog (hwq/data/devices.toml, from the data sheets) whose block RAM bounds a target
_TARGET_DEVICE = {"ecp5": "ecp5-85f", "xilinx": "alveo-u280"}
_BRAM_BITS_PER_BLOCK = {"bram_18k": 18 * 1024, "bram_36k": 36 * 1024}
# iCE40UP5K: 30 x 4 Kbit EBR (a synthesis target only: not in the roofline catalog)
_ICE40_BRAM_BITS = 30 * 4096


@functools.cache
def bram_bits(target: str) -> int:
    """Block RAM bits of a target's device (ECP5 LFE5U-85F: 208 x 18 Kbit; Xilinx: the Alveo U280's XCU280,
    2016 x 36 Kbit; iCE40UP5K: 30 x 4 Kbit), read from the device catalog."""
    if target not in TARGETS:
        raise HwqError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    if target == "ice40":
        return _ICE40_BRAM_BITS
    from hwq.perf.devices import load_devices

    res = load_devices()[_TARGET_DEVICE[target]].resources
    return sum(res.get(k, 0) * bits for k, bits in _BRAM_BITS_PER_BLOCK.items())


MAX_Q = 64                 #: index logic: long division by q uses q <= 64 (6-bit remainders)
MAX_CODE_BITS = 24         #: index logic: codes of at most 24 bits (q**d <= 2**24)
MAX_ROM_ROWS = 4096        #: codebook ROM depth limit (use decoder = "arith" above)
MAX_HADAMARD = 256         #: one segment per beat: h * act_bits input bits


def module_name(cfg: HwqConfig, unit: str) -> str:
    """Verilog module name of a unit: the slug for the top, ``<slug>_<unit>`` otherwise."""
    return cfg.slug if unit == "top" else f"{cfg.slug}_{unit}"


def _lut_bits(cfg: HwqConfig) -> int:
    return cfg.lanes * cfg.num_codewords ** 2 * cfg.lut_bits


def check_buildable(cfg: HwqConfig, target: str = "ecp5") -> list[str]:
    """Raise HwqError when the hardware cannot be built; return notes (e.g. units left out)."""
    bram = bram_bits(target)
    if cfg.q > MAX_Q:
        raise HwqError(f"q = {cfg.q} exceeds the RTL index-logic limit q <= {MAX_Q}")
    if cfg.code_bits > MAX_CODE_BITS:
        raise HwqError(f"{cfg.lattice} q={cfg.q} needs {cfg.code_bits}-bit codes; the RTL index logic is "
                       f"limited to {MAX_CODE_BITS} bits (q**d <= 2**{MAX_CODE_BITS}): lower q")
    if cfg.hadamard > MAX_HADAMARD:
        raise HwqError(f"hadamard = {cfg.hadamard} exceeds the RTL Hadamard limit {MAX_HADAMARD} (one "
                       "segment per beat is hadamard * act_bits input bits): lower hadamard")
    if cfg.decoder_kind == "rom":
        if cfg.num_codewords > MAX_ROM_ROWS:
            raise HwqError(f"decoder 'rom' with {cfg.num_codewords} codewords exceeds the ROM limit "
                           f"{MAX_ROM_ROWS} rows: set decoder = 'arith'")
        rom = cfg.lanes * cfg.num_codewords * cfg.dim * cfg.coord_bits
        if rom > bram:
            raise HwqError(f"{cfg.lanes} codebook ROMs need {rom} bits, above the {target} BRAM of "
                           f"{bram} bits: lower lanes or use decoder = 'arith'")
    reason = pair_lut_left_out(cfg, target)
    return [f"lut unit left out: {reason}"] if reason else []


def pair_lut_left_out(cfg: HwqConfig, target: str = "ecp5") -> str | None:
    """Why the units holding the pairwise LUT (:attr:`Unit.pair_lut`) are not built, or None when they are."""
    if cfg.num_codewords > MAX_LUT_ROWS:
        return f"q**d = {cfg.num_codewords} > {MAX_LUT_ROWS} (no pairwise table)"
    if _lut_bits(cfg) > bram_bits(target):
        return f"{cfg.lanes} pairwise tables need {_lut_bits(cfg)} bits > {target} BRAM {bram_bits(target)}"
    return None


def unit_names(cfg: HwqConfig, target: str = "ecp5") -> list[str]:
    """Names of the units that can be built for a config (after :func:`check_buildable`)."""
    check_buildable(cfg, target)
    lut = pair_lut_left_out(cfg, target) is None
    return [u.name for u in UNITS.values() if lut or not u.pair_lut]


def make_unit(cfg: HwqConfig, name: str, target: str = "ecp5"):
    """Instantiate one unit by name (raises HwqError when it is not built for this config)."""
    avail = unit_names(cfg, target)
    if name not in avail:
        raise HwqError(f"unit {name!r} is not built for config {cfg.slug}; available: {', '.join(avail)}")
    return units(cfg, target, only=[name])[name]


def units(cfg: HwqConfig, target: str = "ecp5", only: list[str] | None = None) -> dict:
    """Instantiate the units that can be built for a config (after :func:`check_buildable`)."""
    names = unit_names(cfg, target)
    return {n: UNITS[n].make(cfg) for n in names if only is None or n in only}


def port_info(unit) -> dict:
    """Ports of a unit for the manifest: stream payload fields (name, offset, width, count, signed); for the
    AXI4-Stream tops (:mod:`hwq.rtl.axi`) the ``tdata`` beat layout of each stream."""
    if hasattr(unit, "streams"):
        from .axi_layout import axi_port_info

        return axi_port_info(unit.streams)
    ports = {}
    for name, member in unit.signature.members.items():
        lay = member.signature.members["payload"].shape
        ports[name] = {"direction": "in" if member.flow.value == "In" else "out",
                       "payload_bits": lay.size, "fields": layout_fields(lay),
                       "verilog": [f"{name}__payload", f"{name}__valid", f"{name}__ready"]}
    return ports


def _clock_reset(unit) -> dict:
    if hasattr(unit, "streams"):
        return {"clock": "aclk", "reset": "aresetn (synchronous, active low)", "interface": "AXI4-Stream"}
    return {"clock": "clk", "reset": "rst (synchronous, active high)"}


def generate(cfg: HwqConfig, out_dir: str | Path, target: str = "ecp5",
             only: list[str] | None = None) -> dict:
    """Write Verilog for every unit, ``manifest.json`` and ``files.txt``; return the manifest.

    Raises
    ------
    HwqError
        The config exceeds a hardware limit (the message names it).
    """
    notes = check_buildable(cfg, target)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"slug": cfg.slug, "config": cfg.to_dict(), "widths": cfg.widths(), "target_checked": target,
                "notes": notes, "units": {}}
    files = []
    for name, unit in units(cfg, target, only=only).items():
        mod = module_name(cfg, name)
        text = verilog.convert(unit, name=mod, emit_src=False, strip_internal_attrs=True)
        path = out / f"{mod}.v"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        files.append(path.name)
        manifest["units"][name] = {
            "module": mod, "file": path.name, "class": type(unit).__name__, "latency": unit.latency,
            "ii": unit.ii, "ports": port_info(unit), **_clock_reset(unit),
            "tables": cycles.table_sizes(cfg, UNITS[name].core or name),  # an AXI top holds its native top
        }
    manifest["throughput"] = {"blocks_per_cycle": cfg.lanes, "weights_per_cycle": cfg.lanes * cfg.dim}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "files.txt").write_text("".join(f + "\n" for f in files))
    return manifest
