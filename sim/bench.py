"""cocotb tests of every RTL unit (runs inside the simulator; started by :mod:`hwq.sim.cocotb_run`).

The job (config, unit, payload layouts, seed, scale) comes as a JSON file named by ``HWQ_SIM_JOB``; each test
appends one JSON line of statistics to the job's ``stats`` file. The seed is printed at the start of every
test and replays the run exactly (stimulus, idle gaps and backpressure all derive from it).

Tests (each drives every input stream with a :class:`~hwq.sim.tb.StreamSource`, collects every output
stream with a :class:`~hwq.sim.tb.StreamSink` and checks it in order against the reference model in a
:class:`~hwq.sim.tb.Scoreboard`):

* ``traffic``      random idle gaps on the inputs and random backpressure on the outputs;
* ``full_rate``    no gaps, no backpressure: checks the initiation interval, the latency of single-beat
                   units and the analytic cycle model (``hwq.rtl.cycles``) for GEMVs;
* ``reset_midstream``  reset asserted while beats are in flight; the unit must then process every later
                   transaction exactly (nothing accepted after the reset is lost, nothing stale comes out);
* ``extremes``     the longest dot products the accumulator is sized for, with the largest codes, the longest
                   ladder index and the most negative/positive activations.
"""

from __future__ import annotations

import json
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from hwq.config import HwqConfig
from hwq.sim.payload import Layout, pack, unpack
from hwq.sim.tb import TB, Scoreboard, StreamSink, StreamSource, always, load_job
from hwq.stimulus import UNITS, Vectors, bernoulli, make_vectors

#: vector sizes per scale: kwargs of the hwq.stimulus generators
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "short": {"dec": {"n": 96}, "mac": {"n_tx": 10, "max_len": 8}, "lut": {"n_tx": 10, "max_len": 8},
              "int4": {"n_tx": 10, "max_len": 8}, "had": {"n_vec": 4, "max_segments": 3},
              "enc": {"n_vec": 3}, "top": {"n_vec": 3}},
    "full": {"dec": {"n": 1024}, "mac": {"n_tx": 64, "max_len": 24}, "lut": {"n_tx": 64, "max_len": 24},
             "int4": {"n_tx": 64, "max_len": 24}, "had": {"n_vec": 16, "max_segments": 6},
             "enc": {"n_vec": 12}, "top": {"n_vec": 8}},
}


