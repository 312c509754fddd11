"""Codebook decoder: code row -> scaled codeword, from a ROM or arithmetically.

* ROM (``cfg.decoder_kind == "rom"``): ``amaranth.lib.memory.Memory(init=hwq.voronoi.codebook(...))``,
  one synchronous read port per lane (1 cycle).
* arithmetic (``"arith"``): row -> digits k (chunked long division by q, no multiplier), ``Gk`` (shift-add),
  ``c = Gk - q Q(Gk/q)`` by per-coordinate tables of ``Gk`` (exact, SPEC tie rules;
  :mod:`hwq.rtl.residual`).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig
from hwq.voronoi import codebook

from .adders import pipe_tree_sum
from .arith import divmod_small, scaled_terms
from .pipe import Pipe
from .probe import probe_module
from .residual import gk_ranges, voronoi_reduce

__all__ = ["CodebookDecoder", "decoder_rom", "decode_row", "decode_digits", "digits_of_row", "rom_init"]


def rom_init(cfg: HwqConfig) -> list[int]:
    """ROM words: the codeword of row r packed LSB first, d fields of coord_bits (two's complement)."""
    cb = codebook(cfg.lattice, cfg.q).astype(np.int64)
    w = cfg.coord_bits
    mask = (1 << w) - 1
    words = np.zeros(cb.shape[0], dtype=object)
    for j in range(cfg.dim):
        words = words + ((cb[:, j] & mask).astype(object) << (j * w))
    return [int(v) for v in words]


#: Yosys ``ram_style`` of the small ROMs (codebook, Hadamard signs). "logic": LUT ROMs. On ECP5 a DP16KD
#: block RAM read without its output register has a ~5.8 ns clock-to-out (nextpnr, speed 6), which with
#: routing caps any design that reads one at ~127 MHz (measured, see rtl/README.md); LUT ROMs meet 150 MHz.
ROM_STYLE = "logic"


def decoder_rom(cfg: HwqConfig) -> memory.Memory:
    """The codebook ROM of a config (one per unit; add a read port per lane)."""
    return memory.Memory(shape=unsigned(cfg.dim * cfg.coord_bits), depth=cfg.num_codewords,
                         init=rom_init(cfg), attrs={"ram_style": ROM_STYLE})


def digits_of_row(pipe: Pipe, row: Value, cfg: HwqConfig) -> tuple[list[Value], int]:
    """Row -> index digits k (first digit slowest) by successive long division by q."""
    q, d = cfg.q, cfg.dim
    digits: list[tuple[Value, int]] = [None] * d  # type: ignore[list-item]
    cur, width, stage = row, cfg.code_bits, 0
    for j in range(d - 1, 0, -1):
        quot, rem, st = divmod_small(cur, q, width, pipe=pipe)
        stage += st + 1
        cur = pipe.reg(quot[:max(1, (q ** j - 1).bit_length())], "dq")
        digits[j] = (pipe.reg(rem, "dk"), stage)
        width = max(1, (q ** j - 1).bit_length())
    digits[0] = (cur, stage)
    return [pipe.delay(v, stage - s, "dal") for v, s in digits], stage


def decode_digits(m: Module, pipe: Pipe, digits: list[Value], cfg: HwqConfig, tag: str = "ad"
                  ) -> tuple[list[Value], int]:
    """Arithmetic decoder from index digits: ``c = Gk - q Q(Gk/q)`` (scaled coords), pipelined.

    ``Gk`` is a shift-add per coordinate; its coordinates have a tiny range (E8 q=7: [-12, 30]), so the
    reduction is :func:`hwq.rtl.residual.voronoi_reduce` (per-coordinate tables, one-hot argmax)."""
    g = cfg.lat.generator_int
    d = cfg.dim
    gk, sts = [], []
    for i in range(d):
        terms = [t for j in range(d) for t in scaled_terms(digits[j], int(g[i, j]))]
        v, s = pipe_tree_sum(pipe, terms or [Const(0, signed(2))], name=f"{tag}gk{i}_")
        gk.append(v)
        sts.append(s)
    lo, hi = gk_ranges(cfg)
    s_gk = max(sts)
    gk = [pipe.delay(v, s_gk - s, f"{tag}gka") for v, s in zip(gk, sts)]
    c, st = voronoi_reduce(m, pipe, gk, cfg, lo, hi, tag=tag)
    return c, s_gk + st


def decode_row(m: Module, pipe: Pipe, row: Value, cfg: HwqConfig, rom: memory.Memory | None,
               tag: str = "dec") -> tuple[list[Value], int]:
    """Row -> scaled codeword (d signed values of coord_bits) and its latency in stages."""
    if cfg.decoder_kind == "rom":
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(row), rp.en.eq(pipe.en)]
        w = cfg.coord_bits
        return [rp.data[j * w:(j + 1) * w].as_signed() for j in range(cfg.dim)], 1
    digits, s1 = digits_of_row(pipe, row, cfg)
    c, s2 = decode_digits(m, pipe, digits, cfg, tag=tag)
    return c, s1 + s2


def ladder_shape(cfg: HwqConfig):
    return unsigned(max(1, cfg.ladder_bits))


class CodebookDecoder(wiring.Component):
    """Streaming codebook decoder: ``{code, ladder}`` -> ``{cw[d], ladder}``, II = 1.

    Parameters
    ----------
    cfg : HwqConfig
    """

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.in_layout = data.StructLayout({"code": unsigned(cfg.code_bits), "ladder": ladder_shape(cfg)})
        self.out_layout = data.StructLayout({"cw": data.ArrayLayout(signed(cfg.coord_bits), cfg.dim),
                                             "ladder": ladder_shape(cfg)})
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        self.latency = _probe_latency(cfg)
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "dec")
        rom = None
        if cfg.decoder_kind == "rom":
            rom = m.submodules.rom = decoder_rom(cfg)
        cw, st = decode_row(m, pipe, self.i.payload.code, cfg, rom)
        lad = pipe.delay(self.i.payload.ladder, st, "lad")
        vld = pipe.valid_chain(self.i.valid, st)
        m.d.comb += [self.o.valid.eq(vld[-1]), self.o.payload.ladder.eq(lad)]
        for j in range(cfg.dim):
            m.d.comb += self.o.payload.cw[j].eq(cw[j])
        return m


def _probe_latency(cfg: HwqConfig) -> int:
    """Stages of :func:`decode_row` for a config (built on a throw-away module)."""
    if cfg.decoder_kind == "rom":
        return 1
    m = probe_module()  # throw-away module, only counts stages
    pipe = Pipe(m, Const(1), "probe")
    _, st = decode_row(m, pipe, Signal(cfg.code_bits), cfg, None)
    return st
