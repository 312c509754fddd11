"""Both-quantized LUT inner-product MAC: ``cfg.lanes`` lanes, one block per lane per cycle.

Per lane l and beat: ``acc += (m_{Tw} * m_{Tx}) * LUT[codes[l], xcode]`` with LUT =
:func:`hwq.voronoi.pair_lut` in a ROM (address ``codes[l] * q^d + xcode``) and the ladder product from a
ladder_len^2 constant table: :func:`hwq.datapath.lut_acc` bit for bit.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Module, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.voronoi import MAX_LUT_ROWS, pair_lut

from .arith import mul_const
from .decoder import ladder_shape
from .mac import mac_out_layout
from .outbuf import accumulate_out, closing_stages
from .pipe import Pipe

__all__ = ["LutMac"]


LUT_STAGES = 3
"""Pipeline stages of :class:`LutMac` from the input beat to a lane's term: the table address register, the
synchronous table read, the term register (``val * mm``)."""


def lut_latency(cfg: HwqConfig) -> int:
    """Latency of :class:`LutMac` from the ``last`` beat to ``o.valid``: its :data:`LUT_STAGES` plus the
    accumulator/result register and the output buffer (:func:`hwq.rtl.outbuf.accumulate_out`), counted as
    :func:`hwq.rtl.mac.mac_latency` counts the MAC's."""
    return LUT_STAGES + 2


class LutMac(wiring.Component):
    """LUT MAC (see module docstring); latency :func:`lut_latency` from the ``last`` beat, II = 1."""

    def __init__(self, cfg: HwqConfig):
        if cfg.num_codewords > MAX_LUT_ROWS:
            raise HwqError(f"the LUT unit needs q**d <= {MAX_LUT_ROWS} codewords, {cfg.lattice} q={cfg.q} "
                           f"has {cfg.num_codewords}: use the weight-only DequantMac")
        self.cfg = cfg
        lb = ladder_shape(cfg)
        self.in_layout = data.StructLayout({
            "codes": data.ArrayLayout(unsigned(cfg.code_bits), cfg.lanes),
            "ladder": data.ArrayLayout(lb, cfg.lanes),
            "xcode": unsigned(cfg.code_bits), "xladder": lb, "last": unsigned(1),
        })
        self.out_layout = mac_out_layout(cfg, cfg.lut_acc_bits)
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        self.latency = lut_latency(cfg)
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        n = cfg.num_codewords
        en = Signal()
        full = Signal()
        m.d.comb += [en.eq(~full), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "lut")
        p = self.i.payload
        lut = pair_lut(cfg.lattice, cfg.q).astype(np.int64).reshape(-1)
        mask = (1 << cfg.lut_bits) - 1
        rom = m.submodules.lut = memory.Memory(shape=unsigned(cfg.lut_bits), depth=n * n,
                                               init=[int(v) & mask for v in lut])
        lw = ladder_shape(cfg).width
        mults = list(cfg.beta_mults) + [0] * ((1 << lw) - cfg.ladder_len)
        mm_bits = 2 * cfg.mult_bits
        mm_tab = Array([Const(a * b, unsigned(mm_bits)) for a in mults for b in mults])
        terms = []
        for lane in range(cfg.lanes):
            addr = pipe.reg(mul_const(p.codes[lane], n) + p.xcode, f"a{lane}_")
            mm = pipe.delay(mm_tab[p.ladder[lane] << lw | p.xladder], 2, f"mm{lane}_")
            rp = rom.read_port()
            m.d.comb += [rp.addr.eq(addr), rp.en.eq(en)]
            val = rp.data.as_signed()
            terms.append(pipe.reg(val * mm, f"t{lane}_"))
        vld, last, close = closing_stages(m, pipe, en, self.i.valid, p.last, LUT_STAGES)
        m.d.comb += full.eq(accumulate_out(m, en, vld, last, terms, self.o, cfg.lut_acc_bits, close))
        return m
