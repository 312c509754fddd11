"""The output FIFO shared by the MAC units (:class:`~hwq.rtl.mac.DequantMac`, :class:`~hwq.rtl.int4.Int4Mac`,
:class:`~hwq.rtl.lut.LutMac`): per-lane accumulators, one result per ``last`` beat, and an
:data:`OB_DEPTH`-entry output buffer whose ``full`` register (and its copies) is the units' stall enable."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Array, Cat, Elaboratable, Module, Mux, Signal, Value, signed

from .pipe import Pipe

__all__ = ["OB_DEPTH", "accumulate_out", "closing_flag", "closing_stages", "out_buffer"]


OB_DEPTH = 3
"""Entries of the MAC units' output FIFO (:func:`out_buffer`)."""


def accumulate_out(m: Module, en, valid, last, terms: list, o, acc_bits: int,
                   close: tuple[Value, Value], full_copies: Sequence[Signal] = ()) -> Signal:
    """Final stages shared by the MAC units: per-lane accumulators, one result per ``last``, and an
    :data:`OB_DEPTH`-entry output FIFO in front of ``o`` (:func:`out_buffer`).

    The caller must drive its pipeline enable (and ``i.ready``) from the returned register ``full`` as
    ``en = ~full``: the stall enable that fans out to every pipeline register is then a flip-flop output,
    not a combinational function of ``o.ready`` (that path limited the 8-lane MAC to 146.5 MHz). With
    ``o.ready`` high the pipeline never stalls (II = 1, whatever the row length); the buffer costs one
    cycle of latency.

    ``close`` is the pair of registers of :func:`closing_flag`, both equal to ``valid & last``
    (the closing beat), computed one stage earlier under ``en``: the first drives the FIFO's write
    logic, which is then fed by flip-flops with a small fan-out instead of the high-fan-out
    ``valid``/``last``/``en`` nets (the default MAC's critical path was ``full -> valid & last -> ob_we``);
    the second is the result register's load enable (``en & close``, one LUT level before its clock
    enables instead of two).

    ``full_copies`` are driven as extra copies of the returned ``full`` register (see :func:`out_buffer`).
    """
    accs = [Signal(signed(acc_bits), name=f"acc{i}") for i in range(len(terms))]
    res_valid = Signal(name="res_valid")
    res = Signal(o.payload.shape(), name="res")
    with m.If(en & valid):
        for i, (a, t) in enumerate(zip(accs, terms)):
            total = a + t
            with m.If(last):
                m.d.sync += a.eq(0)
            with m.Else():
                m.d.sync += a.eq(total)
    with m.If(en & close[1]):
        m.d.sync += [r.eq(a + t) for r, a, t in zip(res.acc, accs, terms)]
    w = acc_bits
    return out_buffer(m, o, res_valid, close[0], res, [(i * w, (i + 1) * w) for i in range(len(terms))],
                      full_copies)


def closing_flag(m: Module, en: Value, valid_prev: Value, last_prev: Value) -> tuple[Signal, Signal]:
    """Registers ``close`` = ``valid & last`` of the next pipeline stage, from that stage's inputs
    ``valid_prev``/``last_prev`` (advance on ``en``): the closing-beat flags of :func:`accumulate_out`.

    Two copies with small fan-outs: one with reset (output buffer write logic) and one reset-less
    (result register load enable; a different cell type, so Yosys does not merge the two)."""
    close = Signal(name="close")
    close_res = Signal(name="close_res", reset_less=True)
    with m.If(en):
        m.d.sync += [close.eq(valid_prev & last_prev), close_res.eq(valid_prev & last_prev)]
    return close, close_res


def closing_stages(m: Module, pipe: Pipe, en: Value, valid_in: Value, last_in: Value, st: int
                   ) -> tuple[Value, Value, tuple[Signal, Signal]]:
    """The ``valid`` and ``last`` bits of a unit's input beat delayed by its ``st`` pipeline stages, and the
    :func:`closing_flag` registers computed from their values one stage earlier: the ``valid``, ``last``
    and ``close`` arguments of :func:`accumulate_out` (shared by the MAC, INT4 and LUT units)."""
    last_prev = pipe.delay(last_in, st - 1, "last")
    last = pipe.reg(last_prev, "last")
    vld = pipe.valid_chain(valid_in, st)
    vld_prev = vld[-2] if st >= 2 else valid_in
    return vld[-1], last, closing_flag(m, en, vld_prev, last_prev)


def _fifo_ctrl(m: Module, res_valid: Value, close: Value, full: Value, ready: Value, prefix: str,
               depth: int = OB_DEPTH) -> tuple[Signal, Signal, Signal, Signal, Signal, Signal]:
    """Control of the output FIFO fed by the result register of :func:`accumulate_out`, from flip-flops
    and ``ready`` only; each copy (the main one in :func:`out_buffer` and one per :class:`_OutSlice`)
    computes the same values.

    The result register is pushed in a cycle where it is valid and the FIFO is not full; it takes a new
    result when the pipeline is enabled (``~full``) on a closing beat, so its next valid bit is
    ``vn = res_valid & ~push | ~full & close`` (a push never meets ``count == depth`` because pushes are
    decided a cycle ahead: the per-entry write enables ``we`` are registers computed from next-state
    values).

    Returns (per-entry write enables, read pointer, pop, ``vn``, count, next count).
    """
    count = Signal(range(depth + 1), name=f"{prefix}count")
    we = Signal(depth, name=f"{prefix}we")
    wp = Signal(range(depth), name=f"{prefix}wp")
    rp = Signal(range(depth), name=f"{prefix}rp")
    push, pop, vn = Signal(), Signal(), Signal()
    nxt, wp_nxt = Signal(range(depth + 1)), Signal(range(depth))
    m.d.comb += [push.eq(we.any()), pop.eq((count != 0) & ready), nxt.eq(count + push - pop),
                 wp_nxt.eq(Mux(push, Mux(wp == depth - 1, 0, wp + 1), wp)),
                 vn.eq((res_valid & ~push) | (~full & close))]
    m.d.sync += [count.eq(nxt), wp.eq(wp_nxt),
                 we.eq(Cat(vn & (nxt != depth) & (wp_nxt == k) for k in range(depth)))]
    with m.If(pop):
        m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
    return we, rp, pop, vn, count, nxt


