"""Top level of the weight-only GEMV: Hadamard -> activation buffer -> DequantMac.

Activation segments (``x`` stream, h int8 values per beat) are rotated by :class:`Hadamard` and written one
element per cycle into d banks (element e -> bank e mod d, address e // d), so block b is address b of every
bank. Weight beats (``w`` stream: L codes, L ladder indices, ``last``, ``done``) then read block b (a counter
reset by ``last``) and feed :class:`DequantMac`. ``done`` releases the buffer for the next vector.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .decoder import ladder_shape
from .hadamard import Hadamard
from .mac import DequantMac

__all__ = ["DequantMacTop"]


class DequantMacTop(wiring.Component):
    """Weight-only GEMV top (see module docstring); latency = 1 + DequantMac latency from the last w beat."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.had = Hadamard(cfg)
        self.mac = DequantMac(cfg)
        self.w_layout = data.StructLayout({
            "codes": data.ArrayLayout(unsigned(cfg.code_bits), cfg.lanes),
            "ladder": data.ArrayLayout(ladder_shape(cfg), cfg.lanes),
            "last": unsigned(1), "done": unsigned(1),
        })
        super().__init__({"x": In(stream.Signature(self.had.in_layout)), "w": In(stream.Signature(self.w_layout)),
                          "o": Out(stream.Signature(self.mac.out_layout))})
        self.latency = 1 + self.mac.latency
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        h, d = cfg.hadamard, cfg.dim
        depth = -(-cfg.max_k // d)
        m.submodules.had = had = self.had
        m.submodules.mac = mac = self.mac
        loaded = Signal()
        # activation load: x -> Hadamard -> serializer -> banks
        m.d.comb += [had.i.payload.eq(self.x.payload), had.i.valid.eq(self.x.valid & ~loaded),
                     self.x.ready.eq(had.i.ready & ~loaded)]
        seg = [Signal(signed(cfg.act_rot_bits), name=f"seg{i}") for i in range(h)]
        busy, seg_last = Signal(), Signal()
        cnt = Signal(range(h + 1))
        bank = Signal(range(d))
        waddr = Signal(range(depth))
        m.d.comb += had.o.ready.eq(~busy & ~loaded)
        banks = []
        for j in range(d):
            mem = memory.Memory(shape=signed(cfg.act_rot_bits), depth=depth, init=[])
            m.submodules[f"bank{j}"] = mem
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(waddr), wp.data.eq(seg[0]), wp.en.eq(busy & (bank == j))]
            banks.append(mem.read_port())
        with m.If(had.o.valid & had.o.ready):
            m.d.sync += [busy.eq(1), cnt.eq(0), seg_last.eq(had.o.payload.last)]
            m.d.sync += [seg[i].eq(had.o.payload.y[i]) for i in range(h)]
        with m.Elif(busy):
            m.d.sync += [seg[i].eq(seg[i + 1]) for i in range(h - 1)]
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(bank == d - 1):
                m.d.sync += [bank.eq(0), waddr.eq(waddr + 1)]
            with m.Else():
                m.d.sync += bank.eq(bank + 1)
            with m.If(cnt == h - 1):
                m.d.sync += busy.eq(0)
                with m.If(seg_last):
                    m.d.sync += [loaded.eq(1), bank.eq(0), waddr.eq(0)]
        # weight stream: one register stage while the banks are read
        s_valid = Signal()
        s = Signal(self.w_layout)
        b = Signal(range(depth))
        en = Signal()
        m.d.comb += [en.eq(~s_valid | mac.i.ready), self.w.ready.eq(en & loaded)]
        for rp in banks:
            m.d.comb += [rp.addr.eq(b), rp.en.eq(en)]
        with m.If(en):
            m.d.sync += s_valid.eq(self.w.valid & loaded)
            with m.If(self.w.valid & loaded):
                m.d.sync += [s.eq(self.w.payload), b.eq(0 if depth == 1 else b + 1)]
                with m.If(self.w.payload.last):
                    m.d.sync += b.eq(0)
                with m.If(self.w.payload.done):
                    m.d.sync += loaded.eq(0)
        m.d.comb += [mac.i.valid.eq(s_valid), mac.i.payload.last.eq(s.last)]
        for lane in range(cfg.lanes):
            m.d.comb += [mac.i.payload.codes[lane].eq(s.codes[lane]), mac.i.payload.ladder[lane].eq(s.ladder[lane])]
        for j in range(d):
            m.d.comb += mac.i.payload.x[j].eq(banks[j].data)
        wiring.connect(m, wiring.flipped(self.o), mac.o)
        return m
