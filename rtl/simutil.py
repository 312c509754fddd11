"""Payload packing and a small ``amaranth.sim`` stream driver for unit tests and quick checks.

Payloads travel as Python ints packed exactly like the Verilog ``*__payload`` ports (see README) by the one
packer of :mod:`hwq.sim.payload` that the cocotb/Verilator benches use (values are checked, never masked).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from amaranth.lib import data
from amaranth.sim import Simulator
from hwq.sim import payload
from hwq.sim.payload import Layout

from .layout import layout_fields

__all__ = ["pack", "payload_layout", "run_stream", "run_streams", "unpack"]


def payload_layout(layout) -> Layout:
    """The :class:`hwq.sim.payload.Layout` of an Amaranth payload layout (the manifest's field list)."""
    return Layout(layout_fields(layout), data.Layout.cast(layout).size)


def pack(layout, values: dict) -> int:
    """Pack ``{field: int or list of int}`` into an int with the layout's offsets (two's complement):
    :func:`hwq.sim.payload.pack`, which refuses a value that does not fit its field (HwqError)."""
    return payload.pack(payload_layout(layout), values)


def unpack(layout, word: int) -> dict:
    """Inverse of :func:`pack` (:func:`hwq.sim.payload.unpack`): arrays become lists, signed fields are
    sign-extended."""
    return payload.unpack(payload_layout(layout), word)


def run_stream(dut, beats: Sequence[int], n_out: int, *, in_port: str = "i", out_port: str = "o",
               ready: Iterable[int] | None = None, valid: Iterable[int] | None = None,
               max_cycles: int = 100000, watch=None) -> tuple[list[int], list[int]]:
    """Drive packed input beats into ``dut.<in_port>`` and collect ``n_out`` output payloads.

    Parameters
    ----------
    ready, valid : iterables of 0/1, optional
        Per-cycle output ``ready`` and input ``valid`` patterns (cycled); all ones by default.

    Returns
    -------
    (outputs, out_cycles) : payload ints and the cycle index of each output transfer.
    """
    return run_streams(dut, {in_port: beats}, n_out, out_port=out_port, ready=ready, valid=valid,
                       max_cycles=max_cycles, watch=watch)


def run_streams(dut, inputs: dict[str, Sequence[int]], n_out: int, *, out_port: str = "o",
                ready: Iterable[int] | None = None, valid: Iterable[int] | None = None,
                max_cycles: int = 100000, watch=None) -> tuple[list[int], list[int]]:
    """Like :func:`run_stream` with several input streams driven independently (each offers its next beat
    whenever its ``valid`` pattern allows, whatever the other streams do), e.g. the ``x`` and ``w`` streams
    of the top levels. ``watch(ctx)``, if given, is called every cycle once the inputs have settled (for
    checks of internal signals)."""
    import itertools

    ready_pat = list(ready) if ready is not None else [1]
    valid_pat = list(valid) if valid is not None else [1]
    out: list[int] = []
    cyc: list[int] = []
    snk = getattr(dut, out_port)
    srcs = {name: getattr(dut, name) for name in inputs}

    async def bench(ctx):
        idx = dict.fromkeys(inputs, 0)
        rdy = itertools.cycle(ready_pat)
        vlds = {name: itertools.cycle(valid_pat) for name in inputs}
        for cycle in range(max_cycles):
            if len(out) >= n_out and all(idx[n] >= len(b) for n, b in inputs.items()):
                return
            offer = {}
            for name, beats in inputs.items():
                v = idx[name] < len(beats) and next(vlds[name])
                offer[name] = v
                ctx.set(srcs[name].valid, int(bool(v)))
                if v:
                    ctx.set(srcs[name].payload.as_value(), beats[idx[name]])
            ctx.set(snk.ready, next(rdy))
            await ctx.delay(1e-9)  # settle combinational ready paths
            if watch is not None:
                watch(ctx)
            for name in inputs:
                if offer[name] and ctx.get(srcs[name].ready):
                    idx[name] += 1
            if ctx.get(snk.valid) and ctx.get(snk.ready):
                out.append(ctx.get(snk.payload.as_value()))
                cyc.append(cycle)
            await ctx.tick()
        raise TimeoutError(f"stream test did not finish in {max_cycles} cycles ({len(out)}/{n_out} outputs, "
                           f"inputs sent {idx})")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out, cyc
