"""Weight-only dequant-MAC: ``cfg.lanes`` lanes, one block per lane per cycle, fully pipelined.

Per lane l and beat (block b of output row m0 + l)::

    cw   = decode(codes[l])                    ROM or arithmetic decoder (cfg.decoder_kind)
    dot  = sum_i cw[i] * x[i]                  dot_bits
    term = m_{ladder[l]} * dot                 fixed-point beta multiplier, cfg.beta_mults
    acc += term                                acc_bits; the beat with last = 1 emits acc and clears it

which is :func:`hwq.datapath.weight_only_acc` bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .common import Pipe, tree_sum
from .decoder import _probe_latency, decode_row, decoder_rom, ladder_shape

__all__ = ["DequantMac", "mac_in_layout", "mac_out_layout", "accumulate_out"]


def mac_in_layout(cfg: HwqConfig) -> data.StructLayout:
    return data.StructLayout({
        "codes": data.ArrayLayout(unsigned(cfg.code_bits), cfg.lanes),
        "ladder": data.ArrayLayout(ladder_shape(cfg), cfg.lanes),
        "x": data.ArrayLayout(signed(cfg.act_rot_bits), cfg.dim),
        "last": unsigned(1),
    })


def mac_out_layout(cfg: HwqConfig, acc_bits: int | None = None) -> data.StructLayout:
    return data.StructLayout({"acc": data.ArrayLayout(signed(acc_bits or cfg.acc_bits), cfg.lanes)})


def accumulate_out(m: Module, en, valid, last, terms: list, o, acc_bits: int) -> None:
    """Final stage shared by the MAC units: per-lane accumulators, one output beat per ``last``."""
    accs = [Signal(signed(acc_bits), name=f"acc{i}") for i in range(len(terms))]
    with m.If(en):
        m.d.sync += o.valid.eq(valid & last)
        with m.If(valid):
            for i, (a, t) in enumerate(zip(accs, terms)):
                total = a + t
                with m.If(last):
                    m.d.sync += [a.eq(0), o.payload.acc[i].eq(total)]
                with m.Else():
                    m.d.sync += a.eq(total)


class DequantMac(wiring.Component):
    """Weight-only dequant-MAC (see module docstring). Latency counted from the ``last`` beat.

    Parameters
    ----------
    cfg : HwqConfig
    """

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.in_layout = mac_in_layout(cfg)
        self.out_layout = mac_out_layout(cfg)
        super().__init__({"i": In(stream.Signature(self.in_layout)), "o": Out(stream.Signature(self.out_layout))})
        self.dec_latency = _probe_latency(cfg)
        self.latency = self.dec_latency + 4
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "mac")
        p = self.i.payload
        rom = None
        if cfg.decoder_kind == "rom":
            rom = m.submodules.rom = decoder_rom(cfg)
        mults = Array([Const(v, unsigned(cfg.mult_bits)) for v in cfg.beta_mults]
                      + [Const(0, unsigned(cfg.mult_bits))] * ((1 << ladder_shape(cfg).width) - cfg.ladder_len))
        st = self.dec_latency
        x = [pipe.delay(p.x[i], st, f"x{i}") for i in range(cfg.dim)]
        terms = []
        for lane in range(cfg.lanes):
            cw, s = decode_row(m, pipe, p.codes[lane], cfg, rom, tag=f"l{lane}")
            assert s == st
            mt = pipe.delay(mults[p.ladder[lane]], st + 1, f"m{lane}_")   # align with the products
            prods = pipe.regs([c * xi for c, xi in zip(cw, x)], f"p{lane}_")
            dot = pipe.reg(tree_sum(prods)[:cfg.dot_bits].as_signed(), f"dot{lane}")
            mtd = pipe.reg(mt, f"md{lane}_")
            terms.append(pipe.reg(dot * mtd, f"t{lane}_"))
        last = pipe.delay(p.last, st + 3, "last")
        vld = pipe.valid_chain(self.i.valid, st + 3)
        accumulate_out(m, en, vld[-1], last, terms, self.o, cfg.acc_bits)
        return m
