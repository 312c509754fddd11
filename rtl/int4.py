"""INT4 absmax baseline dequant-MAC with the same lanes: each lane takes d signed 4-bit weights per cycle
(the same weights per lane per cycle as the lattice MAC), ``acc += sum_i w[i] * x[i]``; the per-column
absmax scale is applied after the integer result, like the lattice path's float epilogue."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .common import Pipe, signed_bits, tree_sum
from .mac import accumulate_out, mac_out_layout

__all__ = ["Int4Mac", "int4_acc_bits"]


def int4_acc_bits(cfg: HwqConfig) -> int:
    """Accumulator width: max_k products of |w| <= 8 and |x| <= act_rot_bound."""
    return signed_bits(cfg.max_blocks * cfg.dim * 8 * cfg.act_rot_bound)


class Int4Mac(wiring.Component):
    """Baseline MAC (see module docstring); latency 4 from the ``last`` beat, II = 1."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.acc_bits = int4_acc_bits(cfg)
        self.in_layout = data.StructLayout({
            "w": data.ArrayLayout(signed(4), cfg.lanes * cfg.dim),
            "x": data.ArrayLayout(signed(cfg.act_rot_bits), cfg.dim),
            "last": unsigned(1),
        })
        self.out_layout = mac_out_layout(cfg, self.acc_bits)
        super().__init__({"i": In(stream.Signature(self.in_layout)), "o": Out(stream.Signature(self.out_layout))})
        self.latency = 4
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "i4")
        p = self.i.payload
        x = pipe.regs([p.x[i] for i in range(cfg.dim)], "x")
        terms = []
        for lane in range(cfg.lanes):
            w = pipe.regs([p.w[lane * cfg.dim + i] for i in range(cfg.dim)], f"w{lane}_")
            prods = pipe.regs([a * b for a, b in zip(w, x)], f"p{lane}_")
            terms.append(pipe.reg(tree_sum(prods), f"dot{lane}"))
        last = pipe.delay(p.last, 3, "last")
        vld = pipe.valid_chain(self.i.valid, 3)
        accumulate_out(m, en, vld[-1], last, terms, self.o, self.acc_bits)
        return m
