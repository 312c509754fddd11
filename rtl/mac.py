"""Weight-only dequant-MAC: ``cfg.lanes`` lanes, one block per lane per cycle, fully pipelined.

Per lane l and beat (block b of output row m0 + l)::

    cw   = decode(codes[l])                    ROM or arithmetic decoder (cfg.decoder_kind)
    dot  = sum_i cw[i] * x[i]                  dot_bits
    term = m_{ladder[l]} * dot                 fixed-point beta multiplier, cfg.beta_mults
    acc += term                                acc_bits; the beat with last = 1 emits acc and clears it

which is :func:`hwq.datapath.weight_only_acc` bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .adders import pipe_tree_sum
from .arith import LadderScaler
from .booth import booth_multiples, booth_pps
from .decoder import _probe_latency, decode_row, decoder_rom, ladder_shape
from .outbuf import accumulate_out, closing_stages
from .pipe import Pipe, StallCopies
from .probe import discard, probe_module

__all__ = ["STALL_FANOUT", "DequantMac", "mac_in_layout", "mac_lane", "mac_latency", "mac_out_layout"]


STALL_FANOUT = 512
"""Most pipeline flip-flops behind one copy of the MAC's stall register (:class:`StallCopies`)."""


def mac_in_layout(cfg: HwqConfig) -> data.StructLayout:
    return data.StructLayout({
        "codes": data.ArrayLayout(unsigned(cfg.code_bits), cfg.lanes),
        "ladder": data.ArrayLayout(ladder_shape(cfg), cfg.lanes),
        "x": data.ArrayLayout(signed(cfg.act_rot_bits), cfg.dim),
        "last": unsigned(1),
    })


def mac_out_layout(cfg: HwqConfig, acc_bits: int | None = None) -> data.StructLayout:
    return data.StructLayout({"acc": data.ArrayLayout(signed(acc_bits or cfg.acc_bits), cfg.lanes)})


def mac_lane(m: Module, pipe: Pipe, cfg: HwqConfig, rom, code: Value, ladder: Value, x: list[Value],
             tag: str = "l") -> tuple[Value, int]:
    """One lane's ``m_T * <decode(code), x>`` (registered); ``x`` must be the lane's Booth operands of the
    activation block delayed by :func:`x_stages` stages (:func:`shared_x`, :func:`lane_x`).
    Returns (term, stages from code/ladder to term)."""
    cw, s_dec = decode_row(m, pipe, code, cfg, rom, tag=tag)
    if cfg.decoder_kind == "rom":
        cw = pipe.regs(cw, f"{tag}cw")   # BRAM clock-to-out is slow: register the ROM data
        s_dec += 1
    lad = pipe.delay(ladder, s_dec, f"{tag}lad")
    pps = [pp for c, xm in zip(cw, x) for pp in booth_pps(c, xm)]
    dot, s_dot = pipe_tree_sum(pipe, pps, levels_per_stage=1, name=f"{tag}dot")
    dot = dot[:cfg.dot_bits].as_signed()
    lad = pipe.delay(lad, s_dot, f"{tag}lad")
    sc = LadderScaler(cfg.beta_mults)
    term = sc.build(pipe, dot, lad, name=f"{tag}sc")
    return term, s_dec + s_dot + sc.stages


def x_stages(cfg: HwqConfig) -> int:
    """Stages from the input beat to the shared Booth operands ``(x, -x)`` (the decoder's latency)."""
    return _probe_latency(cfg) + (1 if cfg.decoder_kind == "rom" else 0)


def shared_x(pipe: Pipe, cfg: HwqConfig, x: list[Value]) -> list[Value]:
    """The activation block delayed to two stages before the products (shared by all lanes; each lane
    takes its own copy with :func:`lane_x`)."""
    st = x_stages(cfg)
    assert st >= 2
    return [pipe.delay(xi, st - 2, f"x{i}_") for i, xi in enumerate(x)]


def lane_x(pipe: Pipe, xd: list[Value]) -> list[tuple[Value, Value, Value]]:
    """A lane's own registered copy of the shared activation block and its Booth operands ``(x, -x, 3x)``
    (two stages). Shared operands fanned out to all 8 lanes' partial-product multiplexers: in the 8-lane
    E8 MAC a 4.2 ns route, 137.8 MHz. Under the lane's own stall enable the copies are distinct cells."""
    return [booth_multiples(pipe, pipe.reg(xi, f"xc{i}_"), f"x{i}_") for i, xi in enumerate(xd)]


def mac_latency(cfg: HwqConfig) -> int:
    """Latency of :class:`DequantMac` from the ``last`` beat to ``o.valid`` (probe elaboration)."""
    m = probe_module()
    pipe = Pipe(m, Const(1), "probe")
    rom = None
    if cfg.decoder_kind == "rom":
        rom = discard(decoder_rom(cfg))
    x = lane_x(pipe, shared_x(pipe, cfg, [Signal(signed(cfg.act_rot_bits)) for _ in range(cfg.dim)]))
    _, st = mac_lane(m, pipe, cfg, rom, Signal(cfg.code_bits), Signal(ladder_shape(cfg)), x)
    return st + 2  # accumulator/result register + output buffer


class DequantMac(wiring.Component):
    """Weight-only dequant-MAC (see module docstring). Latency counted from the ``last`` beat.

    No DSP blocks: the codeword x activation products are radix-4 Booth partial products (multiplexers of
    the shared ``+-x``, ``+-2x``) summed in an adder tree with a register every two adder levels, and the
    ladder scaling ``m_T * dot`` is a constant shift-add product per distinct odd base of the ``m_t``
    followed by a select on T (:class:`hwq.rtl.arith.LadderScaler`).

    Parameters
    ----------
    cfg : HwqConfig
    """

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.in_layout = mac_in_layout(cfg)
        self.out_layout = mac_out_layout(cfg)
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        self.latency = mac_latency(cfg)
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        full = Signal()
        m.d.comb += [en.eq(~full), self.i.ready.eq(en)]
        # The pipeline registers stall on copies of `full` (the same value), each driving at most
        # STALL_FANOUT flip-flops of consecutive stages of one lane: one enable for all 24k flip-flops of
        # the 8-lane E8 MAC was a 7.0 ns route (132.6 MHz), one per lane 5.4 ns (143.6 MHz).
        copies = [StallCopies("full_x", STALL_FANOUT)]
        pipe = Pipe(m, copies[0], "mac")
        p = self.i.payload
        rom = None
        if cfg.decoder_kind == "rom":
            rom = m.submodules.rom = decoder_rom(cfg)
        x = shared_x(pipe, cfg, [p.x[i] for i in range(cfg.dim)])
        terms, st = [], 0
        for lane in range(cfg.lanes):
            copies.append(StallCopies(f"full_l{lane}_", STALL_FANOUT))
            lp = Pipe(m, copies[-1], f"m{lane}")
            t, st = mac_lane(m, lp, cfg, rom, p.codes[lane], p.ladder[lane], lane_x(lp, x), tag=f"l{lane}")
            terms.append(t)
        vld, last, close = closing_stages(m, pipe, en, self.i.valid, p.last, st)
        full_copies = [sig for c in copies for sig in c.signals]
        self.stall, self.stall_copies = full, full_copies   # for tests: every copy must equal `full`
        m.d.comb += full.eq(accumulate_out(m, en, vld, last, terms, self.o, cfg.acc_bits, close, full_copies))
        return m