class UnitBench:
    """TB + sources + sinks + scoreboards of one unit, fed from :class:`~hwq.stimulus.Vectors`."""

    def __init__(self, dut: Any, job: dict, rng: random.Random, p_valid: float, p_ready: float) -> None:
        self.job = job
        self.cfg = HwqConfig.from_dict(job["config"])
        self.unit = job["unit"]
        self.layouts = {p: Layout(v["fields"], v.get("width")) for p, v in job["layouts"].items()}
        self.tb = TB(dut)
        ins, outs = UNITS[self.unit]
        clock = lambda: self.tb.cycle  # noqa: E731
        self.sources = {p: StreamSource(dut, p, dut.clk, bernoulli(random.Random(rng.random()), p_valid)
                                        if p_valid < 1 else always(), clock) for p in ins}
        self.boards: dict[str, Scoreboard] = {}
        self.sinks: dict[str, StreamSink] = {}
        for p in outs:
            lay = self.layouts[p]
            board = Scoreboard(f"{self.unit}.{p}", fmt=lambda w, lay=lay: str(unpack(lay, w)))
            self.boards[p] = board
            ready = bernoulli(random.Random(rng.random()), p_ready) if p_ready < 1 else always()
            self.sinks[p] = StreamSink(dut, p, dut.clk, board.check, ready, clock)
        self.masks = {}
        self.loaded: list[Vectors] = []

    def _mask(self, port: str, fields: dict) -> int:
        lay = self.layouts[port]
        full = {n: [-1 if lay[n].signed else (1 << lay[n].width) - 1] * lay[n].count for n in fields}
        return pack(lay, {n: (v if lay[n].count > 1 else v[0]) for n, v in full.items()}) if fields else 0

    def load(self, vec: Vectors, corrupt: bool = False) -> None:
        """Queue every input beat and every expected output beat (``corrupt`` flips one expected bit)."""
        self.loaded.append(vec)
        for port, fields in vec.beats.items():
            lay = self.layouts[port]
            n = vec.n_beats(port)
            names = list(fields)
            words = [pack(lay,
                          {k: (fields[k][i] if lay[k].count > 1 else int(fields[k][i, 0])) for k in names})
                     for i in range(n)]
            if port in self.sources:
                for w in words:
                    self.sources[port].send(w)
            else:
                mask = self._mask(port, fields)
                self.boards[port].compare = lambda a, e, mask=mask: (a & mask) == e
                if corrupt and words:
                    first = next(f.offset for f in lay.fields.values() if f.name in names)
                    words[len(words) // 2] ^= 1 << first
                for w in words:
                    self.boards[port].expect(w)

    async def start(self) -> None:
        """Reset, then let traffic flow (sources and sinks stay disabled while ``rst`` is high)."""
        for s in self.sources.values():
            s.enabled = False
        for k in self.sinks.values():
            k.enabled = False
        await self.tb.reset(4)
        await FallingEdge(self.tb.clk)
        for s in self.sources.values():
            s.enabled = True
        for k in self.sinks.values():
            k.enabled = True

    async def drain(self, budget: int) -> None:
        """Wait until every source is idle and every expected output arrived (fails after ``budget``
        cycles)."""
        for _ in range(budget):
            await RisingEdge(self.tb.clk)
            if all(s.idle() for s in self.sources.values()) \
                    and all(not b.expected for b in self.boards.values()):
                await ClockCycles(self.tb.clk, 8)  # nothing extra may follow
                for b in self.boards.values():
                    b.assert_drained()
                return
        pending = {p: len(b.expected) for p, b in self.boards.items()}
        queued = {p: len(s.queue) + (s.current is not None) for p, s in self.sources.items()}
        raise AssertionError(f"timeout after {budget} cycles: outputs pending {pending}, inputs queued "
                             f"{queued}")

    async def reset_now(self, cycles: int = 3) -> None:
        """Assert reset mid-stream: drop untransferred inputs and pending expectations."""
        for s in self.sources.values():
            s.enabled = False
            s.flush()
        for k in self.sinks.values():
            k.enabled = False
        await self.tb.reset(cycles)
        await FallingEdge(self.tb.clk)
        for b in self.boards.values():
            b.flush()
        for s in self.sources.values():
            s.flush()
            s.enabled = True
        for k in self.sinks.values():
            k.enabled = True

    def stats(self, name: str, **extra: Any) -> dict:
        checked = sum(b.checked for b in self.boards.values())
        ops = sum(v.ops for v in self.loaded)
        rec = {"test": name, "unit": self.unit, "slug": self.cfg.slug, "seed": self.job["seed"],
               "outputs_checked": checked, "block_ops": ops, "cycles": self.tb.cycle, **extra}
        path = self.job.get("stats")
        if path:
            with open(path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        return rec


def _vectors(job: dict, cfg: HwqConfig, seed: int, **over: Any) -> Vectors:
    kwargs = dict(SIZES[job.get("scale", "short")][job["unit"]])
    kwargs.update(over)
    return make_vectors(job["unit"], cfg, seed, **kwargs)


def _budget(vec: Vectors, slack: float = 12.0) -> int:
    """Cycle budget before a drain times out (the top level also spends about K cycles per vector loading)."""
    load = 2 * int(vec.meta.get("K", 0)) * vec.n_tx if vec.unit == "top" else 0
    return int(sum(vec.n_beats(p) for p in vec.tx) * slack) + load + 2000


def _setup(dut: Any, name: str, p_valid: float, p_ready: float) -> tuple[UnitBench, int]:
    job = load_job()
    seed = int(job["seed"])
    dut._log.info("hwq %s.%s seed=%d config=%s (replay: same seed and config)", job["unit"], name, seed,
                  job["config"].get("lattice"))
    rng = random.Random(f"{seed}:{name}")
    return UnitBench(dut, job, rng, p_valid, p_ready), seed


@cocotb.test()
async def traffic(dut: Any) -> None:
    """Random idle gaps (inputs valid 70%) and backpressure (outputs ready 60%)."""
    bench, seed = _setup(dut, "traffic", 0.7, 0.6)
    vec = _vectors(bench.job, bench.cfg, seed)
    bench.load(vec, corrupt=bool(bench.job.get("corrupt_expected")))
    await bench.start()
    await bench.drain(_budget(vec))
    bench.stats("traffic", transactions=vec.n_tx)


@cocotb.test()
async def full_rate(dut: Any) -> None:
    """No gaps, no backpressure: initiation interval, single-beat latency and the GEMV cycle model."""
    bench, seed = _setup(dut, "full_rate", 1.0, 1.0)
    job, cfg, unit = bench.job, bench.cfg, bench.unit
    expect = job.get("cycle_model", {})
    if unit == "top":  # two GEMVs, each isolated (the next is offered after the previous one finished)
        vecs = [make_vectors("top", cfg, seed + 1 + i, n_vec=1, m=expect.get("M"), k=expect.get("K"))
                for i in range(2)]
    elif unit in ("mac", "lut", "int4"):
        # one GEMV: `groups` transactions of nb beats each
        groups, nb = expect.get("groups", 2), expect.get("nb", 8)
        vecs = [make_vectors(unit, cfg, seed + 1, n_tx=groups, fixed_len=nb)]
    else:
        vecs = [_vectors(job, cfg, seed + 1)]
    await bench.start()
    for v in vecs:
        bench.load(v)
        await bench.drain(_budget(v))
    vec = vecs[0]
    src, snk = next(iter(bench.sources.values())), next(iter(bench.sinks.values()))
    measured: dict[str, Any] = {}
    ii = int(job.get("ii", 1))
    if unit != "top":
        gaps = np.diff(np.asarray(src.cycles))
        # a unit with II = ii accepts one beat every ii cycles when nothing blocks it
        assert gaps.size == 0 or int(gaps.max()) == ii, \
            f"input beats spaced {sorted(set(gaps.tolist()))}, II {ii}"
        measured["ii"] = int(gaps.max()) if gaps.size else ii
    if unit in ("dec", "enc", "had") and ii == 1:
        lat = np.asarray(snk.cycles) - np.asarray(src.cycles)
        assert np.all(lat == lat[0]), f"latency varies: {sorted(set(lat.tolist()))}"
        measured["latency"] = int(lat[0])
        if "latency" in job:
            assert measured["latency"] == job["latency"], \
                f"latency {measured['latency']} cycles, manifest says {job['latency']}"
    if unit == "top" or (unit in ("mac", "lut", "int4") and "cycles" in expect):
        spans = []
        if unit == "top":
            xs, ws = bench.sources["x"].cycles, bench.sources["w"].cycles
            nx, nw, no = vec.n_beats("x"), vec.n_beats("w"), vec.n_beats("o")
            for i in range(len(vecs)):
                first = min(xs[i * nx], ws[i * nw])
                spans.append(snk.cycles[(i + 1) * no - 1] - first + 1)  # inclusive, as hwq.rtl.cycles
        else:
            spans.append(snk.cycles[vec.n_beats("o") - 1] - src.cycles[0] + 1)
        measured["gemv_cycles"] = spans
        if "cycles" in expect:
            measured["model_cycles"] = expect["cycles"]
        # the top level's model is checked by the bulk harness (hwq.sim.bulk); here the MAC units
        if unit != "top":
            for s in spans:
                assert abs(s - expect["cycles"]) <= 2, \
                    f"GEMV took {s} cycles, the analytic model says {expect['cycles']} (tolerance 2)"
    bench.stats("full_rate", transactions=vec.n_tx, **measured)


@cocotb.test()
async def reset_midstream(dut: Any) -> None:
    """Reset while beats are in flight, then every later transaction must come out exactly."""
    bench, seed = _setup(dut, "reset_midstream", 0.8, 0.7)
    first = _vectors(bench.job, bench.cfg, seed + 2)
    bench.load(first)
    await bench.start()
    rng = random.Random(seed)
    # let the stream run until at least one output was checked, then a random number of cycles more, and
    # reset while later beats are still queued or in flight
    for _ in range(_budget(first, 1.0)):
        await RisingEdge(bench.tb.clk)
        if sum(b.checked for b in bench.boards.values()):
            break
    await ClockCycles(bench.tb.clk, rng.randint(1, 16))
    before = sum(b.checked for b in bench.boards.values())
    pending_in = sum(len(s.queue) + (s.current is not None) for s in bench.sources.values())
    pending_out = sum(len(b.expected) for b in bench.boards.values())
    assert before > 0 and pending_in + pending_out > 0, \
        (f"reset must come mid-stream: {before} outputs checked, {pending_in} inputs and {pending_out} "
         "outputs pending")
    await bench.reset_now(rng.randint(1, 4))
    second = _vectors(bench.job, bench.cfg, seed + 3)
    bench.load(second)
    after0 = sum(b.checked for b in bench.boards.values())
    await bench.drain(_budget(second))
    got = sum(b.checked for b in bench.boards.values()) - after0
    want = second.n_beats("o")
    assert got == want, f"after reset {got} outputs matched, expected {want}"
    bench.stats("reset_midstream", checked_before_reset=before, checked_after_reset=got,
                inputs_pending_at_reset=pending_in, outputs_pending_at_reset=pending_out)


@cocotb.test()
async def extremes(dut: Any) -> None:
    """Longest dot products with extreme codes, ladder and activations (widest accumulator)."""
    bench, seed = _setup(dut, "extremes", 0.9, 0.9)
    unit, cfg = bench.unit, bench.cfg
    if unit in ("mac", "lut", "int4"):
        vec = make_vectors(unit, cfg, seed + 4, n_tx=3, max_len=4, long_tx=True)
    elif unit == "top":
        step = cfg.k_step
        vec = make_vectors("top", cfg, seed + 4, n_vec=2, m=cfg.lanes, k=cfg.max_k // step * step)
    else:
        vec = _vectors(bench.job, cfg, seed + 4)
    bench.load(vec)
    await bench.start()
    await bench.drain(_budget(vec, 3.0))
    bench.stats("extremes", transactions=vec.n_tx)
