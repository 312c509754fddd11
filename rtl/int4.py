"""INT4 absmax baseline dequant-MAC with the same lanes: each lane takes d signed 4-bit weights per cycle
(the same weights per lane per cycle as the lattice MAC), ``acc += sum_i w[i] * x[i]``; the per-column
absmax scale is applied after the integer result, like the lattice path's float epilogue."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .adders import pipe_tree_sum
from .arith import signed_bits
from .booth import booth_multiples, booth_pps
from .mac import STALL_FANOUT, mac_out_layout
from .outbuf import accumulate_out, closing_stages
from .pipe import Pipe, StallCopies
from .probe import probe_module

__all__ = ["Int4Mac", "int4_acc_bits", "int4_latency"]


def int4_acc_bits(cfg: HwqConfig) -> int:
    """Accumulator width: max_k products of |w| <= 8 and |x| <= act_rot_bound."""
    return signed_bits(cfg.max_blocks * cfg.dim * 8 * cfg.act_rot_bound)


class Int4Mac(wiring.Component):
    """Baseline MAC (see module docstring); latency :func:`int4_latency` from the ``last`` beat, II = 1."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.acc_bits = int4_acc_bits(cfg)
        self.in_layout = data.StructLayout({
            "w": data.ArrayLayout(signed(4), cfg.lanes * cfg.dim),
            "x": data.ArrayLayout(signed(cfg.act_rot_bits), cfg.dim),
            "last": unsigned(1),
        })
        self.out_layout = mac_out_layout(cfg, self.acc_bits)
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        self.latency = int4_latency(cfg)
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        full = Signal()
        m.d.comb += [en.eq(~full), self.i.ready.eq(en)]
        copies = StallCopies("full_", STALL_FANOUT)   # stall enables as in DequantMac
        pipe = Pipe(m, copies, "i4")
        p = self.i.payload
        w = [[p.w[lane * cfg.dim + i] for i in range(cfg.dim)] for lane in range(cfg.lanes)]
        terms, st = _datapath(m, pipe, cfg, [p.x[i] for i in range(cfg.dim)], w)
        vld, last, close = closing_stages(m, pipe, en, self.i.valid, p.last, st)
        m.d.comb += full.eq(accumulate_out(m, en, vld, last, terms, self.o, self.acc_bits, close,
                                           copies.signals))
        return m


def _datapath(m: Module, pipe: Pipe, cfg: HwqConfig, x: list, w: list[list]) -> tuple[list[Value], int]:
    """Per lane ``sum_i w[i] * x[i]`` as Booth partial products (same multiplier style as the lattice MAC)."""
    xm = [booth_multiples(pipe, xi, f"x{i}_") for i, xi in enumerate(x)]
    terms, st = [], 0
    for lane, wl in enumerate(w):
        wd = pipe.regs(wl, f"w{lane}_")
        pps = [pp for c, xmi in zip(wd, xm) for pp in booth_pps(c, xmi)]
        dot, st = pipe_tree_sum(pipe, pps, levels_per_stage=1, name=f"d{lane}_")
        terms.append(dot)
    return terms, 1 + st


def int4_latency(cfg: HwqConfig) -> int:
    """Latency of :class:`Int4Mac` from the ``last`` beat to ``o.valid`` (probe elaboration)."""
    m = probe_module()
    _, st = _datapath(m, Pipe(m, Const(1), "probe"), cfg, [Signal(signed(cfg.act_rot_bits))] * cfg.dim,
                      [[Signal(signed(4))] * cfg.dim])
    return st + 2  # accumulator/result register + output buffer
