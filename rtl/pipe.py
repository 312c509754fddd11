"""Stall-all pipeline registers of the hwq RTL: :class:`Pipe` creates registers that all advance on one
enable (``en``), so a unit stalls as a whole when its output is blocked; :class:`StallCopies` hands out
copies of the stall register so that no enable net drives too many flip-flops."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Module, Signal, Value

__all__ = ["Pipe", "StallCopies"]


class StallCopies:
    """Copies of a unit's stall register ``full`` (equal values, distinct flip-flops) handed out to a
    :class:`Pipe`, which takes a fresh copy every ``budget`` register bits: no enable net then drives more
    than about ``budget`` flip-flops, and each copy drives a run of consecutive pipeline registers, which
    nextpnr places together. The unit that owns ``full`` must drive every one of :attr:`signals` (see
    :func:`hwq.rtl.outbuf.out_buffer`'s ``full_copies``). In the 8-lane E8 MAC one copy per lane (about 3k
    flip-flops each) was a 5.4 ns route, 143.6 MHz.
    """

    def __init__(self, prefix: str, budget: int):
        if budget < 1:
            raise ValueError(f"StallCopies budget must be >= 1 register bit, got {budget}")
        self.prefix = prefix
        self.budget = budget
        self.signals: list[Signal] = []

    def enable(self) -> Value:
        """A new copy of ``full``, as the enable ``~full``."""
        s = Signal(name=f"{self.prefix}{len(self.signals)}")
        self.signals.append(s)
        return ~s


class Pipe:
    """Registers that advance together on ``en`` (a stall-all pipeline).

    Parameters
    ----------
    m : Module
        Module the registers are added to.
    en : Value or StallCopies
        Pipeline enable; registers hold their value while it is low. With a :class:`StallCopies` the
        registers take their enables from copies of the stall register, a fresh one every
        ``budget`` bits (``en`` is then the copy in use).
    prefix : str
        Name prefix of the created signals.
    """

    def __init__(self, m: Module, en, prefix: str = "p"):
        self.m = m
        self.prefix = prefix
        self._n = 0
        self._copies = en if isinstance(en, StallCopies) else None
        self._bits = 0
        self.en = self._copies.enable() if self._copies else en

    def _take(self, bits: int):
        """Account ``bits`` new register bits against the enable in use (fresh copy when over budget)."""
        c = self._copies
        if c is not None and self._bits and self._bits + bits > c.budget:
            self.en = c.enable()
            self._bits = 0
        self._bits += bits

    def reg(self, value, name: str | None = None, shape=None) -> Signal:
        """One register stage of ``value`` (reset-less data register)."""
        value = Value.cast(value)
        self._n += 1
        sig = Signal(shape if shape is not None else value.shape(),
                     name=f"{self.prefix}_{name or 'r'}_{self._n}", reset_less=True)
        self._take(len(sig))
        with self.m.If(self.en):
            self.m.d.sync += sig.eq(value)
        return sig

    def regs(self, values: Sequence, name: str = "v") -> list[Signal]:
        return [self.reg(v, f"{name}{i}") for i, v in enumerate(values)]

    def delay(self, value, n: int, name: str = "d") -> Value:
        """``value`` delayed by n stages."""
        v = Value.cast(value)
        for _ in range(n):
            v = self.reg(v, name)
        return v

    def valid_chain(self, valid_in: Value, n: int, name: str = "vld") -> list[Signal]:
        """Valid bits of n stages (with reset)."""
        out = []
        v = valid_in
        for i in range(n):
            s = Signal(name=f"{self.prefix}_{name}{i}")
            self._take(1)
            with self.m.If(self.en):
                self.m.d.sync += s.eq(v)
            out.append(s)
            v = s
        return out

