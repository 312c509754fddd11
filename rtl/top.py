"""Top levels: weight-only GEMV (Hadamard -> activation buffer -> DequantMac) and both-quantized GEMV
(Hadamard -> activation buffer -> ActEncoder -> code buffer -> LutMac).

Activation segments (``x`` stream, h int8 values per beat) are rotated by :class:`Hadamard` and written one
element per cycle into d banks (element e -> bank e mod d, address e // d), so block b is address b of every
bank. Weight beats (``w`` stream: L codes, L ladder indices, ``last``, ``done``) then read block b (a counter
reset by ``last``) and feed the MAC. ``done`` releases the buffer for the next vector.

:class:`LutTop` adds an encode pass between loading and the weights: the nb blocks of the buffered vector
go through :class:`ActEncoder` (one block per cycle, with the vector's ``em`` from the ``x`` beat with
``last = 1``) into a code buffer, which the weight beats then read (the activation is coded once per
vector, not once per row group).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .decoder import ladder_shape
from .encoder import ActEncoder, em_bits
from .hadamard import Hadamard
from .lut import LutMac
from .mac import DequantMac

__all__ = ["DequantMacTop", "LutTop", "w_layout"]


def w_layout(cfg: HwqConfig) -> data.StructLayout:
    """Weight beats of the top levels: L codes, L ladder indices, ``last`` (row group), ``done`` (vector)."""
    return data.StructLayout({
        "codes": data.ArrayLayout(unsigned(cfg.code_bits), cfg.lanes),
        "ladder": data.ArrayLayout(ladder_shape(cfg), cfg.lanes),
        "last": unsigned(1), "done": unsigned(1),
    })


def _x_buffer(m: Module, cfg: HwqConfig, had: Hadamard, x, hold, hold_in=None):
    """x stream -> Hadamard -> serializer -> d banks, accepting while ``hold`` (and ``hold_in``, which
    gates only the x input) is low.

    Returns
    -------
    (read_ports, finish, nblk) : one read port per bank; ``finish`` is high in the cycle the last element
        of a vector (the segment with ``last = 1``) is written; ``nblk`` holds the vector's block count.
    """
    h, d = cfg.hadamard, cfg.dim
    depth = -(-cfg.max_k // d)
    hin = hold if hold_in is None else hold | hold_in
    m.d.comb += [had.i.payload.x.eq(x.payload.x), had.i.payload.last.eq(x.payload.last),
                 had.i.valid.eq(x.valid & ~hin), x.ready.eq(had.i.ready & ~hin)]
    seg = [Signal(signed(cfg.act_rot_bits), name=f"seg{i}") for i in range(h)]
    busy, seg_last = Signal(), Signal()
    cnt = Signal(range(h + 1))
    bank = Signal(range(d))
    waddr = Signal(range(depth))
    nblk = Signal(range(depth + 1))
    finish = Signal()
    m.d.comb += had.o.ready.eq(~busy & ~hold)
    ports = []
    for j in range(d):
        mem = memory.Memory(shape=signed(cfg.act_rot_bits), depth=depth, init=[])
        m.submodules[f"bank{j}"] = mem
        wp = mem.write_port()
        m.d.comb += [wp.addr.eq(waddr), wp.data.eq(seg[0]), wp.en.eq(busy & (bank == j))]
        ports.append(mem.read_port())
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
                m.d.comb += finish.eq(1)
                m.d.sync += [bank.eq(0), waddr.eq(0), nblk.eq(waddr + 1)]
    return ports, finish, nblk


class DequantMacTop(wiring.Component):
    """Weight-only GEMV top (see module docstring); latency = 1 + DequantMac latency from the last w beat."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.had = Hadamard(cfg)
        self.mac = DequantMac(cfg)
        self.w_layout = w_layout(cfg)
        super().__init__({"x": In(stream.Signature(self.had.in_layout)),
                          "w": In(stream.Signature(self.w_layout)),
                          "o": Out(stream.Signature(self.mac.out_layout))})
        self.latency = 1 + self.mac.latency
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        depth = -(-cfg.max_k // cfg.dim)
        m.submodules.had = had = self.had
        m.submodules.mac = mac = self.mac
        loaded = Signal()
        banks, finish, _ = _x_buffer(m, cfg, had, self.x, loaded)
        with m.If(finish):
            m.d.sync += loaded.eq(1)
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
            m.d.comb += [mac.i.payload.codes[lane].eq(s.codes[lane]),
                         mac.i.payload.ladder[lane].eq(s.ladder[lane])]
        for j in range(cfg.dim):
            m.d.comb += mac.i.payload.x[j].eq(banks[j].data)
        wiring.connect(m, wiring.flipped(self.o), mac.o)
        return m


class LutTop(wiring.Component):
    """Both-quantized GEMV top (see module docstring): Hadamard -> buffer -> ActEncoder -> LutMac.

    ``x`` beats: ``x`` h x s(act_bits), ``em`` u(em_bits) (the vector's :func:`hwq.datapath.enc_multiplier`,
    read from the beat with ``last = 1``), ``last``. ``w`` beats as for :class:`DequantMacTop`; ``o`` as for
    :class:`LutMac`. Latency = 1 + LutMac latency from the last w beat; the encode pass takes
    nb + ActEncoder latency cycles per vector.
    """

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.had = Hadamard(cfg)
        self.enc = ActEncoder(cfg)
        self.lut = LutMac(cfg)
        self.w_layout = w_layout(cfg)
        self.x_layout = data.StructLayout({"x": data.ArrayLayout(signed(cfg.act_bits), cfg.hadamard),
                                           "em": unsigned(em_bits(cfg)), "last": unsigned(1)})
        super().__init__({"x": In(stream.Signature(self.x_layout)), "w": In(stream.Signature(self.w_layout)),
                          "o": Out(stream.Signature(self.lut.out_layout))})
        self.latency = 1 + self.lut.latency
        self.encode_latency = self.enc.latency
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        d = cfg.dim
        depth = -(-cfg.max_k // d)
        lb = ladder_shape(cfg).width
        m.submodules.had = had = self.had
        m.submodules.enc = enc = self.enc
        m.submodules.lutmac = lut = self.lut
        phase = Signal(2)  # 0 load, 1 encode, 2 weights
        em = Signal(em_bits(cfg))
        xlock = Signal()  # the last segment was accepted: the next vector (and its em) waits
        with m.If(self.x.valid & self.x.ready & self.x.payload.last):
            m.d.sync += [em.eq(self.x.payload.em), xlock.eq(1)]
        banks, finish, nblk = _x_buffer(m, cfg, had, self.x, phase != 0, xlock)
        with m.If(finish):
            m.d.sync += [phase.eq(1), xlock.eq(0)]
        # encode pass: issue block reads, the encoder output is always accepted
        codes = m.submodules.codes = memory.Memory(shape=unsigned(cfg.code_bits + lb), depth=depth, init=[])
        ib = Signal(range(depth + 1))
        ob = Signal(range(depth + 1))
        iv = Signal()
        issue = Signal()
        m.d.comb += issue.eq((phase == 1) & (ib < nblk))
        for rp in banks:
            m.d.comb += [rp.addr.eq(ib), rp.en.eq(1)]
        m.d.sync += iv.eq(issue)
        with m.If(issue):
            m.d.sync += ib.eq(ib + 1)
        m.d.comb += [enc.i.valid.eq(iv), enc.i.payload.em.eq(em), enc.o.ready.eq(1)]
        for j in range(d):
            m.d.comb += enc.i.payload.x[j].eq(banks[j].data)
        cw = codes.write_port()
        m.d.comb += [cw.addr.eq(ob), cw.data.eq(enc.o.payload.code | (enc.o.payload.ladder << cfg.code_bits)),
                     cw.en.eq(enc.o.valid)]
        with m.If(enc.o.valid):
            m.d.sync += ob.eq(ob + 1)
            with m.If(ob + 1 == nblk):
                m.d.sync += [phase.eq(2), ib.eq(0), ob.eq(0)]
        # weight stream: one register stage while the code buffer is read
        cr = codes.read_port()
        s_valid = Signal()
        s = Signal(self.w_layout)
        b = Signal(range(depth))
        en = Signal()
        ready_w = phase == 2
        m.d.comb += [en.eq(~s_valid | lut.i.ready), self.w.ready.eq(en & ready_w), cr.addr.eq(b),
                     cr.en.eq(en)]
        with m.If(en):
            m.d.sync += s_valid.eq(self.w.valid & ready_w)
            with m.If(self.w.valid & ready_w):
                m.d.sync += [s.eq(self.w.payload), b.eq(0 if depth == 1 else b + 1)]
                with m.If(self.w.payload.last):
                    m.d.sync += b.eq(0)
                with m.If(self.w.payload.done):
                    m.d.sync += phase.eq(0)
        m.d.comb += [lut.i.valid.eq(s_valid), lut.i.payload.last.eq(s.last),
                     lut.i.payload.xcode.eq(cr.data[:cfg.code_bits]),
                     lut.i.payload.xladder.eq(cr.data[cfg.code_bits:])]
        for lane in range(cfg.lanes):
            m.d.comb += [lut.i.payload.codes[lane].eq(s.codes[lane]),
                         lut.i.payload.ladder[lane].eq(s.ladder[lane])]
        wiring.connect(m, wiring.flipped(self.o), lut.o)
        return m
