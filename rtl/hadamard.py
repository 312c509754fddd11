"""Integer Walsh-Hadamard unit: ``y = H diag(signs) x`` on one segment of ``cfg.hadamard`` values per beat,
equal to :func:`hwq.hadamard.rotate_int`. Signs come from a ROM initialised with
:func:`hwq.prng.hadamard_signs` (``cfg.sign_seed``, ``cfg.max_k`` rows), addressed by the segment counter.

* ``pipelined``: input register (with the sign-ROM read), sign-ROM data register, sign stage, then log2(h)
  registered butterfly stages (Sylvester order), II = 1;
* ``folded``: one constant-geometry stage (out[i] = a[2i] + a[2i+1], out[i + h/2] = a[2i] - a[2i+1])
  applied log2(h) times to a register file, II = log2(h) + 1.
Widths grow by one bit per stage (exact, no rounding).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig
from hwq.prng import hadamard_signs

from .pipe import Pipe
from .decoder import ROM_STYLE

__all__ = ["Hadamard", "sign_rom_init", "had_latency"]


def sign_rom_init(cfg: HwqConfig) -> list[int]:
    """Word s, bit i = 1 when the sign of element s*h + i is -1."""
    h = cfg.hadamard
    nseg = -(-cfg.max_k // h)
    s = hadamard_signs(cfg.sign_seed, nseg * h).reshape(nseg, h)
    return [int(sum(1 << i for i in range(h) if row[i] < 0)) for row in s]


#: address bits per sign-ROM bank (64 words: one LUT6 level per bit); banks are selected one stage later
SIGN_BANK_BITS = 6


def had_latency(cfg: HwqConfig) -> int:
    """Cycles from an input transfer to ``o.valid``: pipelined: input + sign-ROM register, sign stage and
    log2(h) butterfly stages; folded: log2(h) iterations after the load (at least 1) + 1."""
    lg = cfg.hadamard.bit_length() - 1
    if cfg.hadamard_impl == "folded":
        return max(lg, 1) + 1
    return lg + 3


class Hadamard(wiring.Component):
    """Streaming integer Hadamard (see module docstring)."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        h = cfg.hadamard
        self.log2h = h.bit_length() - 1
        self.in_layout = data.StructLayout({"x": data.ArrayLayout(signed(cfg.act_bits), h),
                                            "last": unsigned(1)})
        self.out_layout = data.StructLayout({"y": data.ArrayLayout(signed(cfg.act_rot_bits), h),
                                             "last": unsigned(1)})
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        self.folded = cfg.hadamard_impl == "folded"
        self.latency = had_latency(cfg)
        self.ii = (self.log2h + 1) if self.folded else 1

    def _signs(self, m: Module, en) -> Value:
        """Sign word of the accepted segment, valid the cycle after the transfer (combinational output).

        The ROM is split into banks of at most 64 words (one LUT6 level per output bit on ECP5), read
        synchronously at the low address bits; the bank is selected by the registered high bits."""
        cfg = self.cfg
        init = sign_rom_init(cfg)
        seg = Signal(range(len(init)), name="seg")
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += seg.eq(Mux(self.i.payload.last | (seg == len(init) - 1), 0, seg + 1))
        lo_bits = min(SIGN_BANK_BITS, max(1, (len(init) - 1).bit_length()))
        nbank = -(-len(init) // (1 << lo_bits))
        datas = []
        for k in range(nbank):
            words = init[k << lo_bits:(k + 1) << lo_bits]
            rom = memory.Memory(shape=unsigned(cfg.hadamard), depth=len(words), init=words,
                                attrs={"ram_style": ROM_STYLE})
            m.submodules[f"signs{k}"] = rom
            rp = rom.read_port()
            m.d.comb += [rp.addr.eq(seg[:lo_bits]), rp.en.eq(en)]
            datas.append(rp.data)
        if nbank == 1:
            return datas[0]
        hi = Signal(range(nbank), name="seg_hi")
        with m.If(en):
            m.d.sync += hi.eq(seg[lo_bits:])
        return Array(datas)[hi]

    def elaborate(self, platform) -> Module:
        return self._folded() if self.folded else self._pipelined()

    def _pipelined(self) -> Module:
        m = Module()
        h = self.cfg.hadamard
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "had")
        signs = self._signs(m, en)
        x = pipe.regs([self.i.payload.x[i] for i in range(h)], "x")
        # the sign ROM is a block RAM with a slow clock-to-out: register its data before any logic,
        # then apply the signs in their own stage (a negation is an adder level)
        sg = pipe.reg(signs, "sg")
        x = pipe.regs(x, "x")
        v = pipe.regs([Mux(sg[i], -x[i], x[i]) for i in range(h)], "sx")
        span = 1
        while span < h:
            nxt = list(v)
            for base in range(0, h, 2 * span):
                for j in range(base, base + span):
                    a, b = v[j], v[j + span]
                    nxt[j], nxt[j + span] = a + b, a - b
            v = pipe.regs(nxt, f"s{span}_")
            span *= 2
        last = pipe.delay(self.i.payload.last, self.latency, "last")
        vld = pipe.valid_chain(self.i.valid, self.latency)
        m.d.comb += [self.o.valid.eq(vld[-1]), self.o.payload.last.eq(last)]
        for i in range(h):
            m.d.comb += self.o.payload.y[i].eq(v[i])
        return m

    def _folded(self) -> Module:
        m = Module()
        cfg, h = self.cfg, self.cfg.hadamard
        w = cfg.act_rot_bits
        regs = [Signal(signed(w), name=f"v{i}") for i in range(h)]
        last = Signal()
        busy = Signal()
        cnt = Signal(range(self.log2h + 2))
        en = Signal()
        m.d.comb += [en.eq(~busy & (~self.o.valid | self.o.ready)), self.i.ready.eq(en)]
        signs = self._signs(m, en)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & en):
            m.d.sync += [busy.eq(1), cnt.eq(0), last.eq(self.i.payload.last)]
            m.d.sync += [regs[i].eq(self.i.payload.x[i]) for i in range(h)]
        with m.Elif(busy):
            src = [Mux(cnt == 0, Mux(signs[i], -regs[i], regs[i]), regs[i]) for i in range(h)]
            if h == 1:
                m.d.sync += regs[0].eq(src[0])
            else:
                for i in range(h // 2):
                    m.d.sync += [regs[i].eq(src[2 * i] + src[2 * i + 1]),
                                 regs[i + h // 2].eq(src[2 * i] - src[2 * i + 1])]
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(cnt == max(self.log2h, 1) - 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        m.d.comb += self.o.payload.last.eq(last)
        for i in range(h):
            m.d.comb += self.o.payload.y[i].eq(regs[i])
        return m
