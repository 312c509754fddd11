"""AXI4-Stream top levels: :class:`DequantMacAxi` wraps :class:`~hwq.rtl.top.DequantMacTop` (weight-only),
:class:`LutAxi` wraps :class:`~hwq.rtl.top.LutTop` (both quantized).

Ports (flat Verilog names, as Vivado, LiteX and cocotbext-axi expect them): ``aclk``, ``aresetn`` (active low,
synchronous), and per stream ``<port>_tdata``, ``_tvalid``, ``_tready``, ``_tlast`` for ``s_axis_x``,
``s_axis_w`` and ``m_axis_o``; beat layouts in :mod:`hwq.rtl.axi_layout`.

Run-time parameters need no register block: K is the length of the ``s_axis_x`` packet (``tlast``), M the
number of ``row_end`` beats of the ``s_axis_w`` packet, the ladder multipliers are fixed by the config, and
the LUT unit's per-vector encoding multiplier ``em`` travels in-band with its vector, so it can never be
applied to the wrong one (an AXI4-Lite register would have to be rewritten between vectors in step with the
stream).

``m_axis_o_tlast`` is not in the native top: each accepted weight beat that ends a row group pushes its
``tlast`` into a small flag FIFO, popped by the matching result beat (results come out in row-group order).
While the FIFO is full, weight beats wait (``s_axis_w_tready`` low; it never depends on ``s_axis_w_tvalid``
or ``tdata``); with the default depth (native latency + 8) this never happens at full rate.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .axi_layout import axi_streams
from .top import DequantMacTop, LutTop

__all__ = ["DequantMacAxi", "LutAxi"]


class _AxiTop(wiring.Component):
    kind = ""
    native = DequantMacTop

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.core = self.native(cfg)
        self.streams = axi_streams(cfg, self.kind)
        members = {"aclk": In(1), "aresetn": In(1)}
        for port, s in self.streams.items():
            fwd, back = (In, Out) if s.direction == "in" else (Out, In)
            members[f"{port}_tdata"] = fwd(s.tdata_bits)
            members[f"{port}_tvalid"] = fwd(1)
            members[f"{port}_tlast"] = fwd(1)
            members[f"{port}_tready"] = back(1)
        super().__init__(members)
        self.latency = self.core.latency
        self.ii = 1
        self.flag_depth = self.core.latency + 8

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(self.aclk), ResetSignal("sync").eq(~self.aresetn)]
        m.submodules.core = core = self.core
        st = self.streams
        # activations
        xs = st["s_axis_x"]
        xv = xs.layout(self.s_axis_x_tdata[:xs.payload_bits])
        m.d.comb += [core.x.payload.x.as_value().eq(xv.x.as_value()),
                     core.x.payload.last.eq(self.s_axis_x_tlast), core.x.valid.eq(self.s_axis_x_tvalid),
                     self.s_axis_x_tready.eq(core.x.ready)]
        if self.kind == "lut":
            m.d.comb += core.x.payload.em.eq(xv.em)
        # weights; the row-group end flags (with tlast) go into the flag FIFO
        ws = st["s_axis_w"]
        wv = ws.layout(self.s_axis_w_tdata[:ws.payload_bits])
        m.submodules.flags = flags = fifo.SyncFIFOBuffered(width=1, depth=self.flag_depth)
        ends = Signal()
        ok = Signal()
        # a full flag FIFO holds every weight beat (not only those that end a row group): s_axis_w_tready then
        # depends on no input (no tdata -> tready path)
        m.d.comb += [ends.eq(wv.row_end | self.s_axis_w_tlast), ok.eq(flags.w_rdy)]
        m.d.comb += [core.w.payload.codes.as_value().eq(wv.codes.as_value()),
                     core.w.payload.ladder.as_value().eq(wv.ladder.as_value()),
                     core.w.payload.last.eq(ends), core.w.payload.done.eq(self.s_axis_w_tlast),
                     core.w.valid.eq(self.s_axis_w_tvalid & ok), self.s_axis_w_tready.eq(core.w.ready & ok)]
        m.d.comb += [flags.w_data.eq(self.s_axis_w_tlast),
                     flags.w_en.eq(self.s_axis_w_tvalid & core.w.ready & ends)]
        # results
        m.d.comb += [self.m_axis_o_tdata.eq(core.o.payload.as_value()),
                     # low from the first cycle aresetn is low (AXI4-Stream: no TVALID during reset), not only
                     # after the synchronous reset took effect at the next edge
                     self.m_axis_o_tvalid.eq(core.o.valid & flags.r_rdy & self.aresetn),
                     self.m_axis_o_tlast.eq(flags.r_data),
                     core.o.ready.eq(self.m_axis_o_tready & flags.r_rdy),
                     flags.r_en.eq(core.o.valid & self.m_axis_o_tready)]
        return m


class DequantMacAxi(_AxiTop):
    """Weight-only GEMV with AXI4-Stream ports (see module docstring); latency as :class:`DequantMacTop`."""

    kind = "wo"
    native = DequantMacTop


class LutAxi(_AxiTop):
    """Both-quantized GEMV with AXI4-Stream ports (see module docstring); latency as :class:`LutTop`."""

    kind = "lut"
    native = LutTop
