"""cocotb testbench building blocks: clock/reset, stream driver and monitor, in-order scoreboard.

Imported inside the simulator (by the cocotb test modules of :mod:`hwq.sim`); nothing here runs at
import time.

Timing discipline (works the same under Verilator and event-driven simulators): every clock cycle,
drivers update their outputs just after the rising edge, and handshakes are *sampled at the falling
edge*, when all combinational ``ready``/``valid`` paths have settled. A transfer sampled at the falling
edge of cycle c happens at the rising edge that ends cycle c. Idle gaps and backpressure come from
generators that are advanced exactly once per clock, so a run is reproducible from its seed.

Stream rules (Amaranth ``lib.stream``): a source never waits for ``ready`` before raising ``valid``, and
keeps ``valid`` and the payload stable until the transfer.
"""

from __future__ import annotations

import collections
import json
import os
import itertools
from pathlib import Path
from typing import Any, Callable, Iterator

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

__all__ = ["uint", "always", "load_job", "StreamSource", "StreamSink", "Scoreboard", "TB", "ScoreboardError"]


def uint(value: Any) -> int:
    """A simulator value as an unsigned int (fails loudly on X/Z bits)."""
    to_unsigned = getattr(value, "to_unsigned", None)
    return int(to_unsigned()) if to_unsigned is not None else int(value)


def load_job() -> dict:
    """The job of a cocotb run (config, unit, layouts, seed), from the JSON file ``HWQ_SIM_JOB`` names
    (written by :func:`hwq.sim.cocotb_run.run_cocotb`)."""
    path = os.environ.get("HWQ_SIM_JOB")
    if not path:
        raise RuntimeError("HWQ_SIM_JOB is not set: run these tests through hwq.sim.cocotb_run")
    return json.loads(Path(path).read_text())


def always() -> Iterator[bool]:
    """Always on (no gaps, no backpressure)."""
    return itertools.repeat(True)


class ScoreboardError(AssertionError):
    """A DUT output differs from the model, or arrives when none is expected."""


class Scoreboard:
    """In-order checker: expected transactions are queued by the model, actual ones compared on arrival.

    Parameters
    ----------
    name : str
        Label used in messages.
    compare : callable, optional
        ``compare(actual, expected) -> bool``; default equality.
    fmt : callable, optional
        Formats a transaction for error messages.
    """

    def __init__(self, name: str, compare: Callable[[Any, Any], bool] | None = None,
                 fmt: Callable[[Any], str] = repr) -> None:
        self.name = name
        self.expected: collections.deque = collections.deque()
        self.compare = compare or (lambda a, e: a == e)
        self.fmt = fmt
        self.checked = 0
        self.errors: list[str] = []

    def expect(self, item: Any) -> None:
        self.expected.append(item)

    def flush(self) -> None:
        """Forget pending expectations (after a reset)."""
        self.expected.clear()

    def check(self, actual: Any) -> None:
        if not self.expected:
            msg = f"{self.name}: unexpected output #{self.checked}: {self.fmt(actual)}"
            self.errors.append(msg)
            raise ScoreboardError(msg)
        exp = self.expected.popleft()
        if not self.compare(actual, exp):
            msg = (f"{self.name}: mismatch at output #{self.checked}: got {self.fmt(actual)}, "
                   f"expected {self.fmt(exp)}")
            self.errors.append(msg)
            raise ScoreboardError(msg)
        self.checked += 1

    def assert_drained(self) -> None:
        if self.expected:
            raise ScoreboardError(f"{self.name}: {len(self.expected)} expected output(s) never arrived "
                                  f"after {self.checked} matched; next expected {self.fmt(self.expected[0])}")


class StreamSource:
    """Drives ``<prefix>__valid`` / ``__payload`` and watches ``__ready``.

    Items are integers (the packed payload) queued with :meth:`send`. ``gaps`` decides each cycle
    whether a new item may be presented (idle gaps); once valid is high it stays high until taken.
    """

    def __init__(self, dut: Any, prefix: str, clk: Any, gaps: Iterator[bool] | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self.name = prefix
        self.clock = clock or (lambda: 0)
        self.cycles: list[int] = []  # cycle number of every transfer
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.gaps = gaps or always()
        self.queue: collections.deque = collections.deque()
        self.current: Any = None
        self.sent = 0
        self.enabled = True
        self.valid.value = 0
        self.payload.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, item: int) -> None:
        self.queue.append(item)

    def idle(self) -> bool:
        return self.current is None and not self.queue

    def flush(self) -> None:
        """Drop everything not yet transferred (used while the DUT is held in reset)."""
        self.queue.clear()
        self.current = None
        self.valid.value = 0

    async def _run(self) -> None:
        await RisingEdge(self.clk)
        while True:
            go = next(self.gaps)  # advanced exactly once per clock
            if self.current is None:
                if self.queue and self.enabled and go:
                    self.current = self.queue.popleft()
                    self.payload.value = self.current
                    self.valid.value = 1
                else:
                    self.valid.value = 0
            await FallingEdge(self.clk)
            if self.current is not None and uint(self.ready.value):
                self.current = None  # transfers at the coming rising edge
                self.sent += 1
                self.cycles.append(self.clock())
            await RisingEdge(self.clk)


class StreamSink:
    """Drives ``<prefix>__ready`` from a backpressure generator and reports each transfer to a callback."""

    def __init__(self, dut: Any, prefix: str, clk: Any, callback: Callable[[int], None],
                 ready_gen: Iterator[bool] | None = None, clock: Callable[[], int] | None = None) -> None:
        self.name = prefix
        self.clock = clock or (lambda: 0)
        self.cycles: list[int] = []
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.ready_gen = ready_gen or always()
        self.callback = callback
        self.received = 0
        self.enabled = True
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            await RisingEdge(self.clk)
            self.ready.value = int(next(self.ready_gen))  # advanced exactly once per clock
            await FallingEdge(self.clk)
            if self.enabled and uint(self.ready.value) and uint(self.valid.value):
                self.received += 1
                self.cycles.append(self.clock())
                self.callback(uint(self.payload.value))


class TB:
    """Clock and synchronous reset of an Amaranth top level (ports ``clk`` and ``rst``)."""

    def __init__(self, dut: Any, period_ns: int = 10) -> None:
        self.dut = dut
        self.clk = dut.clk
        self.rst = dut.rst
        self.cycle = 0
        self.rst.value = 1
        cocotb.start_soon(Clock(self.clk, period_ns, unit="ns").start())
        cocotb.start_soon(self._count())

    async def _count(self) -> None:
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1

    async def reset(self, cycles: int = 3) -> None:
        """Hold ``rst`` high for ``cycles`` rising edges, then release it (synchronously)."""
        await RisingEdge(self.clk)
        self.rst.value = 1
        await ClockCycles(self.clk, cycles)
        self.rst.value = 0

    async def cycles(self, n: int) -> None:
        await ClockCycles(self.clk, n)