class _RegCopy(Elaboratable):
    """A register (``q`` follows ``d`` one cycle later, reset 0) in a module of its own: Yosys
    (``-noflatten``) does not merge copies across modules, so each can drive a local fan-out."""

    def __init__(self):
        self.d = Signal()
        self.q = Signal()

    def elaborate(self, platform) -> Module:
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


class _OutSlice(Elaboratable):
    """One slice (a lane's accumulators) of :func:`out_buffer`: its entries and its own copy of the FIFO
    control and of ``full``, fed only by registers (``res_valid``, ``close``, ``hold``) and ``ready``. A
    submodule so that Yosys (``-noflatten``) keeps the copies apart and nextpnr places each next to its
    lane: one read pointer for all lanes spanned the 8-lane E8 MAC (``ob_rp`` -> payload multiplexer, a
    6.5 ns route: 123.5 MHz), and one set of enables fanned out to per-lane enable registers measured
    139.2 MHz in the default MAC."""

    def __init__(self, width: int):
        self.data = Signal(width)
        self.out = Signal(width)
        self.res_valid = Signal()
        self.close = Signal()
        self.hold = Signal()
        self.ready = Signal()

    def elaborate(self, platform) -> Module:
        m = Module()
        full = Signal(name="full")
        m.d.sync += full.eq(self.hold)
        we, rp, *_ = _fifo_ctrl(m, self.res_valid, self.close, full, self.ready, "")
        mem = [Signal(len(self.data), name=f"e{k}") for k in range(OB_DEPTH)]
        for k in range(OB_DEPTH):
            with m.If(we[k]):
                m.d.sync += mem[k].eq(self.data)
        m.d.comb += self.out.eq(Array(mem)[rp])
        return m


def out_buffer(m: Module, o, res_valid: Signal, close: Value, data: Value,
               slices: list[tuple[int, int]] | None = None, full_copies: Sequence[Signal] = ()) -> Signal:
    """:data:`OB_DEPTH`-entry output FIFO on stream ``o``, fed by a result register ``data`` whose valid
    bit ``res_valid`` (a Signal driven here) rises after a closing beat (``close``, a register) taken
    under ``en = ~full``. Returns the register ``full``; the producer must hold ``data`` while it is high.

    ``full`` is conservative and independent of ``o.ready``: ``full(t+1) = count(t) + push(t) >= depth``
    (as if nothing were popped), registered a cycle ahead as ``hold``, so ``full`` and each of its copies
    are plain flip-flops fed by one flip-flop. A ``full`` that looked at ``o.ready`` put that input (a
    fan-out of every copy) on the critical path of the 8-lane E8 MAC: 106 to 131.7 MHz. If ``full`` is
    low then ``count(t+1) <= depth - 1``, so a result never waits while the pipeline runs; with ``o.ready``
    high the FIFO holds at most two entries, so with three ``full`` never rises (II = 1 even for one-beat
    rows).

    Per-entry write enables are registers computed a cycle ahead (a LUT-computed enable with a 344-bit
    fan-out measured 140.1 MHz); ``o.ready`` only moves the read pointers and the counts; ``o.payload`` is
    a multiplexer on a read pointer. The entries and a copy of the control are split into ``slices``
    (bit ranges of ``data``, e.g. one per lane; default one), each an :class:`_OutSlice`; this module's
    own copy drives ``o.valid``, ``res_valid`` and ``full``. Each of ``full_copies`` becomes a register
    equal to ``full`` in a submodule of its own (:class:`_RegCopy`), so that a pipeline can give each lane
    (and each run of ``budget`` registers, :class:`~hwq.rtl.pipe.StallCopies`) its own stall enable."""
    data = Value.cast(data)
    width = data.shape().width
    full = Signal(name="ob_full")
    hold = Signal(name="ob_hold")
    _, _, _, vn, count, nxt = _fifo_ctrl(m, res_valid, close, full, o.ready, "ob_")
    m.d.comb += o.valid.eq(count != 0)
    m.d.sync += [res_valid.eq(vn), full.eq(hold),
                 hold.eq(nxt + (vn & (nxt != OB_DEPTH)) >= OB_DEPTH)]
    for i, cp in enumerate(full_copies):
        rc = m.submodules[f"full{i}"] = _RegCopy()
        m.d.comb += [rc.d.eq(hold), cp.eq(rc.q)]
    payload = o.payload.as_value()
    for i, (lo, hi) in enumerate(slices or [(0, width)]):
        sl = _OutSlice(hi - lo)
        m.submodules[f"ob{i}"] = sl
        m.d.comb += [sl.data.eq(data[lo:hi]), sl.res_valid.eq(res_valid), sl.close.eq(close),
                     sl.hold.eq(hold), sl.ready.eq(o.ready), payload[lo:hi].eq(sl.out)]
    return full
