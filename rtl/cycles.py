"""Analytic cycle model of the hwq RTL units (checked against RTL simulation in the tests and the sim work).

All units except the folded Hadamard are stall-all pipelines with II = 1. With the output always ready:

* mac / lut / int4 (lanes L, block size d): an M x K GEMV is ceil(M / L) row groups of nb = K / d beats;
  the last output appears ``latency`` cycles after the last beat, so
  ``gemv_cycles = ceil(M / L) * nb - 1 + latency + 1`` (counting the first beat's cycle as cycle 0 and
  ending with the cycle the last output is transferred, inclusive).
* had: K / h segments, II = 1 (pipelined) or log2(h) + 1 (folded).
* top: K / h segments into the Hadamard, then K elements written one per cycle, then the MAC stream
  (+1 register stage between the buffer and the MAC).
* luttop: as top, plus an encode pass of K / d blocks (one per cycle) + the ActEncoder latency before the
  weight stream is accepted; then the LutMac stream (+1 register stage).
"""

from __future__ import annotations

import functools
import math

from hwq.config import HwqConfig

from .units import unit as _unit

__all__ = ["gemv_cycles", "ii", "latency", "rotate_cycles", "table_sizes"]


@functools.cache  # a probe elaboration (about a second for E8); configs are frozen, so one per (cfg, unit)
def latency(cfg: HwqConfig, unit: str = "mac") -> int:
    """Cycles from an input transfer (the ``last`` beat for MAC units) to ``o.valid`` (the unit's own answer,
    :meth:`hwq.rtl.units.Unit.latency`)."""
    return _unit(unit).latency(cfg)


def ii(cfg: HwqConfig, unit: str = "mac") -> int:
    """Initiation interval (cycles per input beat)."""
    if unit == "had" and cfg.hadamard_impl == "folded":
        return max(cfg.hadamard_log2, 1) + 1
    return 1


def gemv_cycles(cfg: HwqConfig, m: int, k: int, unit: str = "mac") -> int:
    """Cycles from the first input beat to the last output transfer (inclusive) of an M x K GEMV."""
    if m < 1 or k < 1 or k % cfg.dim:
        raise ValueError(f"need M >= 1 and K a positive multiple of d = {cfg.dim}")
    beats = math.ceil(m / cfg.lanes) * (k // cfg.dim)
    stream = beats - 1 + latency(cfg, unit) + 1
    u = _unit(unit)
    if u.gemv_top:
        # activation load phase first: K / h Hadamard segments, then K buffer writes, one per cycle
        # (top: checked against the Verilator bulk harness, exact for Z, D3, D4, E8 and the default config)
        stream += rotate_cycles(cfg, k) + k
    if u.encodes:
        # plus one encode pass over the K / d blocks (model only; not yet checked in simulation)
        stream += k // cfg.dim + latency(cfg, "enc")
    return stream


def rotate_cycles(cfg: HwqConfig, k: int) -> int:
    """Cycles for the Hadamard unit to rotate a length-K vector (output ready)."""
    segs = k // cfg.hadamard
    return (segs - 1) * ii(cfg, "had") + latency(cfg, "had") + 1


def table_sizes(cfg: HwqConfig, unit: str) -> dict:
    """ROM/RAM sizes (entries, bits per entry, copies) of a unit."""
    t = {}
    if unit in ("mac", "dec", "top", "enc", "luttop") and cfg.decoder_kind == "rom":
        copies = {"mac": cfg.lanes, "top": cfg.lanes, "dec": 1, "enc": cfg.ladder_len,
                  "luttop": cfg.ladder_len}[unit]
        t["codebook"] = {"entries": cfg.num_codewords, "bits": cfg.dim * cfg.coord_bits, "copies": copies}
    if unit in ("lut", "luttop"):
        t["pair_lut"] = {"entries": cfg.num_codewords ** 2, "bits": cfg.lut_bits, "copies": cfg.lanes}
    if unit in ("had", "top", "luttop"):
        t["signs"] = {"entries": -(-cfg.max_k // cfg.hadamard), "bits": cfg.hadamard, "copies": 1}
    if unit in ("top", "luttop"):
        t["x_buffer"] = {"entries": -(-cfg.max_k // cfg.dim), "bits": cfg.act_rot_bits, "copies": cfg.dim}
    if unit == "luttop":
        t["code_buffer"] = {"entries": -(-cfg.max_k // cfg.dim),
                            "bits": cfg.code_bits + max(1, cfg.ladder_bits), "copies": 1}
    return t
